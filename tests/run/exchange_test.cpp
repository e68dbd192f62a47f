// moe.exchange: per_copy sends one copy per (token, expert); per_rank one per (token, destination
// EP rank), as DeepEP's normal kernels do. Same routing either way, fewer bytes with per_rank
// whenever a rank hosts more than one expert.
#include <catch2/catch.hpp>
#include <numeric>
#include <string>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/routing_sampler.hpp"
#include "sim/run/simulate.hpp"

using namespace moesim;

namespace {

sim::run::scenario_set deepseek(const std::string& exchange) {
  return io::load_scenario_text(R"(
name: t
seed: 5
model: {preset: deepseek-v3, layers: 5}
cluster: {preset: dgx-h800, nodes: 2}
parallelism: {ep: 16}
moe: {exchange: )" + exchange + R"(}
sampling: {tokens_per_step: 256, math_hidden: 32}
workload: {kind: prefill, batch_per_device: 1, context: 512, steps: 1}
)",
                                "test.yaml");
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
  REQUIRE(b.rank_tokens.size() == 16U * 16U);
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
    CHECK(tokens_to_ranks <= 8 * 512);
  }
}

TEST_CASE("per_rank moves fewer exchange bytes and shortens the step") {
  sim::trace_recorder t1(false);
  sim::trace_recorder t2(false);
  const auto copy = sim::run::simulate(deepseek("per_copy").base, t1);
  const auto rank = sim::run::simulate(deepseek("per_rank").base, t2);
  INFO("dispatch bytes per step: per_copy " << copy.dispatch_bytes_per_step << ", per_rank "
                                            << rank.dispatch_bytes_per_step);
  // DeepSeek-V3 top-8 of 256 over 16 ranks: about 5.3 distinct ranks per token, not 8.
  CHECK(rank.dispatch_bytes_per_step < 0.8 * copy.dispatch_bytes_per_step);
  CHECK(rank.dispatch_bytes_per_step > 0.5 * copy.dispatch_bytes_per_step);
  CHECK(rank.step_time_s < copy.step_time_s);
}
