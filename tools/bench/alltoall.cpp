// Skewed all-to-all-v on the flow-level network (issue 3 speed targets): every GPU sends to
// every other GPU; per-pair sizes have mean 1 MiB, with destinations weighted Zipf(1.1) per
// source (a seeded random ranking of the destinations per source). Measures the wall time of
// simulating the whole exchange, and the effect of the named re-solve quantum on the makespan.
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <ostream>

#include "sim/engine/simulation.hpp"
#include "sim/io/spec_loader.hpp"
#include "sim/net/network.hpp"
#include "tools/bench/bench.hpp"
#include "topologies/cluster.hpp"

namespace moesim::bench {

namespace {

std::vector<sim::net::flow_request> skewed_flows(int ranks, std::uint64_t seed) {
  rng r = rng::stream(seed, "alltoall");
  std::vector<double> zipf(static_cast<std::size_t>(ranks - 1));
  for (std::size_t i = 0; i < zipf.size(); ++i)
    zipf[i] = 1.0 / std::pow(static_cast<double>(i + 1), 1.1);
  const double zsum = std::accumulate(zipf.begin(), zipf.end(), 0.0);
  const double mean = 1024.0 * 1024.0;
  std::vector<sim::net::flow_request> flows;
  flows.reserve(static_cast<std::size_t>(ranks) * static_cast<std::size_t>(ranks - 1));
  std::vector<int> order(static_cast<std::size_t>(ranks - 1));
  for (int src = 0; src < ranks; ++src) {
    std::iota(order.begin(), order.end(), 0);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[r.below(i)]);
    for (std::size_t k = 0; k < order.size(); ++k) {
      const int dst = order[k] < src ? order[k] : order[k] + 1;
      const double bytes = std::round(mean * static_cast<double>(ranks - 1) * zipf[k] / zsum);
      flows.push_back({src, dst, bytes,
                       static_cast<std::uint64_t>(src) * 65536U + static_cast<std::uint64_t>(dst)});
    }
  }
  return flows;
}

struct result {
  double wall_s = 0;
  double makespan_s = 0;
  std::uint64_t solves = 0;
  std::size_t flows = 0;
  std::vector<sim::time_ps> done;  ///< per flow: when its last byte arrived
};

result run(int nodes, double q, std::uint64_t seed) {
  const auto c = io::load_cluster("dgx-h100", {fmt::format("nodes={}", nodes)});
  const auto topo = topo::build_cluster(c.cluster, c.chip);
  const auto flows = skewed_flows(topo.device_count(), seed);
  const auto t0 = std::chrono::steady_clock::now();
  sim::simulation sim(seed);
  sim::net::network_params p;
  p.scale_up_efficiency = c.chip.efficiency.link.value_or(1.0);
  p.scale_out_efficiency = c.chip.efficiency.nic.value_or(1.0);
  p.resolve_quantum = q;
  sim::net::network net(sim, topo, p);
  sim::time_ps last = 0;
  std::vector<sim::time_ps> done(flows.size(), 0);
  net.start_batch(flows, [&](std::size_t i) {
    last = sim.now();
    done[i] = last;
  });
  sim.run();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {wall, sim::seconds(last), net.stats().solves, flows.size(), std::move(done)};
}

// Relative error of each flow's completion time against the exact solve's, sorted.
std::vector<double> flow_errors(const result& quick, const result& exact) {
  std::vector<double> e(exact.done.size());
  for (std::size_t i = 0; i < e.size(); ++i) {
    const auto x = static_cast<double>(exact.done[i]);
    e[i] = std::abs(static_cast<double>(quick.done[i]) - x) / x;
  }
  std::sort(e.begin(), e.end());
  return e;
}

double percentile(const std::vector<double>& sorted, double p) {
  const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[i];
}

}  // namespace

