// moe.exchange: per_copy sends one copy per (token, expert); per_rank one per (token, destination
// EP rank), as DeepEP's normal kernels do inside a node; hierarchical one per (token, node) across
// nodes, forwarded over NVLink. Same routing in every case, fewer bytes with per_rank whenever a
// rank hosts more than one expert, fewer scale-out bytes with hierarchical.
#include <algorithm>
#include <catch2/catch.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/routing_sampler.hpp"
#include "sim/run/simulate.hpp"

using namespace moesim;

namespace {

sim::run::scenario_set deepseek(const std::string& exchange, int nodes = 2,
                                std::vector<std::string> overrides = {}) {
  io::load_options opt;
  opt.overrides = std::move(overrides);
  return io::load_scenario_text(R"(
name: t
seed: 5
model: {preset: )" + std::string(nodes == 1 ? "qwen3-30b-a3b" : "deepseek-v3") +
                                    R"(, layers: 5}
cluster: {preset: dgx-h800, nodes: )" +
                                    std::to_string(nodes) + R"(}
parallelism: {ep: )" + std::to_string(8 * nodes) +
                                    R"(}
moe: {exchange: )" + exchange + R"(}
sampling: {tokens_per_step: 256, math_hidden: 32}
workload: {kind: prefill, batch_per_device: 1, context: 512, steps: 1}
)",
                                "test.yaml", opt);
}

sim::run::run_result run_exchange(const std::string& exchange, int nodes = 2,
                                  std::vector<std::string> overrides = {}) {
  sim::trace_recorder trace(false);
  return sim::run::simulate(deepseek(exchange, nodes, std::move(overrides)).base, trace);
}

double part(const sim::run::run_result& r, const std::string& name) {
  for (const auto& [k, v] : r.breakdown_s) {
    if (k == name) return v;
  }
  return 0;
}

}  // namespace

TEST_CASE("per_rank counts each token once per EP rank its experts live on") {
  const auto copy_set = deepseek("per_copy");
  const auto rank_set = deepseek("per_rank");
  sim::run::routing_sampler by_copy(copy_set.base, 16, 512, 1);
  sim::run::routing_sampler by_rank(rank_set.base, 16, 512, 1);
  const auto a = by_copy.route(0, 0, 3);
  const auto b = by_rank.route(0, 0, 3);
  CHECK(a.rank_tokens.empty());
  CHECK(a.copies == b.copies);  // the same routing; only the exchange's count differs
  REQUIRE(b.rank_tokens.size() == std::size_t{16} * 16);
  constexpr int per_rank = 256 / 16;
  for (int src = 0; src < 16; ++src) {
    std::int64_t tokens_to_ranks = 0;
    for (int r = 0; r < 16; ++r) {
      std::int64_t copies = 0;
      for (int e = r * per_rank; e < (r + 1) * per_rank; ++e) {
        copies += b.copies[static_cast<std::size_t>(src) * 256 + e];
      }
      const std::int64_t unique = b.rank_tokens[static_cast<std::size_t>(src) * 16 + r];
      // A token sends a rank one copy per expert it picked there: between 1 and top-8 of them.
      CHECK(unique <= copies);
      CHECK(unique * 8 >= copies);
      CHECK((unique == 0) == (copies == 0));
      tokens_to_ranks += unique;
    }
    // Each of the source's 512 tokens reaches at least one rank and at most eight.
    CHECK(tokens_to_ranks >= 512);
    CHECK(tokens_to_ranks <= std::int64_t{8} * 512);
  }
}

TEST_CASE("per_rank moves fewer exchange bytes and shortens the step") {
  const auto copy = run_exchange("per_copy");
  const auto rank = run_exchange("per_rank");
  INFO("dispatch bytes per step: per_copy " << copy.dispatch_bytes_per_step << ", per_rank "
                                            << rank.dispatch_bytes_per_step);
  // DeepSeek-V3 top-8 of 256 over 16 ranks: about 5.3 distinct ranks per token, not 8.
  CHECK(rank.dispatch_bytes_per_step < 0.8 * copy.dispatch_bytes_per_step);
  CHECK(rank.dispatch_bytes_per_step > 0.5 * copy.dispatch_bytes_per_step);
  CHECK(rank.step_time_s < copy.step_time_s);
}

