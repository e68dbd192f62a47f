// Collective algorithms against closed forms (scaling book sharding.md; ring all-reduce), and
// the two network models against each other. Link efficiencies are 1 and protocol overheads 0
// unless a test says otherwise, so the closed forms apply exactly in the bandwidth-bound regime
// (sizes where the 1 us hop latencies are < 0.1% of the time).
#include "sim/net/collectives.hpp"

#include <catch2/catch.hpp>

#include "tests/net/spec_of.hpp"
#include "tests/topo/specs.hpp"
#include "topologies/cluster.hpp"
#include "topologies/torus.hpp"

using namespace moesim;
using namespace moesim::sim::net;
using namespace moesim::sim::net::test;

namespace {

topo::topology ring_1d(int x, bool wrap) {
  return topo::build_torus({{x}, {wrap}, {w_one_way}, {1'000'000}});
}

}  // namespace

TEST_CASE("torus all-gather / reduce-scatter / all-reduce over one wrapping axis") {
  // Bidirectional ring, X = 8: T = (X-1)/X * V/W for all-gather and reduce-scatter (the scaling
  // book's V/W for large X), twice that for all-reduce. X = 2: the wrap is a second cable, and
  // the ring's two directions (flow ids 0 and 1) take one cable each: V/(2W), not V/W.
  for (const int X : {8, 2}) {
    INFO("X = " << X);
    const auto t = ring_1d(X, true);
    const double V = 1 * GiB;
    const double ag = (X - 1.0) / X * V / W;
    for (auto model : {timing_model::flow, timing_model::analytical}) {
      CHECK(run_s(t, spec_of(collective_op::all_gather, V), model) == Approx(ag).epsilon(0.01));
      CHECK(run_s(t, spec_of(collective_op::reduce_scatter, V), model) == Approx(ag).epsilon(0.01));
      CHECK(run_s(t, spec_of(collective_op::all_reduce, V), model) == Approx(2 * ag).epsilon(0.01));
    }
    CHECK(plan_collective(t, {}, spec_of(collective_op::all_reduce, V)).algorithm ==
          collective_algorithm::torus);
  }
}

TEST_CASE("without wraparound the torus bandwidth term doubles") {
  const int X = 8;
  const auto t = ring_1d(X, false);
  const double V = 1 * GiB;
  const double ag = 2 * (X - 1.0) / X * V / W;
  CHECK(run_s(t, spec_of(collective_op::all_gather, V)) == Approx(ag).epsilon(0.01));
  CHECK(run_s(t, spec_of(collective_op::reduce_scatter, V)) == Approx(ag).epsilon(0.01));
  CHECK(run_s(t, spec_of(collective_op::all_reduce, V)) == Approx(2 * ag).epsilon(0.01));
  // All-to-all on a line of even X: the middle cable carries (X/2)^2 * S/X each way,
  // T = V/(2W) with V = X*S, twice the wrapped ring's V/(4W).
  const double S = 256.0 * 1024 * 1024;
  CHECK(run_s(t, spec_of(collective_op::all_to_all, S), timing_model::analytical) ==
        Approx(X * S / (2 * W)).epsilon(0.01));
}

TEST_CASE("torus all-to-all on a bidirectional ring is about V/(4W)") {
  // Odd X avoids routing ties: the distances from a chip sum to (X^2-1)/4, so every link
  // direction carries S(X^2-1)/(8X) and T = V(X^2-1)/(4 W X^2) with V = X*S.
  const int X = 7;
  const auto t = ring_1d(X, true);
  const double S = 256.0 * 1024 * 1024;
  const double V = X * S;
  const double expected = V * (X * X - 1.0) / (4 * W * X * X);
  for (auto model : {timing_model::flow, timing_model::analytical}) {
    CHECK(run_s(t, spec_of(collective_op::all_to_all, S), model) == Approx(expected).epsilon(0.01));
  }
}

TEST_CASE("torus all-to-all on an even bidirectional ring is V/(4W): ties split both ways") {
  // X = 8: the distances from a chip sum to X^2/4 and the routes split the ties (distance X/2)
  // half each way, so every link direction carries X^2/8 * S/X and T = V/(4W) with V = X*S
  // (scaling book, sharding.md: AllToAll = AllGather / 4 on a bidirectional ring). With every
  // tie sent + the + links carried (X^2/8 + X/4) * S/X: 1.25x on an 8-ring, 1.5x on a 4-ring.
  for (const int X : {8, 4}) {
    const auto t = ring_1d(X, true);
    const double S = 256.0 * 1024 * 1024;
    for (auto model : {timing_model::flow, timing_model::analytical}) {
      CHECK(run_s(t, spec_of(collective_op::all_to_all, S), model) ==
            Approx(X * S / (4 * W)).epsilon(0.01));
    }
  }
}

