// Uniform all-to-all under the analytical model: the streamed way (every pair routed) and the
// symmetric way (per-axis 1-D counts on a whole torus slice) agree link by link and on the
// latest finish, on tori, meshes and mixed slices; the network and collective fast paths give
// what the explicit flows give.
#include "sim/net/all_to_all_load.hpp"

#include <catch2/catch.hpp>
#include <numeric>

#include "sim/engine/simulation.hpp"
#include "sim/net/collectives.hpp"
#include "sim/net/network.hpp"
#include "tests/topo/specs.hpp"
#include "topologies/cluster.hpp"
#include "topologies/torus.hpp"

using namespace moesim;
using namespace moesim::sim::net;

namespace {

// Axis bandwidths and latencies differ, so that the worst link and the longest path of a flow
// need not be on the same axis.
topo::topology torus_of(std::vector<int> dims, std::vector<bool> wraps) {
  const std::size_t n = dims.size();
  std::vector<double> bw(n);
  std::vector<std::int64_t> lat(n);
  for (std::size_t a = 0; a < n; ++a) {
    bw[a] = 40e9 + 15e9 * static_cast<double>(a);
    lat[a] = 700'000 + 450'000 * static_cast<std::int64_t>((a * 2) % 3);
  }
  return topo::build_torus({std::move(dims), std::move(wraps), bw, lat});
}

std::vector<double> capacities(const topo::topology& t) {
  std::vector<double> c;
  for (const auto& l : t.links()) c.push_back(l.bytes_per_s);
  return c;
}

std::vector<topo::device_id> all_devices(const topo::topology& t) {
  std::vector<topo::device_id> r(static_cast<std::size_t>(t.device_count()));
  std::iota(r.begin(), r.end(), 0);
  return r;
}

}  // namespace

TEST_CASE("all-to-all load: streamed and symmetric agree on tori and meshes", "[net]") {
  struct shape {
    std::vector<int> dims;
    std::vector<bool> wraps;
  };
  const std::vector<shape> shapes{
      {{4, 6, 6}, {true, true, true}},            // even wrapping axes: ties split by parity
      {{8, 4}, {true, true}},                     // multiples of 4: balanced ties
      {{4, 6, 6}, {false, false, false}},         // mesh: edge links carry less than middle ones
      {{2, 5, 1, 3}, {true, false, true, true}},  // k = 2 wrap (two cables), size-1 axis
      {{3, 7}, {false, true}},
      {{5}, {true}},
  };
  for (const auto& s : shapes) {
    const auto t = torus_of(s.dims, s.wraps);
    const auto cap = capacities(t);
    const double bytes = 3.7e6;
    const auto streamed = all_to_all_streamed(t, cap, all_devices(t), bytes);
    const auto symmetric = all_to_all_on_torus(t, cap, 0, bytes);
    INFO(t.label);
    double total = 0;
    for (std::size_t l = 0; l < cap.size(); ++l) {
      const link_id id{static_cast<std::uint32_t>(l)};
      CHECK(symmetric.link_bytes.bytes(id) ==
            Approx(streamed.link_bytes.bytes(id)).epsilon(1e-12).margin(1e-6));
      total += symmetric.link_bytes.bytes(id);
    }
    // Every flow's bytes cross as many links as its path has hops: the totals are not all 0.
    CHECK(total > 0);
    CHECK(std::llabs(symmetric.finish_ps - streamed.finish_ps) <= 1);
    CHECK(symmetric.max_latency_ps == streamed.max_latency_ps);
    CHECK(symmetric.max_latency_ps == all_to_all_max_latency_on_torus(t, 0));
    CHECK(symmetric.finish_ps > symmetric.max_latency_ps);
  }
}

TEST_CASE("all-to-all load: ties split evenly, every link of a 4k-ring torus equally loaded",
          "[net]") {
  // On a wrapping axis of size k = 0 mod 4 every directed link carries k^2/8 pair crossings
  // (the scaling book's balanced D^2/8); with every tie sent + the + links carried k^2/8 + k/4.
  // Per link: N/k flows per 1-D crossing, N/k = 64/8 on the 8-axis and 64/4 on the 4-axis.
  const auto t = torus_of({8, 4, 2}, {true, true, false});
  const auto e = all_to_all_on_torus(t, capacities(t), 0, 1.0);
  const auto streamed = all_to_all_streamed(t, capacities(t), all_devices(t), 1.0);
  const auto& slice = t.slices.front();
  for (std::int32_t local = 0; local < slice.device_count; ++local) {
    for (const bool negative : {false, true}) {
      const auto x = slice.neighbour_link(local, 0, negative);
      const auto y = slice.neighbour_link(local, 1, negative);
      CHECK(e.link_bytes.bytes(link_id{static_cast<std::uint32_t>(x)}) == 8.0 * 8 / 8 * 8);
      CHECK(e.link_bytes.bytes(link_id{static_cast<std::uint32_t>(y)}) == 4.0 * 4 / 8 * 16);
      CHECK(streamed.link_bytes.bytes(link_id{static_cast<std::uint32_t>(x)}) == 64);
      CHECK(streamed.link_bytes.bytes(link_id{static_cast<std::uint32_t>(y)}) == 32);
    }
  }
}