TEST_CASE("hierarchical counts each token once per node it needs") {
  const auto set = deepseek("hierarchical");
  std::vector<int> node(16, 0);
  for (int r = 8; r < 16; ++r) node[static_cast<std::size_t>(r)] = 1;
  sim::run::routing_sampler sampler(set.base, 16, 512, 1, node);
  const auto lr = sampler.route(0, 0, 3);
  REQUIRE(lr.node_tokens.size() == std::size_t{16} * 2);
  for (int src = 0; src < 16; ++src) {
    for (int n = 0; n < 2; ++n) {
      std::int64_t sum = 0;
      std::int64_t most = 0;
      for (int r = 8 * n; r < 8 * n + 8; ++r) {
        const std::int64_t v = lr.rank_tokens[static_cast<std::size_t>(src) * 16 + r];
        sum += v;
        most = std::max(most, v);
      }
      const std::int64_t once = lr.node_tokens[static_cast<std::size_t>(src) * 2 + n];
      CHECK(once <= sum);   // a token needing several ranks there crosses once
      CHECK(once >= most);  // every token needing one of its ranks crosses
      CHECK(once <= 512);
    }
  }
}

TEST_CASE("hierarchical equals per_rank inside one node and saves scale-out time across nodes") {
  const auto one_rank = run_exchange("per_rank", 1);
  const auto one_hier = run_exchange("hierarchical", 1);
  CHECK(one_hier.step_time_s == one_rank.step_time_s);
  CHECK(one_hier.dispatch_bytes_per_step == one_rank.dispatch_bytes_per_step);
  const auto rank = run_exchange("per_rank");
  const auto hier = run_exchange("hierarchical");
  auto exchange_s = [](const sim::run::run_result& r) {
    double t = 0;
    for (const auto& [name, v] : r.breakdown_s) {
      if (name == "dispatch" || name == "combine") t += v;
    }
    return t;
  };
  INFO("dispatch + combine: per_rank " << exchange_s(rank) << " s, hierarchical "
                                       << exchange_s(hier) << " s");
  CHECK(exchange_s(hier) < exchange_s(rank));
}

TEST_CASE("hierarchical needs NVSwitch nodes holding an EP group alike") {
  CHECK_THROWS_WITH(io::load_scenario_text(R"(
name: t
model: {preset: qwen3-30b-a3b}
cluster: {preset: tpu-v5p, shape: 4x4x4}
parallelism: {ep: 16, dp: 4}
moe: {exchange: hierarchical}
workload: {kind: decode}
)",
                                           "test.yaml"),
                    Catch::Contains("it needs a GPU cluster of NVSwitch nodes"));
}

TEST_CASE("DeepEP-style exchanges run NVLink at the chip's ep_link_efficiency") {
  // One H800 node: every leg is NVLink. h800 efficiency.link 0.8, ep_link_efficiency 0.713: a
  // per_rank exchange takes 0.8 / 0.713 as long as at NCCL's efficiency; per_copy is NCCL's.
  const auto deepep = run_exchange("per_rank", 1);
  const auto nccl_rate = run_exchange("per_rank", 1, {"chip.collective.ep_link_efficiency=0.8"});
  CHECK(part(deepep, "dispatch") / part(nccl_rate, "dispatch") ==
        Approx(0.8 / 0.713).epsilon(0.02));
  const auto copy = run_exchange("per_copy", 1);
  const auto copy_override =
      run_exchange("per_copy", 1, {"chip.collective.ep_link_efficiency=0.5"});
  CHECK(part(copy, "dispatch") == part(copy_override, "dispatch"));
}
