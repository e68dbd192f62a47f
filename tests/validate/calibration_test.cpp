// The validation table (sim/validate/calibration.hpp): what each row carries, the unique-experts
// rows' sampling, the baseline guard's rules (sim/validate/accuracy_check.hpp), and the network
// benchmarks the rows reuse.
#include "sim/validate/calibration.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "models/routing_stats.hpp"
#include "sim/io/error.hpp"
#include "sim/validate/accuracy_check.hpp"
#include "sim/validate/net_bench.hpp"

using namespace moesim;

TEST_CASE("validation rows: citable ids, real sources, a command that reproduces each") {
  // Rows are checked against the published figures by the ctest `accuracy` label
  // (moesim accuracy --baseline tests/accuracy/baseline.json); here, what each row must carry.
  const auto& rows = validate::calibration_rows();
  std::set<std::string> ids;
  for (const auto& row : rows) {
    INFO(row.id);
    CHECK(ids.insert(row.id).second);
    CHECK(row.id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos);
    CHECK_FALSE(row.title.empty());
    CHECK_FALSE(row.source.empty());
    CHECK_FALSE(row.scenario.empty());
    CHECK_FALSE(row.unit.empty());
    CHECK(row.measured != 0);
    CHECK(row.tolerance >= 0);
    // Sources name what users can read: a repository (owner/name) and its file or issue, or the
    // exact formula a row checks.
    CHECK((row.source.find('/') != std::string::npos || row.source.rfind("exact:", 0) == 0));
  }
  for (const char* id :
       {"nccl-h100-ring-allreduce", "nccl-h100-nvls-allreduce", "nccl-h100-alltoall",
        "nccl-internode-ring-per-nic", "nccl-2node-alltoall", "nccl-a100-allreduce",
        "nccl-2x8-a100-allreduce", "deepep-intranode-ep8-dispatch", "deepep-intranode-ep8-combine",
        "unique-experts-uniform", "megatron-mixtral-8x7b-tflops"}) {
    CHECK(ids.contains(id));
  }
}

TEST_CASE("unique experts: the router's uniform routing against E(1 - (1 - k/E)^T)") {
  // The examples of the occupancy formula: DeepSeek-V3 (256, 8) T=4 -> 30.5, T=16 -> 102.0;
  // Mixtral (8, 2) T=4 -> 5.5.
  CHECK(models::expected_unique_experts(256, 8, 4) == Approx(30.53).epsilon(1e-3));
  CHECK(models::expected_unique_experts(256, 8, 16) == Approx(102.0).epsilon(1e-3));
  CHECK(models::expected_unique_experts(8, 2, 4) == Approx(5.469).epsilon(1e-3));
  // The rows' 2% tolerance must be many standard errors of the 4096-batch mean, so a pass is
  // not luck and a biased selection would fail.
  for (const auto& [model, tokens] : std::vector<std::pair<std::string, int>>{
           {"deepseek-v3", 16}, {"deepseek-v3", 4}, {"mixtral-8x7b", 4}}) {
    const auto counts = validate::unique_experts_samples(model, tokens, 4096);
    double sum = 0;
    double sq = 0;
    for (const int c : counts) {
      sum += c;
      sq += static_cast<double>(c) * c;
    }
    const double n = static_cast<double>(counts.size());
    const double mean = sum / n;
    const double standard_error = std::sqrt((sq / n - mean * mean) / (n - 1));
    INFO(model << " T=" << tokens << ": mean " << mean << ", standard error " << standard_error);
    CHECK(standard_error < 0.02 * mean / 5);
    const auto& cfg_row = [&]() -> const validate::calibration_row& {
      for (const auto& r : validate::calibration_rows()) {
        if (r.scenario.find("--model " + model + " --tokens " + std::to_string(tokens) + " ") !=
            std::string::npos) {
          return r;
        }
      }
      throw std::logic_error("no unique-experts row for " + model);
    }();
    CHECK(cfg_row.sets_factor.empty());
    CHECK(mean == Approx(cfg_row.measured).epsilon(0.02));
  }
}