int alltoall(const options& opt, std::ostream& out) {
  struct row {
    int nodes;
    double quantum;   // the named re-solve quantum of network_params
    double target_s;  // 0: no target (the row shows how wall time grows with flows)
    result r;
  };
  // 64 -> 1024 GPUs at q = 0.02: flows grow 260x; linear cost keeps wall time per flow flat.
  // The exact solve of the 256-GPU case gives a makespan of 10.9346 ms (153 s of wall time);
  // q = 0.02 stays within 0.3% of it, q = 0.01 within 0.2%.
  std::vector<row> rows{{8, 0.02, 0, {}},    {16, 0.02, 0, {}},    {32, 0.02, 0.5, {}},
                        {64, 0.02, 0, {}},   {128, 0.02, 8.0, {}}, {32, 0.03, 0.5, {}},
                        {128, 0.03, 8.0, {}}};
  for (auto& w : rows) w.r = run(w.nodes, w.quantum, opt.seed);
  if (opt.json) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& w : rows) {
      nlohmann::ordered_json o{
          {"cluster", fmt::format("dgx-h100 x{}", w.nodes)},
          {"gpus", w.nodes * 8},
          {"flows", w.r.flows},
          {"resolve_quantum", w.quantum},
          {"wall_s", w.r.wall_s},
          {"wall_ns_per_flow", w.r.wall_s / static_cast<double>(w.r.flows) * 1e9},
          {"simulated_makespan_s", w.r.makespan_s},
          {"solves", w.r.solves}};
      if (w.target_s > 0) o["target_wall_s"] = w.target_s;
      j.push_back(std::move(o));
    }
    out << j.dump(2) << "\n";
    return 0;
  }
  fmt::print(out, "skewed all-to-all-v, flow model, mean 1 MiB per pair, Zipf(1.1) destinations\n");
  fmt::print(out, "  {:<16} {:>6} {:>9} {:>8} {:>10} {:>10} {:>12} {:>8}\n", "cluster", "GPUs",
             "flows", "quantum", "wall", "per flow", "makespan", "solves");
  for (const auto& w : rows) {
    fmt::print(out, "  {:<16} {:>6} {:>9} {:>8} {:>8.3f} s {:>7.0f} ns {:>9.3f} ms {:>8}{}\n",
               fmt::format("dgx-h100 x{}", w.nodes), w.nodes * 8, w.r.flows, w.quantum, w.r.wall_s,
               w.r.wall_s / static_cast<double>(w.r.flows) * 1e9, w.r.makespan_s * 1e3, w.r.solves,
               w.target_s > 0 ? fmt::format("   (target <= {} s)", w.target_s) : std::string());
  }
  return 0;
}

int alltoall_exact(const options& opt, std::ostream& out) {
  // The same 256-GPU exchange as alltoall's target row, solved exactly (every finish re-solves:
  // minutes of wall time) and with the named re-solve quantum: how far the approximation moves
  // the makespan and each flow's completion time.
  constexpr int nodes = 32;
  const result exact = run(nodes, 0.0, opt.seed);
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  if (!opt.json) {
    fmt::print(out,
               "skewed all-to-all-v on dgx-h100 x{} ({} flows): exact solve {:.1f} s wall, "
               "{} solves, makespan {:.4f} ms\n",
               nodes, exact.flows, exact.wall_s, exact.solves, exact.makespan_s * 1e3);
    fmt::print(out, "  {:>8} {:>9} {:>8} {:>10}   per-flow |error|: {:>7} {:>7} {:>7} {:>7}\n",
               "quantum", "wall", "solves", "makespan", "median", "p90", "p99", "worst");
  }
  for (const double q : {0.01, 0.02, 0.03}) {
    const result quick = run(nodes, q, opt.seed);
    const auto e = flow_errors(quick, exact);
    const double mk = quick.makespan_s / exact.makespan_s - 1;
    if (opt.json) {
      rows.push_back({{"resolve_quantum", q},
                      {"wall_s", quick.wall_s},
                      {"solves", quick.solves},
                      {"makespan_error", mk},
                      {"flow_error_median", percentile(e, 0.5)},
                      {"flow_error_p90", percentile(e, 0.9)},
                      {"flow_error_p99", percentile(e, 0.99)},
                      {"flow_error_max", e.back()}});
      continue;
    }
    fmt::print(out,
               "  {:>8} {:>7.3f} s {:>8} {:>+9.2f}%   {:>25.2f}% {:>6.2f}% {:>6.2f}% {:>6.2f}%\n",
               q, quick.wall_s, quick.solves, mk * 100, percentile(e, 0.5) * 100,
               percentile(e, 0.9) * 100, percentile(e, 0.99) * 100, e.back() * 100);
  }
  if (opt.json) {
    out << nlohmann::ordered_json{{"gpus", nodes * 8},
                                  {"flows", exact.flows},
                                  {"exact_wall_s", exact.wall_s},
                                  {"exact_solves", exact.solves},
                                  {"exact_makespan_s", exact.makespan_s},
                                  {"quantum", rows}}
               .dump(2)
        << "\n";
  }
  return 0;
}

}  // namespace moesim::bench
