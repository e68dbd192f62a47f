// The network in time: hand-solved flow timings on an NVSwitch node, agreement of the flow and
// analytical models on uniform traffic, and the error bound of the re-solve quantum.
#include "sim/net/network.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <numeric>
#include <tuple>

#include "sim/engine/simulation.hpp"
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
  [[nodiscard]] sim::time_ps makespan() const {
    return *std::max_element(done.begin(), done.end());
  }
};

timed run_flows(const topo::topology& t, const std::vector<flow_request>& flows, network_params p) {
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
      const double w =
          1.0 / std::pow(static_cast<double>(r.below(static_cast<std::uint64_t>(ranks)) + 1), 1.1);
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

TEST_CASE("flows sharing a GPU's port split it, a freed port speeds the survivor up") {
  const auto t = topo::build_cluster(topo::test::dgx_h100(1), topo::test::h100());
  network_params p;
  // GPU 0 sends 450 MB to GPU 1 and 900 MB to GPU 2 over its one 450 GB/s port:
  // both run at 225 GB/s until the first finishes at 2 ms (450 MB sent each); then the second
  // has 450 MB left at 450 GB/s: 1 ms more. Latency 0.47 us on each.
  const auto r = run_flows(t, {{0, 1, 450e6, 0}, {0, 2, 900e6, 0}}, p);
  CHECK(r.done[0] == 2 * sim::ps_per_ms + 470'000);
  CHECK(r.done[1] == 3 * sim::ps_per_ms + 470'000);
}

TEST_CASE("analytical batches in flight at once queue on the links they share") {
  // Two batches started 0.5 ms apart, each GPU 0 -> GPU 1 with 450 MB over its 450 GB/s port.
  // Alone each takes 1 ms. The second queues behind the first on the shared port: its last
  // byte leaves at 2 ms (the port is busy 0..2 ms), not at 1.5 ms as if it had the port to
  // itself. The flow model, sharing fairly, ends at the same 2 ms; a batch on other links
  // (GPU 2 -> GPU 3) does not wait.
  const auto t = topo::build_cluster(topo::test::dgx_h100(1), topo::test::h100());
  for (const auto model : {sim::net::timing_model::analytical, sim::net::timing_model::flow}) {
    INFO((model == sim::net::timing_model::flow ? "flow" : "analytical"));
    sim::simulation sim(1);
    network_params p;
    p.model = model;
    network net(sim, t, p);
    sim::time_ps first = -1, second = -1, other = -1;
    const flow_request f{0, 1, 450e6, 0};
    const flow_request g{2, 3, 450e6, 0};
    net.start_batch(std::span(&f, 1), [&](std::size_t) { first = sim.now(); });
    sim.schedule_in(sim::ps_per_ms / 2, [&] {
      net.start_batch(std::span(&f, 1), [&](std::size_t) { second = sim.now(); });
      net.start_batch(std::span(&g, 1), [&](std::size_t) { other = sim.now(); });
    });
    sim.run();
    CHECK(second == 2 * sim::ps_per_ms + 470'000);
    CHECK(other == 3 * sim::ps_per_ms / 2 + 470'000);
    if (model == sim::net::timing_model::analytical) CHECK(first == sim::ps_per_ms + 470'000);
  }
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
  // 64 GPUs (8 nodes), 4032 flows of Zipf-like sizes: exact max-min vs q = 0.02.
  const auto t = topo::build_cluster(topo::test::dgx_h100(8), topo::test::h100());
  const auto flows = skewed_all_to_all(t.device_count(), 3);
  network_params exact_p;
  network_params quantum_p;
  quantum_p.resolve_quantum = 0.02;
  const auto exact = run_flows(t, flows, exact_p);
  const auto quick = run_flows(t, flows, quantum_p);
  CHECK(quick.solves * 8 < exact.solves);  // the point of the quantum
  const double mk = static_cast<double>(quick.makespan()) / static_cast<double>(exact.makespan());
  INFO("makespan ratio " << mk << ", solves " << quick.solves << " vs " << exact.solves);
  // Measured 1.0021 (was 1.014 before finishes that free over q of the throughput re-solved
  // at once).
  CHECK(std::abs(mk - 1.0) <= 0.005);
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

TEST_CASE("groups over planned routes time exactly as the same flows would") {
  // Two nodes; a skewed exchange where some connections carry nothing (no flow) and some are
  // local copies. Each flow belongs to its receiver's group.
  const auto t = topo::build_cluster(topo::test::dgx_h100(2), topo::test::h100());
  const int n = t.device_count();
  rng r = rng::stream(9, "test.groups");
  std::vector<sim::net::connection> conns;
  std::vector<double> bytes;
  std::vector<std::uint32_t> receiver;
  std::vector<flow_request> flows;
  std::vector<std::uint32_t> flow_receiver;
  for (int s = 0; s < n; ++s) {
    for (int d = 0; d < n; ++d) {
      const double b = r.below(4) == 0 ? 0.0 : 1e6 * static_cast<double>(1 + r.below(8));
      conns.push_back({s, d, 7});
      bytes.push_back(b);
      receiver.push_back(static_cast<std::uint32_t>(d));
      if (b > 0) {
        flows.push_back({s, d, b, 7});
        flow_receiver.push_back(static_cast<std::uint32_t>(d));
      }
    }
  }
  for (const auto model : {sim::net::timing_model::flow, sim::net::timing_model::analytical}) {
    network_params p;
    p.model = model;
    std::vector<sim::time_ps> by_flows(static_cast<std::size_t>(n), -1);
    std::vector<sim::time_ps> by_routes(static_cast<std::size_t>(n), -1);
    std::uint64_t flow_count = 0;
    double flow_bytes = 0;
    {
      sim::simulation sim(1);
      network net(sim, t, p);
      net.start_groups(flows, flow_receiver, static_cast<std::size_t>(n),
                       [&](std::size_t g) { by_flows[g] = sim.now(); });
      sim.run();
      flow_count = net.stats().flows;
      flow_bytes = net.stats().bytes;
    }
    sim::simulation sim(1);
    network net(sim, t, p);
    const auto routes = net.plan_routes(conns);
    REQUIRE(routes.size() == conns.size());
    net.start_groups(routes, bytes, receiver, static_cast<std::size_t>(n),
                     [&](std::size_t g) { by_routes[g] = sim.now(); });
    sim.run();
    CHECK(by_routes == by_flows);
    CHECK(net.stats().flows == flow_count);
    CHECK(net.stats().bytes == flow_bytes);
  }
}

TEST_CASE("an indexed route set times batches in flight exactly as path by path") {
  // Three skewed exchanges started 1 us apart on two nodes, so later batches queue behind
  // earlier ones on shared links: the link-major sums of an indexed set (plan_routes) give the
  // same group times and counts as charging each path of the same, unindexed, set.
  const auto t = topo::build_cluster(topo::test::dgx_h100(2), topo::test::h100());
  const int n = t.device_count();
  std::vector<sim::net::connection> conns;
  std::vector<std::uint32_t> receiver;
  for (int s = 0; s < n; ++s) {
    for (int d = 0; d < n; ++d) {
      conns.push_back({s, d, static_cast<std::uint64_t>(s * n + d)});
      receiver.push_back(static_cast<std::uint32_t>(d));
    }
  }
  rng r = rng::stream(11, "test.indexed");
  std::vector<std::vector<double>> batches(3);
  for (auto& b : batches) {
    for (std::size_t i = 0; i < conns.size(); ++i)
      b.push_back(r.below(3) == 0 ? 0.0 : 1e5 * static_cast<double>(1 + r.below(50)));
  }
  auto run = [&](bool indexed) {
    sim::simulation sim(1);
    network_params p;
    p.model = sim::net::timing_model::analytical;
    network net(sim, t, p);
    sim::net::route_set routes = net.plan_routes(conns);
    REQUIRE(routes.indexed());
    if (!indexed) {
      routes.clear();
      const topo::router router(t);
      for (const auto& c : conns) routes.add(t, router, c);
      REQUIRE_FALSE(routes.indexed());
    }
    std::vector<sim::time_ps> done;
    for (std::size_t k = 0; k < batches.size(); ++k) {
      sim.schedule_at(static_cast<sim::time_ps>(k) * 1'000'000, [&, k] {
        net.start_groups(routes, batches[k], receiver, static_cast<std::size_t>(n),
                         [&](std::size_t) { done.push_back(sim.now()); });
      });
    }
    sim.run();
    return std::tuple{done, net.stats().flows, net.stats().bytes};
  };
  CHECK(run(true) == run(false));
}

TEST_CASE("a route set's link index lists each link's crossings in connection order") {
  const auto t = topo::build_cluster(topo::test::dgx_h100(1), topo::test::h100());
  sim::simulation sim(1);
  network net(sim, t, network_params{});
  // 0->1, 0->2, 1->2 and a local copy: GPU 0's uplink is crossed by the first two, GPU 2's
  // downlink by the second and third.
  const std::vector<sim::net::connection> conns{{0, 1, 0}, {0, 2, 0}, {1, 2, 0}, {3, 3, 0}};
  const auto routes = net.plan_routes(conns);
  REQUIRE(routes.indexed());
  std::size_t hops = 0;
  for (std::size_t i = 0; i < routes.size(); ++i) hops += routes.links(i).size();
  std::size_t listed = 0;
  for (std::size_t k = 0; k < routes.used_links().size(); ++k) {
    const auto c = routes.crossing(k);
    listed += c.size();
    CHECK(std::is_sorted(c.begin(), c.end()));
    if (k > 0) CHECK(routes.crossing(k - 1).size() >= c.size());  // the most crossed first
    for (const std::uint32_t f : c) {
      const auto path = routes.links(f);
      CHECK(std::find(path.begin(), path.end(), routes.used_links()[k]) != path.end());
    }
  }
  CHECK(listed == hops);
  CHECK(routes.links(3).empty());
  CHECK(routes.crossing(0).size() == 2);
}

TEST_CASE("a traffic observer hears each batch once, with its span and bytes per link") {
  const auto t = topo::build_cluster(topo::test::dgx_h100(1), topo::test::h100());
  for (const auto model : {sim::net::timing_model::flow, sim::net::timing_model::analytical}) {
    network_params p;
    p.model = model;
    sim::simulation sim(1);
    network net(sim, t, p);
    struct report {
      sim::time_ps start;
      sim::time_ps end;
      std::vector<network::link_traffic> links;
    };
    std::vector<report> reports;
    net.observe_traffic(
        [&](sim::time_ps start, sim::time_ps end, std::span<const network::link_traffic> links) {
          reports.push_back({start, end, {links.begin(), links.end()}});
        });
    // As "flows sharing a GPU's port": GPU 0's port carries both flows; the analytical model
    // times both by that port (1350 MB at 450 GB/s = 3 ms).
    net.start_batch({{{0, 1, 450e6, 0}, {0, 2, 900e6, 0}, {5, 5, 1e9, 0}}}, [](std::size_t) {});
    sim.run();
    REQUIRE(reports.size() == 1);
    CHECK(reports[0].start == 0);
    CHECK(reports[0].end == 3 * sim::ps_per_ms + 470'000);
    double up = 0;
    double total = 0;
    for (const auto& l : reports[0].links) {
      up = std::max(up, l.bytes);
      total += l.bytes;
    }
    CHECK(up == 1350e6);         // GPU 0 -> switch
    CHECK(total == 2 * 1350e6);  // and the two switch -> GPU ports; the local copy: nothing
    CHECK(reports[0].links.size() == 3);
  }
}