namespace {

io::json row_json(const std::string& id, double simulated, bool pass, const std::string& gap = "") {
  const double measured = 100;
  const std::string status = pass ? "pass" : (gap.empty() ? "FAIL" : "known gap");
  return {{"case", id},           {"title", id},
          {"source", "s"},        {"scenario", "c"},
          {"measured", measured}, {"simulated", simulated},
          {"unit", "GB/s"},       {"error", (simulated - measured) / measured},
          {"tolerance", 0.1},     {"pass", pass},
          {"status", status},     {"sets_factor", ""},
          {"note", ""},           {"gap", gap}};
}

io::json doc(std::initializer_list<io::json> rows) {
  io::json list = io::json::array();
  for (const auto& r : rows) list.push_back(r);
  return io::json{{"rows", list}};
}

bool mentions(const std::vector<std::string>& lines, const std::string& what) {
  for (const auto& l : lines) {
    if (l.find(what) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("accuracy baseline: regressions, stale gaps and changed figures fail") {
  const auto base = doc({row_json("a", 101, true), row_json("b", 150, false, "why; fix")});
  CHECK(validate::check_accuracy(base, base).failures.empty());
  CHECK(validate::check_accuracy(base, base).notices.empty());

  SECTION("a passing row that fails now is a regression") {
    const auto c = validate::check_accuracy(
        doc({row_json("a", 120, false, "new gap"), row_json("b", 150, false, "why; fix")}), base);
    CHECK(mentions(c.failures, "REGRESSION a"));
  }
  SECTION("a passing row that disappears is a regression") {
    const auto c = validate::check_accuracy(doc({row_json("b", 150, false, "why; fix")}), base);
    CHECK(mentions(c.failures, "REGRESSION a"));
  }
  SECTION("a failing row with no gap fails, even if new") {
    const auto c = validate::check_accuracy(
        doc({row_json("a", 101, true), row_json("b", 150, false, "why; fix"),
             row_json("c", 150, false)}),
        base);
    CHECK(mentions(c.failures, "c: fails"));
    CHECK(mentions(c.failures, "c: new row"));
  }
  SECTION("a gap row that passes now: notice, and its gap is stale") {
    const auto c = validate::check_accuracy(
        doc({row_json("a", 101, true), row_json("b", 105, true, "why; fix")}), base);
    CHECK(mentions(c.notices, "b: passes now"));
    CHECK(mentions(c.failures, "b: passes with"));
  }
  SECTION("a moved figure, as the README shows it, needs the baseline updated") {
    const auto c = validate::check_accuracy(
        doc({row_json("a", 101.2, true), row_json("b", 150, false, "why; fix")}), base);
    CHECK(mentions(c.failures, "a: differs from the baseline (simulated 101 -> 101.2"));
    const auto same = validate::check_accuracy(
        doc({row_json("a", 101.0001, true), row_json("b", 150, false, "why; fix")}), base);
    CHECK(same.failures.empty());
  }
  CHECK_THROWS_AS(validate::check_accuracy(io::json::array(), base), io::input_error);
}

TEST_CASE("dispatch traffic follows the router: top-k copies, node limit, DeepEP bytes") {
  const auto c = validate::load_bench_cluster("dgx-h800", 4, "");
  validate::dispatch_options o;
  o.ranks = 32;
  o.tokens = 256;
  o.node_groups = 2;
  const auto t = validate::dispatch_traffic(c, o);
  double copies = 0;
  for (double v : t.copies) copies += v;
  CHECK(copies == 32.0 * 256 * 8);  // every token takes exactly top-8 experts
  // Node-limited routing: no token reaches more than 2 of the 4 nodes.
  for (int s = 0; s < 32; ++s) {
    double node_pairs = 0;
    for (int k = 0; k < 4; ++k) node_pairs += t.node_tokens[static_cast<std::size_t>(s * 4 + k)];
    CHECK(node_pairs <= 2.0 * 256);
    CHECK(node_pairs >= 256);
  }
  const auto f = validate::bench_dispatch(c, o);
  CHECK(f.dispatch_bytes > 0);
  CHECK(f.dispatch_GBps > 0);
  // BF16 combine carries 2 bytes per channel, FP8 dispatch 1 + 4/128.
  CHECK(f.combine_bytes / f.dispatch_bytes == Approx(2.0 / (1 + 4.0 / 128)));
  o.node_groups = 5;
  CHECK_THROWS_AS(validate::dispatch_traffic(c, o), io::input_error);
}

TEST_CASE("DeepEP kernels use the chip's ep_link_efficiency on NVLink, else efficiency.link") {
  auto c = validate::load_bench_cluster("dgx-h800", 0, "");
  validate::dispatch_options o;
  o.ranks = 8;
  const auto ep = validate::bench_dispatch(c, o);
  CHECK(ep.link_efficiency == 0.713);
  CHECK(ep.link_efficiency_from == "collective.ep_link_efficiency");
  c.params.ep_scale_up_efficiency.reset();
  const auto nccl = validate::bench_dispatch(c, o);
  CHECK(nccl.link_efficiency == 0.8);  // h800 efficiency.link
  CHECK(nccl.link_efficiency_from.rfind("efficiency.link", 0) == 0);
  // One NVLink phase, bandwidth-bound (~1 ms against 8.4 us of launch overhead): the kernel
  // rate scales with the link efficiency.
  CHECK(ep.dispatch_GBps / nccl.dispatch_GBps == Approx(0.713 / 0.8).epsilon(0.01));
}

TEST_CASE("the benchmark verbs' re-solve quantum stays close to the exact flow model") {
  // A skewed exchange (DeepEP low-latency copies of random routing) on 4 nodes: the exact solve
  // re-solves at every finish; q = 0.02 (the verbs' default) far less often.
  const auto c = validate::load_bench_cluster("dgx-h800", 4, "");
  validate::dispatch_options o;
  o.ranks = 32;
  o.tokens = 128;
  o.mode = sim::net::ep_mode::low_latency;
  const auto exact = validate::bench_dispatch(c, o);
  o.resolve_quantum = 0.02;
  const auto quick = validate::bench_dispatch(c, o);
  CHECK(quick.dispatch_time_s == Approx(exact.dispatch_time_s).epsilon(0.01));
  CHECK(quick.combine_time_s == Approx(exact.combine_time_s).epsilon(0.01));
  sim::net::collective_spec spec;
  spec.op = sim::net::collective_op::all_to_all;
  spec.bytes = 256.0 * (1 << 20);
  const double t0 = validate::bench_collective(c, spec, sim::net::timing_model::flow).time_s;
  const double tq = validate::bench_collective(c, spec, sim::net::timing_model::flow, 0.02).time_s;
  CHECK(tq == Approx(t0).epsilon(0.01));
}

TEST_CASE("size sweeps use nccl-tests binary units") {
  CHECK(validate::parse_size_sweep("8G") == std::vector<double>{8.0 * (1ULL << 30)});
  CHECK(validate::parse_size_sweep("8:64:x2") == std::vector<double>{8, 16, 32, 64});
  CHECK(validate::parse_size_sweep("1K:3K:+1K") == std::vector<double>{1024, 2048, 3072});
  CHECK_THROWS_AS(validate::parse_size_sweep("64:8:x2"), io::input_error);
  CHECK_THROWS_AS(validate::parse_size_sweep("8:64:x1"), io::input_error);
  CHECK_THROWS_AS(validate::parse_size_sweep("8:64"), io::input_error);
}

TEST_CASE("DeepEP low-latency kernels pay the chip's fixed cost, normal ones NCCL's launch") {
  auto c = validate::load_bench_cluster("dgx-h800", 2, "");
  validate::dispatch_options o;
  o.ranks = 16;
  o.tokens = 128;
  o.mode = sim::net::ep_mode::low_latency;
  const auto ll = validate::bench_dispatch(c, o);
  CHECK(ll.fixed_cost_s == Approx(19.5e-6));  // h800 collective.ep_low_latency_kernel_ps
  CHECK(ll.fixed_cost_from == "collective.ep_low_latency_kernel_ps");
  c.params.ep_low_latency_kernel_ps.reset();
  const auto bare = validate::bench_dispatch(c, o);
  CHECK(bare.fixed_cost_s == 0);
  // The kernel cost is paid once before the copies; NCCL's step latencies are not paid.
  CHECK((ll.dispatch_time_s - bare.dispatch_time_s) * 1e6 == Approx(19.5).epsilon(1e-6));
  CHECK((ll.combine_time_s - bare.combine_time_s) * 1e6 == Approx(19.5).epsilon(1e-6));
  o.mode = sim::net::ep_mode::normal;
  CHECK(validate::bench_dispatch(c, o).fixed_cost_s == Approx(8.4e-6));  // NCCL Simple's baseLat
}
