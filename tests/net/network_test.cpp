// The network in time: hand-solved flow timings on an NVSwitch node, agreement of the flow and
// analytical models on uniform traffic, and the error bound of the re-solve quantum.
#include <catch2/catch.hpp>
#include <cmath>
#include <numeric>

#include "sim/engine/simulation.hpp"
#include "sim/net/network.hpp"
#include "tests/topo/specs.hpp"
#include "topologies/cluster.hpp"

using namespace moesim;
using sim::net::flow_request;
using sim::net::network;
using sim::net::network_params;

namespace {

struct timed {
  std::vector<sim::time_ps> done;
  std::uint64_t solves = 0;
  [[nodiscard]] sim::time_ps makespan() const { return *std::max_element(done.begin(), done.end()); }
};

timed run_flows(const topo::topology& t, const std::vector<flow_request>& flows,
                network_params p) {
  sim::simulation sim(1);
  network net(sim, t, p);
  timed out;
  out.done.assign(flows.size(), -1);
  net.start_batch(flows, [&](std::size_t i) { out.done[i] = sim.now(); });
  sim.run();
  out.solves = net.stats().solves;
  return out;
}

std::vector<flow_request> skewed_all_to_all(int ranks, std::uint64_t seed) {
  rng r = rng::stream(seed, "test.alltoall");
  std::vector<flow_request> flows;
  for (int s = 0; s < ranks; ++s) {
    for (int d = 0; d < ranks; ++d) {
      if (s == d) continue;
      // Zipf-like sizes: a few heavy pairs, many light ones.
      const double w = 1.0 / std::pow(static_cast<double>(r.below(static_cast<std::uint64_t>(ranks)) + 1), 1.1);
      flows.push_back({s, d, std::round(4e6 * w) + 1, static_cast<std::uint64_t>(s * ranks + d)});
    }
  }
  return flows;
}

}  // namespace

TEST_CASE("one flow through an NVSwitch takes bytes / port bandwidth + latency") {
  const auto t = topo::build_cluster(topo::test::dgx_h100(1), topo::test::h100());
  // Port: 18 links x 25 GB/s = 450 GB/s per direction; the preset's efficiency scales it.
  network_params p;
  p.scale_up_efficiency = 0.8;
  const double bytes = 360e6;
  const auto r = run_flows(t, {{0, 1, bytes, 0}}, p);
  // 360e6 / (450e9 * 0.8) = 1 ms, plus one NVLink hop of 0.47 us (GPU -> switch -> GPU).
  CHECK(r.done[0] == sim::ps_per_ms + 470'000);
}

TEST_CASE("flows sharing a GPU's port split it; a freed port speeds the survivor up") {
  const auto t = topo::build_cluster(topo::test::dgx_h100(1), topo::test::h100());
  network_params p;
  // GPU 0 sends 450 MB to GPU 1 and 900 MB to GPU 2 over its one 450 GB/s port:
  // both run at 225 GB/s until the first finishes at 2 ms (450 MB sent each); then the second
  // has 450 MB left at 450 GB/s: 1 ms more. Latency 0.47 us on each.
  const auto r = run_flows(t, {{0, 1, 450e6, 0}, {0, 2, 900e6, 0}}, p);
  CHECK(r.done[0] == 2 * sim::ps_per_ms + 470'000);
  CHECK(r.done[1] == 3 * sim::ps_per_ms + 470'000);
}

TEST_CASE("a local copy and an empty flow complete without bandwidth") {
  const auto t = topo::build_cluster(topo::test::dgx_h100(1), topo::test::h100());
  const auto r = run_flows(t, {{3, 3, 1e9, 0}, {0, 1, 0.0, 0}}, {});
  CHECK(r.done[0] == 0);
  CHECK(r.done[1] == 470'000);
}

TEST_CASE("flow and analytical models agree within 10% on uniform all-to-all") {
  for (int nodes : {1, 4}) {
    const auto t = topo::build_cluster(topo::test::dgx_h100(nodes), topo::test::h100());
    const int n = t.device_count();
    std::vector<flow_request> flows;
    for (int s = 0; s < n; ++s) {
      for (int d = 0; d < n; ++d) {
        if (s != d) flows.push_back({s, d, 8e6, static_cast<std::uint64_t>(s * n + d)});
      }
    }
    network_params flow;
    network_params analytical;
    analytical.model = sim::net::timing_model::analytical;
    const double f = static_cast<double>(run_flows(t, flows, flow).makespan());
    const double a = static_cast<double>(run_flows(t, flows, analytical).makespan());
    INFO(nodes << " nodes: flow " << f * 1e-9 << " ms, analytical " << a * 1e-9 << " ms");
    CHECK(std::abs(f / a - 1.0) <= 0.10);
  }
}

TEST_CASE("the re-solve quantum keeps a skewed all-to-all within 1% of the exact solve") {
  // 64 GPUs (8 nodes), 4032 flows of Zipf-like sizes: exact max-min vs q = 0.01.
  const auto t = topo::build_cluster(topo::test::dgx_h100(8), topo::test::h100());
  const auto flows = skewed_all_to_all(t.device_count(), 3);
  network_params exact_p;
  network_params quantum_p;
  quantum_p.resolve_quantum = 0.01;
  const auto exact = run_flows(t, flows, exact_p);
  const auto quick = run_flows(t, flows, quantum_p);
  CHECK(quick.solves * 4 < exact.solves);  // the point of the quantum
  const double mk = static_cast<double>(quick.makespan()) / static_cast<double>(exact.makespan());
  INFO("makespan ratio " << mk << ", solves " << quick.solves << " vs " << exact.solves);
  CHECK(std::abs(mk - 1.0) <= 0.01);
  // Per flow: a delayed re-solve mostly delays (freed capacity is not handed out yet), but in
  // max-min a flow can also gain from another's delay, so errors go both ways.
  double worst = 0;
  for (std::size_t i = 0; i < flows.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(quick.done[i] - exact.done[i])) /
                                static_cast<double>(exact.done[i]));
  }
  INFO("worst per-flow relative error " << worst);
  CHECK(worst <= 0.03);
}