TEST_CASE("all-to-all load: a mesh loads its middle links most", "[net]") {
  // 1-D mesh of 4, 1 byte per pair: the + link 1 -> 2 is crossed by (0,2), (0,3), (1,2), (1,3)
  // = 4 pairs; 0 -> 1 by (0,1), (0,2), (0,3) = 3.
  const auto t = torus_of({4}, {false});
  const auto e = all_to_all_on_torus(t, capacities(t), 0, 1.0);
  const auto& slice = t.slices.front();
  CHECK(e.link_bytes.bytes(
            link_id{static_cast<std::uint32_t>(slice.neighbour_link(0, 0, false))}) == 3);
  CHECK(e.link_bytes.bytes(
            link_id{static_cast<std::uint32_t>(slice.neighbour_link(1, 0, false))}) == 4);
  // 4 bytes at 40 GB/s = 100 ps on the worst link, and the longest path is 3 hops of 0.7 us; the
  // flow 0 -> 3 has both: 100 ps + 2.1 us.
  CHECK(e.finish_ps == 100 + 3 * 700'000);
}

TEST_CASE("whole_torus_slice accepts exactly the devices of one slice", "[net]") {
  const auto t = torus_of({2, 3}, {false, false});
  auto r = all_devices(t);
  std::reverse(r.begin(), r.end());
  CHECK(whole_torus_slice(t, r) == 0);
  r.pop_back();
  CHECK_FALSE(whole_torus_slice(t, r).has_value());
  r.push_back(1);  // a duplicate instead of device 0
  CHECK_FALSE(whole_torus_slice(t, r).has_value());
  const auto gpus = topo::build_cluster(topo::test::dgx_h100(1), topo::test::h100());
  CHECK_FALSE(whole_torus_slice(gpus, all_devices(gpus)).has_value());
}

TEST_CASE("network::start_all_to_all times as the explicit flows do", "[net]") {
  const auto torus = torus_of({4, 3, 2}, {true, false, false});
  const auto gpus = topo::build_cluster(topo::test::dgx_h100(2), topo::test::h100());
  for (const auto* t : {&torus, &gpus}) {
    for (const auto model : {timing_model::analytical, timing_model::flow}) {
      const double bytes = 5e6;
      auto ranks = all_devices(*t);
      std::reverse(ranks.begin(), ranks.end());
      network_params p;
      p.model = model;
      sim::time_ps explicit_done = 0;
      std::uint64_t explicit_flows = 0;
      {
        sim::simulation sim(1);
        network net(sim, *t, p);
        std::vector<flow_request> flows;
        for (auto s : ranks)
          for (auto d : ranks)
            if (s != d) flows.push_back({s, d, bytes, 0});
        net.start_batch(flows, [&](std::size_t) { explicit_done = sim.now(); });
        sim.run();
        explicit_flows = net.stats().flows;
      }
      sim::simulation sim(1);
      network net(sim, *t, p);
      sim::time_ps done = -1;
      int calls = 0;
      net.start_all_to_all(ranks, bytes, [&] {
        done = sim.now();
        ++calls;
      });
      sim.run();
      INFO(t->label << (model == timing_model::flow ? " flow" : " analytical"));
      CHECK(calls == 1);
      CHECK(std::llabs(done - explicit_done) <= 1);
      CHECK(net.stats().flows == explicit_flows);
    }
  }
}

TEST_CASE("a whole-slice all-to-all is planned implicitly and timed as explicit flows", "[net]") {
  const auto t = topo::build_cluster(
      topo::test::tpu_cluster("tpu-ironwood", "4x4x8", topo::test::v5p_rule(), "2x2x1"),
      topo::test::tpu_ironwood());
  collective_spec spec;
  spec.op = collective_op::all_to_all;
  spec.bytes = 256.0 * 1024 * 1024;
  const auto implicit = plan_collective(t, {}, spec);
  REQUIRE(implicit.phases.size() == 1);
  CHECK(implicit.phases[0].flows.empty());
  CHECK(implicit.phases[0].exchange_ranks.size() == 128);
  // The same exchange as 128 x 127 explicit flows (all-to-all-v plans flows one by one).
  const std::vector<double> m(128 * 128, spec.bytes / 128);
  const auto explicit_plan = plan_all_to_all_v(t, m, 128, collective_algorithm::direct);
  REQUIRE(explicit_plan.phases.size() == 1);
  CHECK(explicit_plan.phases[0].flows.size() == 128 * 127);
  CHECK(implicit.phases[0].wire_latency_ps == explicit_plan.phases[0].wire_latency_ps);
  CHECK_FALSE(implicit.phases[0].scale_out);
  for (const auto model : {timing_model::analytical, timing_model::flow}) {
    const auto a = time_collective(t, {}, implicit, model, protocol::simple);
    const auto b = time_collective(t, {}, explicit_plan, model, protocol::simple);
    CHECK(std::llabs(a.elapsed_ps - b.elapsed_ps) <= 1);
    CHECK(a.stats.flows == b.stats.flows);
  }
}
