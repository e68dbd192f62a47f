// Link faults in the flow model, against hand-worked timings: a degraded link slows the flows
// crossing it from the instant it degrades, a failed ring link sends its traffic the other way
// round where it shares a link with the traffic already there, and a cut-off pair is an error.
#include "sim/net/faults.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>

#include "sim/engine/simulation.hpp"
#include "sim/net/network.hpp"
#include "tests/topo/specs.hpp"
#include "topologies/cluster.hpp"

using namespace moesim;
using sim::net::flow_request;
using sim::net::link_fault;
using sim::net::network;
using sim::net::network_params;

namespace {

std::vector<sim::time_ps> run_with(const topo::topology& t, const std::vector<flow_request>& flows,
                                   const std::vector<link_fault>& faults, network_params p = {}) {
  sim::simulation sim(1);
  network net(sim, t, p);
  net.add_link_faults(faults);
  std::vector<sim::time_ps> done(flows.size(), -1);
  net.start_batch(flows, [&](std::size_t i) { done[i] = sim.now(); });
  sim.run();
  return done;
}

// Both directions of the cable from a to b, failing (factor 0) or degraded at `at`.
std::vector<link_fault> cable(const topo::topology& t, topo::vertex_id a, topo::vertex_id b,
                              double factor, sim::time_ps at = 0) {
  const auto l = sim::net::find_link(t, a, b);
  REQUIRE(l);
  return {{*l, at, factor, 0}, {t.link(*l).reverse, at, factor, 0}};
}

// A 4-chip ring: shape 4x1x1 with the v5p wrap rule (axes of a multiple of 4 wrap).
topo::topology ring4() {
  return topo::build_cluster(
      topo::test::tpu_cluster("tpu-v5p", "4x1x1", topo::test::v5p_rule(), "2x1x1"),
      topo::test::tpu_v5p());
}

}  // namespace

TEST_CASE("a link degraded to half its bandwidth halves a flow's rate") {
  // One NVSwitch node; GPU 0's port: 18 x 25 GB/s = 450 GB/s. 450 MB take 1 ms at full rate.
  const auto t = topo::build_cluster(topo::test::dgx_h100(1), topo::test::h100());
  const auto& dom = t.domains[0];
  const auto port = t.link(dom.up[0]);
  const sim::time_ps hop = 470'000;  // GPU -> switch -> GPU
  SECTION("from the start: 2 ms") {
    const auto done = run_with(t, {{0, 1, 450e6, 0}}, cable(t, port.src, port.dst, 0.5));
    CHECK(done[0] == 2 * sim::ps_per_ms + hop);
  }
  SECTION("from 0.5 ms: half sent at full rate, the other half at half rate, 1.5 ms") {
    const auto done =
        run_with(t, {{0, 1, 450e6, 0}}, cable(t, port.src, port.dst, 0.5, sim::ps_per_ms / 2));
    CHECK(done[0] == 3 * sim::ps_per_ms / 2 + hop);
  }
  SECTION("a fault after the flow is over changes nothing and leaves no event behind") {
    sim::simulation sim(1);
    network net(sim, t, {});
    net.add_link_faults(cable(t, port.src, port.dst, 0.5, 10 * sim::ps_per_ms));
    sim::time_ps done = -1;
    net.start_batch(std::vector<flow_request>{{0, 1, 450e6, 0}},
                    [&](std::size_t) { done = sim.now(); });
    sim.run();
    CHECK(done == sim::ps_per_ms + hop);
    CHECK(sim.now() == done);
  }
}

