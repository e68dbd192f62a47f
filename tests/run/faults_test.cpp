// Faults end to end: a straggler's ops take the hand-computed longer time and the ranks that
// wait for it wait that much; a run with faults reports them against the fault-free run of the
// same scenario, and is byte-identical run to run.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <span>

#include "sim/cluster/roofline.hpp"
#include "sim/io/metrics.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/run/fault_rates.hpp"
#include "sim/run/machine.hpp"
#include "sim/run/simulate.hpp"
#include "tests/run/run_text.hpp"
#include "topologies/cluster.hpp"

using namespace moesim;

namespace {

// Mixtral 8x7B cut to 4 layers on one 8-GPU node, EP 8, decode: small and quick.
std::string small(const std::string& faults) {
  return R"(
name: faults-test
seed: 3
model: {preset: mixtral-8x7b, layers: 4}
cluster: {preset: dgx-h100, nodes: 1}
parallelism: {ep: 8}
sampling: {tokens_per_step: 256, math_hidden: 64}
workload: {kind: decode, batch_per_device: 32, context: 512, steps: 2}
)" + faults;
}

}  // namespace

TEST_CASE("a straggler's group op ends f times later in its FLOP- and HBM-bound time") {
  // compute_factor = hbm_factor = 3 on EP rank 5: every roofline op on it takes
  // 3 x (time - launch) + launch, and the group's op (every rank, waiting for the slowest) ends
  // then; before at_s it runs at full speed.
  const auto s = test::load_text(small(R"(
faults:
  - {kind: straggler, at_s: 0.001, device: 5, compute_factor: 3, hbm_factor: 3}
)"));
  sim::trace_recorder none(false);
  sim::run::machine m(s, none, {});
  const sim::cluster::op_cost cost{2e12, 4e9};
  const sim::time_ps t = sim::cluster::op_time(m.rates(), cost);
  const sim::time_ps launch = m.rates().launch_ps;
  const auto [early, op1] =
      m.group_compute(0, 0, sim::run::category::dense_ffn, "early", 0, cost, -1);
  CHECK(early == t);                                        // before the fault
  const sim::time_ps at = std::max(sim::ps_per_ms, early);  // the stream is free, the fault on
  const auto [late, op2] =
      m.group_compute(0, 0, sim::run::category::dense_ffn, "late", at, cost, op1);
  const double slowed = 3.0 * static_cast<double>(t - launch) + static_cast<double>(launch);
  CHECK(std::abs(static_cast<double>(late - at) - slowed) <= 2.0);  // picosecond rounding
  // The other ranks ran their copy in t: the group waited (late - at) - t for rank 5.
  const auto slot = m.compute(m.device(0, 0, 0), sim::run::category::dense_ffn, "x", late, cost);
  CHECK(slot.end - late == t);
}

TEST_CASE("a run with faults reports them against the fault-free run, byte-identical twice") {
  const std::string faults = R"(
faults:
  - {kind: straggler, device: 2, compute_factor: 2, hbm_factor: 2}
  - {kind: link_degraded, at_s: 0, link: {from: dev0, to: nvswitch0}, bandwidth_factor: 0.25}
)";
  const auto s = test::load_text(small(faults));
  const auto base = test::load_text(small(""));
  sim::trace_recorder none(false);
  const auto r = sim::run::simulate(s, none);
  const auto b = sim::run::simulate(base, none);
  REQUIRE(r.faults);
  CHECK(r.faults->baseline_step_time_s == b.step_time_s);
  CHECK(r.faults->step_time_s == r.step_time_s);
  CHECK(r.step_time_s > b.step_time_s);
  REQUIRE(r.faults->faults.size() == 2);
  CHECK(r.faults->faults[0].hit == "dev2");
  CHECK(r.faults->faults[1].hit == "dev0<->nvswitch0 (nvlink)");
  CHECK(r.faults->faults[0].slowdown > 1.0);
  CHECK(r.faults->faults[1].slowdown > 1.0);
  CHECK(r.faults->faults[1].flows_hit > 0);
  // A straggler whose time never comes changes nothing.
  const auto never = test::load_text(small(R"(
faults:
  - {kind: straggler, at_s: 1000, device: 2, compute_factor: 2}
)"));
  CHECK(sim::run::simulate(never, none).step_time_s == b.step_time_s);
  // Determinism with faults on.
  const auto again = sim::run::simulate(s, none);
  CHECK(io::dump(io::metrics_json(r, s)) == io::dump(io::metrics_json(again, s)));
}

TEST_CASE("a fault's report says which stages waited, adding up to the step's change") {
  // A degraded NVLink port slows the expert exchange (dispatch and combine) and nothing that
  // does not cross the network; a straggler slows the stages its ops are on.
  const auto base = test::load_text(small(""));
  const auto link = test::load_text(small(R"(
faults:
  - {kind: link_degraded, at_s: 0, link: {from: dev0, to: nvswitch0}, bandwidth_factor: 0.1}
)"));
  sim::trace_recorder none(false);
  const auto b = sim::run::simulate(base, none);
  const auto r = sim::run::simulate(link, none);
  REQUIRE(r.faults);
  const auto& stages = r.faults->stages;
  REQUIRE(!stages.empty());
  double extra = 0;
  for (const auto& d : stages) extra += d.faulted_s - d.baseline_s;
  CHECK(std::abs(extra - (r.step_time_s - b.step_time_s)) <= 1e-9 * b.step_time_s);
  CHECK((stages.front().stage == "dispatch" || stages.front().stage == "combine"));
  for (const auto& d : stages) {
    CHECK(d.stage != "expert_compute");
    CHECK(d.stage != "attention");
  }
  // One fault: its row's stages are the run's.
  REQUIRE(r.faults->faults.size() == 1);
  CHECK(r.faults->faults[0].stages.size() == stages.size());
}

TEST_CASE("stragglers at a rate in serving: drawn over the arrival window, each reported") {
  // 8 GPUs at an MTBF of 0.0003 h (1.08 s) over a 0.5 s arrival window: 3.7 expected.
  const std::string text = R"(name: rates
seed: 5
model: {preset: mixtral-8x7b, layers: 4}
sampling: {tokens_per_step: 64, math_hidden: 32}
cluster: {preset: dgx-h100}
network: {model: analytical}
parallelism: {ep: 8}
moe: {capacity_factor: 0}
workload:
  kind: serve
  serve:
    arrivals: {process: closed, concurrency: 16}
    duration_s: 0.5
    prompt: {dist: fixed, tokens: 64}
    output: {dist: fixed, tokens: 16}
faults:
  - {kind: straggler, mtbf_h: 0.0003, compute_factor: 3, hbm_factor: 3}
  - {kind: straggler, at_s: 0.9, device: 1, compute_factor: 2}
)";
  const auto s = test::load_text(text);
  REQUIRE(sim::run::fault_horizon_s(s) == 0.5);
  sim::trace_recorder none(false);
  const auto r = sim::run::simulate(s, none);
  // The rows are the rate's draws over [0, 0.5 s), as fault_rates draws them, then the timed
  // fault, past the window but kept (the run drains after it).
  const auto draws = sim::run::expand_faults(
      std::span(s.faults).first(1), sim::run::targets_of(topo::build_cluster(s.cluster, s.chip)),
      s.seed, 0.5);
  REQUIRE(!draws.empty());
  REQUIRE(r.faults);
  REQUIRE(r.faults->faults.size() == draws.size() + 1);
  for (std::size_t i = 0; i < draws.size(); ++i) {
    const auto& row = r.faults->faults[i].event;
    CHECK(row.at_s == draws[i].event.at_s);
    CHECK(row.at_s < 0.5);
    CHECK(row.device == draws[i].event.device);
    CHECK(!row.mtbf_h);
    CHECK(row.compute_factor == 3);
  }
  CHECK(r.faults->faults.back().event.at_s == 0.9);
  CHECK(r.faults->faults.back().hit == "dev1");
  // Stragglers cannot make the run faster; and the draws are the same run to run.
  CHECK(r.faults->step_time_s >= r.faults->baseline_step_time_s);
  const auto again = sim::run::simulate(s, none);
  CHECK(io::dump(io::metrics_json(r, s)) == io::dump(io::metrics_json(again, s)));
}
