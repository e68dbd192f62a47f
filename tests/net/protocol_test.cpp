// NCCL's protocol costs (sim/net/protocol.hpp) against hand-computed values: each fixed cost is
// isolated as the difference between two runs of the same plan, so the flows' own times cancel.
#include "sim/net/protocol.hpp"

#include <catch2/catch.hpp>

#include "sim/net/collectives.hpp"
#include "tests/net/spec_of.hpp"
#include "tests/topo/specs.hpp"
#include "topologies/cluster.hpp"

using namespace moesim;
using namespace moesim::sim::net;
using moesim::sim::net::test::spec_of;

namespace {

constexpr sim::time_ps us = sim::ps_per_us;
constexpr double MiB = 1024.0 * 1024;

// The chip preset's NCCL block (NVIDIA/nccl src/graph/tuning.cc, Hopper, one node).
topo::chip_spec h100_with_nccl() {
  auto chip = topo::test::h100();
  topo::collective_protocol c;
  c.ll_efficiency = 0.5;
  c.ll128_efficiency = 0.9375;
  c.launch_overhead_ps = 8'400'000;
  c.scale_up_step_latency_ps = 3'400'000;
  c.scale_out_step_latency_ps = 14 * us;
  c.ll = topo::protocol_costs{6'600'000, 600'000, 2'700'000, 141e9};
  c.ll128 = topo::protocol_costs{14 * us, 1'900'000, 4 * us, std::nullopt};
  c.nvls_efficiency = 0.85;
  c.nvls_latency_ps = 25 * us;
  c.ring_plateau_factor = 1.4;
  chip.collective = c;
  return chip;
}

double elapsed_us(const topo::topology& t, const collective_params& p, const collective_plan& plan,
                  protocol proto) {
  return static_cast<double>(time_collective(t, p, plan, timing_model::flow, proto).elapsed_ps) /
         static_cast<double>(us);
}

}  // namespace

TEST_CASE("the preset's protocol costs: LL capped by llMaxBw, LL128 only over NVLink") {
  const auto chip = h100_with_nccl();
  const collective_params p = collective_params_for(chip);
  // 141 GB/s of the 18 x 25 GB/s x 0.822 = 369.9 GB/s port: 0.381 < LL's 0.5.
  CHECK(p.ll_scale_up_efficiency == Approx(141.0 / 369.9).epsilon(1e-4));
  CHECK(payload_fraction(p, protocol::ll, false) == Approx(0.3812).epsilon(1e-3));
  CHECK(payload_fraction(p, protocol::ll, true) == 0.5);  // across nodes: no ceiling modelled
  CHECK(payload_fraction(p, protocol::ll128, false) == 0.9375);
  CHECK(payload_fraction(p, protocol::simple, true) == 1.0);
  CHECK(latency_of(p, protocol::ll128).launch_overhead_ps == 14 * us);
  CHECK(latency_of(p, protocol::simple).scale_out_step_latency_ps == 14 * us);
  auto pcie = chip;
  pcie.scale_up.links_per_chip = 0;
  CHECK_FALSE(available(collective_params_for(pcie), protocol::ll128));
  // Without an ll block, LL keeps Simple's launch overhead and no step latency of its own.
  auto bare = chip;
  bare.collective->ll.reset();
  const auto b = collective_params_for(bare);
  CHECK(b.ll.launch_overhead_ps == 8'400'000);
  CHECK(b.ll.scale_up_step_latency_ps == 0);
  CHECK(b.ll_scale_up_efficiency == 0);
  CHECK(payload_fraction(b, protocol::ll, false) == 0.5);
}

TEST_CASE("ring all-reduce on one node pays each protocol's base and 14 step latencies") {
  const auto chip = h100_with_nccl();
  const auto t = topo::build_cluster(topo::test::dgx_h100(1), chip);
  const collective_params p = collective_params_for(chip);
  collective_params none = p;  // the same bandwidths, no fixed cost
  none.launch_overhead_ps = none.scale_up_step_latency_ps = 0;
  none.ll = none.ll128 = {};
  const auto plan = plan_collective(
      t, p, spec_of(collective_op::all_reduce, 1 * MiB, collective_algorithm::ring));
  // Every step latency exceeds the 0.47 us NVLink hop the flows already take, so each step
  // costs its full latency: NCCL's base + 2(n-1) x hwLat.
  CHECK(elapsed_us(t, p, plan, protocol::simple) - elapsed_us(t, none, plan, protocol::simple) ==
        Approx(8.4 + 14 * 3.4 - 14 * 0.47).epsilon(1e-6));
  CHECK(elapsed_us(t, p, plan, protocol::ll128) - elapsed_us(t, none, plan, protocol::ll128) ==
        Approx(14 + 14 * 1.9 - 14 * 0.47).epsilon(1e-6));
  CHECK(elapsed_us(t, p, plan, protocol::ll) - elapsed_us(t, none, plan, protocol::ll) ==
        Approx(6.6 + 14 * (0.6 - 0.47)).epsilon(1e-6));
  // The bandwidth terms: LL at the 141 GB/s ceiling, LL128 at 0.9375 of the port.
  const auto big = plan_collective(
      t, p, spec_of(collective_op::all_reduce, 1024 * MiB, collective_algorithm::ring));
  const double S = 1024 * MiB;
  CHECK(elapsed_us(t, none, big, protocol::ll) * 1e-6 == Approx(1.75 * S / 141e9).epsilon(0.002));
  CHECK(elapsed_us(t, none, big, protocol::ll128) * 1e-6 ==
        Approx(1.75 * S / (0.9375 * 369.9e9)).epsilon(0.002));
  // NCCL's choice by size: LL for 64 KiB, LL128 for 16 MiB, Simple for 1 GiB.
  const auto at = [&](double bytes) {
    return choose_protocol(
        t, p,
        plan_collective(t, p,
                        spec_of(collective_op::all_reduce, bytes, collective_algorithm::ring)));
  };
  CHECK(at(64 * 1024) == protocol::ll);
  CHECK(at(16 * MiB) == protocol::ll128);
  CHECK(at(1024 * MiB) == protocol::simple);
}

TEST_CASE("NVLS pays its own latency, Simple only") {
  const auto chip = h100_with_nccl();
  const auto t = topo::build_cluster(topo::test::dgx_h100(1), chip);
  const collective_params p = collective_params_for(chip);
  collective_params none = p;
  none.nvls_latency_ps = none.launch_overhead_ps = none.scale_up_step_latency_ps = 0;
  const auto plan = plan_collective(
      t, p, spec_of(collective_op::all_reduce, 1 * MiB, collective_algorithm::nvls));
  CHECK(elapsed_us(t, p, plan, protocol::simple) - elapsed_us(t, none, plan, protocol::simple) ==
        Approx(25).epsilon(1e-6));
  CHECK(choose_protocol(t, p, plan) == protocol::simple);
}

TEST_CASE("a ring across nodes pays the network step latency on its inter-node steps only") {
  const auto chip = h100_with_nccl();
  const auto t = topo::build_cluster(topo::test::dgx_h100(2), chip);
  collective_params p = collective_params_for(chip);
  const auto ar = plan_collective(
      t, p, spec_of(collective_op::all_reduce, 64 * MiB, collective_algorithm::ring));
  const auto ag = plan_collective(
      t, p, spec_of(collective_op::all_gather, 64 * MiB, collective_algorithm::ring));
  CHECK(ar.inter_node_steps == 2);  // 2 (N - 1), N = 2 nodes
  CHECK(ag.inter_node_steps == 1);
  collective_params slower = p;
  slower.scale_out_step_latency_ps += 10 * us;
  // All-reduce: 2 inter-node steps x 10 us, times the ring plateau factor 1.4 (30 phases would
  // have paid 300 us if every step crossing a node paid the network latency).
  CHECK(elapsed_us(t, slower, ar, protocol::simple) - elapsed_us(t, p, ar, protocol::simple) ==
        Approx(1.4 * 2 * 10).epsilon(1e-6));
  // All-gather: 1 inter-node step, no plateau factor; LL likewise without it.
  CHECK(elapsed_us(t, slower, ag, protocol::simple) - elapsed_us(t, p, ag, protocol::simple) ==
        Approx(10).epsilon(1e-6));
  slower = p;
  slower.ll.scale_out_step_latency_ps += 10 * us;
  CHECK(elapsed_us(t, slower, ar, protocol::ll) - elapsed_us(t, p, ar, protocol::ll) ==
        Approx(2 * 10).epsilon(1e-6));
  // The plateau factor multiplies the Simple all-reduce's launch overhead too.
  slower = p;
  slower.launch_overhead_ps += 10 * us;
  CHECK(elapsed_us(t, slower, ar, protocol::simple) - elapsed_us(t, p, ar, protocol::simple) ==
        Approx(14).epsilon(1e-6));
}