TEST_CASE("collectives over chosen torus axes run one group per remaining coordinate") {
  // 4x4x4 with wraparound: all-gather over y only is 16 independent rings of 4 on disjoint links.
  const auto t = topo::build_torus({{4, 4, 4},
                                    {true, true, true},
                                    {w_one_way, w_one_way, w_one_way},
                                    {1'000'000, 1'000'000, 1'000'000}});
  auto spec = spec_of(collective_op::all_gather, 1 * GiB);
  spec.axes = {1};
  const auto plan = plan_collective(t, {}, spec);
  CHECK(plan.groups == 16);
  CHECK(plan.ranks_per_group == 4);
  CHECK(run_s(t, spec) == Approx(3.0 / 4 * GiB / W).epsilon(0.01));
  // Two axes: groups of 16, reduce-scatter over x and z at once, half the data over x then z and
  // half over z then x: (3/4)(1 + 1/4) V/(2W), the book's V/(n W) with its (1 - 1/N).
  spec.op = collective_op::reduce_scatter;
  spec.axes = {0, 2};
  CHECK(plan_collective(t, {}, spec).groups == 4);
  CHECK(run_s(t, spec) == Approx(0.75 * 1.25 * GiB / (2 * W)).epsilon(0.01));
  spec.axes = {3};
  CHECK_THROWS_AS(plan_collective(t, {}, spec), std::invalid_argument);
}

TEST_CASE("ring all-reduce on one NVSwitch node takes 2(n-1)/n * S/B") {
  auto chip = topo::test::h100();
  chip.efficiency.link.reset();
  const auto t = topo::build_cluster(topo::test::dgx_h100(1), chip);
  const double B = 450e9;
  const double S = 4 * GiB;
  for (int n : {2, 4, 8}) {
    auto spec = spec_of(collective_op::all_reduce, S, collective_algorithm::ring);
    spec.ranks = n;
    CHECK(run_s(t, spec) == Approx(2.0 * (n - 1) / n * S / B).epsilon(0.01));
  }
  // Link efficiency and per-step latency enter as named parameters.
  collective_params p;
  p.scale_up_efficiency = 0.5;
  p.scale_up_step_latency_ps = 10'000'000;  // 10 us per step
  p.launch_overhead_ps = 5'000'000;
  sim::simulation sim;
  network net(sim, t, network_params_for(p, timing_model::flow));
  const auto plan = std::make_shared<collective_plan>(
      plan_collective(t, p, spec_of(collective_op::all_reduce, S, collective_algorithm::ring)));
  sim::time_ps elapsed = 0;
  run_collective(net, sim, plan, p, protocol::simple, [&](sim::time_ps e) { elapsed = e; });
  sim.run();
  // 14 steps, each paying 10 us minus the 0.47 us the wire already takes.
  const double expected = 2 * 7.0 / 8 * S / (0.5 * B) + 5e-6 + 14 * 10e-6;
  CHECK(sim::seconds(elapsed) == Approx(expected).epsilon(0.001));
}

TEST_CASE("NVLS all-reduce moves S(n+1)/n per port at the NVLS efficiency") {
  auto chip = topo::test::h100();
  chip.efficiency.link.reset();
  const auto t = topo::build_cluster(topo::test::dgx_h100(1), chip);
  collective_params p;
  p.nvls_efficiency = 0.85;
  const double S = 4 * GiB;
  const double expected = S * 9.0 / 8 / (0.85 * 450e9);
  CHECK(run_s(t, spec_of(collective_op::all_reduce, S, collective_algorithm::nvls),
              timing_model::flow, p) == Approx(expected).epsilon(0.01));
  CHECK_THROWS_AS(
      plan_collective(t, {}, spec_of(collective_op::all_reduce, S, collective_algorithm::nvls)),
      std::invalid_argument);
  // Automatic all-reduce picks NVLS when the chip has it (as NCCL does on H100).
  CHECK(plan_collective(t, p, spec_of(collective_op::all_reduce, S)).algorithm ==
        collective_algorithm::nvls);
}

TEST_CASE("tree and hierarchical all-reduce are bounded by the ring's bandwidth terms") {
  const auto t = topo::build_cluster(topo::test::dgx_h100(2), topo::test::h100());
  const double S = 4 * GiB;
  const double ring = run_s(t, spec_of(collective_op::all_reduce, S, collective_algorithm::ring));
  const double hier =
      run_s(t, spec_of(collective_op::all_reduce, S, collective_algorithm::hierarchical));
  const double tree = run_s(t, spec_of(collective_op::all_reduce, S, collective_algorithm::tree));
  // Ring: 8 channels, each NIC-bound (S/8 per channel over 50 GB/s), 30 steps of S/(16*8).
  CHECK(ring == Approx(2 * 15.0 / 16 * S / 8 / 50e9).epsilon(0.02));
  // Hierarchical: NVLink reduce-scatter and all-gather (7/8 S each at 450 GB/s) around an
  // inter-node ring on S/8 per GPU (2 (N-1)/N S/8 at 50 GB/s).
  CHECK(hier == Approx(2 * 7.0 / 8 * S / 450e9 + S / 8 / 50e9).epsilon(0.02));
  // Double binary tree: each tree's cross-node edge carries S/2 each way over one NIC; with 32
  // chunks behind a fill and drain of at most 9 chunk steps each.
  CHECK(tree >= S / 2 / 50e9);
  CHECK(tree <= S / 2 / 50e9 * (32.0 + 18) / 32);
}