TEST_CASE("a failed ring link sends its traffic the other way round, sharing the link there") {
  // Ring 0-1-2-3-0 of v5p ICI links, 90 GB/s per direction, 1 us per hop. dev0 -> dev1 sends B;
  // dev3 -> dev2 sends B. With 0<->1 down, 0 -> 1 goes 0 -> 3 -> 2 -> 1 (3 hops), and link
  // 3 -> 2 carries both flows: each gets 45 GB/s, both finish their B at 2B / 90 GB/s.
  const auto t = ring4();
  const double B = 90e6;  // 1 ms alone
  const sim::time_ps us = sim::ps_per_us;
  const std::vector<flow_request> flows{{0, 1, B, 0}, {3, 2, B, 0}};
  SECTION("healthy: 1 ms each, one hop") {
    const auto done = run_with(t, flows, {});
    CHECK(done[0] == sim::ps_per_ms + us);
    CHECK(done[1] == sim::ps_per_ms + us);
  }
  SECTION("failed from the start: 2 ms each, the detour pays three hops") {
    const auto done = run_with(t, flows, cable(t, 0, 1, 0.0));
    CHECK(done[0] == 2 * sim::ps_per_ms + 3 * us);
    CHECK(done[1] == 2 * sim::ps_per_ms + us);
  }
  SECTION("failed at 0.5 ms: the rest of 0 -> 1 moves to the detour with its bytes left") {
    // Until 0.5 ms both run at 90 GB/s alone (B/2 sent each). Then both share 3 -> 2 at 45 GB/s:
    // B/2 left each takes 1 ms more: both finish at 1.5 ms.
    const auto done = run_with(t, flows, cable(t, 0, 1, 0.0, sim::ps_per_ms / 2));
    CHECK(done[0] == 3 * sim::ps_per_ms / 2 + 3 * us);
    CHECK(done[1] == 3 * sim::ps_per_ms / 2 + us);
  }
  SECTION("the same run twice gives the same times") {
    CHECK(run_with(t, flows, cable(t, 0, 1, 0.0, 123'456)) ==
          run_with(t, flows, cable(t, 0, 1, 0.0, 123'456)));
  }
}

TEST_CASE("a pair left without a route is an error naming both ends") {
  const auto t = ring4();
  std::vector<std::uint8_t> down(static_cast<std::size_t>(t.link_count()), 0);
  for (const auto& f : cable(t, 0, 1, 0.0)) down[static_cast<std::size_t>(f.link)] = 1;
  CHECK_FALSE(sim::net::first_cut_pair(t, down));
  auto faults = cable(t, 0, 1, 0.0);
  for (const auto& f : cable(t, 0, 3, 0.0)) faults.push_back(f);
  for (const auto& f : faults) down[static_cast<std::size_t>(f.link)] = 1;
  // dev0 keeps only its PCIe link to the host, which forwards nothing.
  const auto cut = sim::net::first_cut_pair(t, down);
  REQUIRE(cut);
  CHECK(((cut->first == 0) != (cut->second == 0)));
  CHECK_THROWS_WITH(run_with(t, {{0, 2, 1e6, 0}}, faults),
                    "faults: no route is left from dev0 to dev2: every path crosses a failed "
                    "link");
}

TEST_CASE("the analytical model refuses link faults") {
  const auto t = ring4();
  sim::simulation sim(1);
  network_params p;
  p.model = sim::net::timing_model::analytical;
  network net(sim, t, p);
  CHECK_THROWS_AS(net.add_link_faults(cable(t, 0, 1, 0.0)), std::invalid_argument);
}

TEST_CASE("a failed fat-tree uplink moves its flows onto the parallel uplink left") {
  // Four DGX H100 nodes, two per scalable unit: 16 leaves (8 rails x 2 SUs) and one spine, each
  // leaf wired to it by two parallel cables (fat_tree.hpp: m = 2). GPU 0 of nodes 0 and 1 (rail
  // 0 of SU 0, one leaf) send B each to GPU 0 of nodes 2 and 3 (rail 0 of SU 1). With the
  // leaf's lower uplink failed, both cross the other one: 25 GB/s each of its 50 GB/s, 2B / 50
  // GB/s for both, whatever the ECMP hash picked before; the path's hops and latency unchanged.
  auto spec = topo::test::dgx_h100(4);
  spec.scale_out.nodes_per_unit = 2;
  const auto t = topo::build_cluster(spec, topo::test::h100());
  REQUIRE(t.tree.leaf_up[0].size() == 2);
  const double B = 50e6;  // 1 ms at 50 GB/s
  const std::vector<flow_request> flows{{0, 16, B, 0}, {8, 24, B, 0}};
  const topo::router router(t);
  std::vector<sim::time_ps> latency;
  for (const auto& f : flows) {
    sim::time_ps l = 0;
    for (const auto link : router.route(f.src, f.dst, f.tag)) l += t.link(link).latency_ps;
    latency.push_back(l);
  }
  const topo::link_info& up = t.link(t.tree.leaf_up[0][0]);
  const auto done = run_with(t, flows, cable(t, up.src, up.dst, 0.0));
  REQUIRE(sim::net::find_link(t, up.src, up.dst) == t.tree.leaf_up[0][0]);
  CHECK(done[0] == 2 * sim::ps_per_ms + latency[0]);
  CHECK(done[1] == 2 * sim::ps_per_ms + latency[1]);
}