TEST_CASE("flow and analytical models agree within 10% on uniform traffic") {
  const auto gpu = topo::build_cluster(topo::test::dgx_h100(2), topo::test::h100());
  const auto tpu =
      topo::build_torus({{4, 4}, {true, true}, {w_one_way, w_one_way}, {1'000'000, 1'000'000}});
  for (const auto* t : {&gpu, &tpu}) {
    for (auto op : {collective_op::all_to_all, collective_op::all_reduce}) {
      const auto spec = spec_of(op, 256.0 * 1024 * 1024);
      const double flow = run_s(*t, spec, timing_model::flow);
      const double analytical = run_s(*t, spec, timing_model::analytical);
      INFO(t->label << " " << to_string(op));
      CHECK(analytical == Approx(flow).epsilon(0.10));
    }
  }
}

TEST_CASE("hierarchical all-to-all forwards once per node over the rail") {
  const auto t = topo::build_cluster(topo::test::dgx_h100(2), topo::test::h100());
  const double S = 256.0 * 1024 * 1024;
  auto spec = spec_of(collective_op::all_to_all, S, collective_algorithm::hierarchical);
  const auto plan = plan_collective(t, {}, spec);
  // Every RDMA flow stays on its rail: local position of source and forwarder agree.
  for (const auto& ph : plan.phases) {
    for (const auto& f : ph.flows) {
      const auto& a = t.devices[static_cast<std::size_t>(f.src)];
      const auto& b = t.devices[static_cast<std::size_t>(f.dst)];
      if (a.group != b.group) CHECK(a.local == b.local);
    }
  }
  // Both stages carry half the data per GPU; pipelined, the NIC stage (S/2 at 50 GB/s) dominates.
  const double h = run_s(t, spec);
  CHECK(h >= S / 2 / 50e9);
  CHECK(h < 1.3 * S / 2 / 50e9);
}

TEST_CASE("expert exchange: combine mirrors dispatch, low-latency counts every copy") {
  const auto t = topo::build_cluster(topo::test::dgx_h100(2), topo::test::h100());
  expert_traffic tr;
  tr.ranks = 16;
  tr.nodes = 2;
  tr.pair_tokens.assign(256, 100.0);
  tr.copies.assign(256, 150.0);
  tr.node_tokens.assign(32, 700.0);
  const collective_params p;
  const auto time_of = [&](ep_mode m, bool combine) {
    const auto plan = plan_expert_exchange(t, tr, m, 7168, combine);
    return time_collective(t, p, plan, timing_model::flow, protocol::simple).elapsed_ps;
  };
  CHECK(static_cast<double>(time_of(ep_mode::normal, true)) ==
        Approx(static_cast<double>(time_of(ep_mode::normal, false))).epsilon(1e-6));
  // Low-latency sends 150 copies to each of 8 remote ranks over one NIC: 8*150*7168 B.
  CHECK(sim::seconds(time_of(ep_mode::low_latency, false)) >= 8 * 150 * 7168 / 50e9);
  // Normal sends each token once per remote node: 700 tokens over the NIC.
  CHECK(sim::seconds(time_of(ep_mode::normal, false)) >= 700 * 7168 / 50e9);
  CHECK(time_of(ep_mode::normal, false) < time_of(ep_mode::low_latency, false));
  tr.copies.pop_back();
  CHECK_THROWS_AS(plan_expert_exchange(t, tr, ep_mode::low_latency, 1, false),
                  std::invalid_argument);
}

TEST_CASE("send/recv and the LL protocol choice") {
  const auto t = topo::build_cluster(topo::test::dgx_h100(1), topo::test::h100());
  collective_params p;
  p.ll_efficiency = 0.5;
  p.scale_up_step_latency_ps = 3'400'000;
  p.scale_up_efficiency = 0.822;
  const auto small = plan_send_recv(t, 0, 1, 1024);
  const auto large = plan_send_recv(t, 0, 1, 1 * GiB);
  CHECK(choose_protocol(t, p, small) == protocol::ll);
  CHECK(choose_protocol(t, p, large) == protocol::simple);
  const auto tl = time_collective(t, p, large, timing_model::flow, protocol::ll);
  CHECK(sim::seconds(tl.elapsed_ps) == Approx(GiB / 0.5 / (0.822 * 450e9)).epsilon(0.01));
  CHECK(bus_bandwidth_factor(collective_op::all_reduce, 8) == Approx(1.75));
  CHECK(bus_bandwidth_factor(collective_op::all_gather, 8) == Approx(0.875));
  CHECK(parse_collective_algorithm("nvls") == collective_algorithm::nvls);
  CHECK_THROWS_AS(parse_collective_op("allreduce"), std::invalid_argument);
}
