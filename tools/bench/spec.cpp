// Speculative decoding's grid speed (issue 13): the whole spec-decode-mixtral grid (spec-grid; and
// spec-decode-offload's, spec-grid-offload) as `moesim
// run` evaluates it (the scenario as written, then every batch x k x policy point, each its own
// closed-loop serving simulation, the points on the machine's cores), against a target of 60 s
// on 2 cores. Reports the wall time, the points, the cost of a point (core-seconds: each point
// runs on one thread) overall and per batch size, where the cost grows with the batch's
// iterations' routing.
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <thread>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/simulate.hpp"
#include "sim/run/speculative_grid.hpp"
#include "tools/bench/bench.hpp"

namespace moesim::bench {

namespace {

using clock_type = std::chrono::steady_clock;

/// Grid `name` (a shipped scenario) against a wall-time target.
int grid_of(const char* name, double target_s, const options& opt, std::ostream& out);

}  // namespace

int spec_grid(const options& opt, std::ostream& out) {
  return grid_of("spec-decode-mixtral", 60, opt, out);
}

int spec_grid_offload(const options& opt, std::ostream& out) {
  // No target of its own: the mixtral grid's 60 s on 2 cores bounds a spec grid.
  return grid_of("spec-decode-offload", 60, opt, out);
}

namespace {

int grid_of(const char* name, double target_s, const options& opt, std::ostream& out) {
  io::load_options lo;
  lo.seed = opt.seed;
  const auto set = io::load_shipped_scenario(name, lo);
  const int threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  // What simulate() does for a scenario with a grid (sim/run/serving.cpp), with each point
  // timed: the scenario as written without its grid, then the grid's points.
  sim::run::scenario base = set.base;
  auto& sp = *base.workload.serve->speculative;
  sp.batch_sizes.clear();
  sp.draft_lengths.clear();
  sp.policies.clear();
  std::mutex m;
  std::map<int, std::pair<int, double>> per_batch;  // batch -> points, core-seconds
  double point_s = 0;
  const auto t0 = clock_type::now();
  {
    sim::trace_recorder trace(false);
    (void)sim::run::simulate(base, trace, {threads});
  }
  const double base_wall = since(t0);
  const auto points =
      sim::run::speculative_grid(set.base, threads, [&](const sim::run::scenario& p) {
        const auto p0 = clock_type::now();
        sim::trace_recorder off(false);
        auto r = sim::run::simulate(p, off, {1});
        const double s = since(p0);
        const std::scoped_lock lock(m);
        auto& b = per_batch[static_cast<int>(p.workload.serve->requests.count)];
        ++b.first;
        b.second += s;
        point_s += s;
        return r;
      });
  const double wall = since(t0);
  const auto n = static_cast<double>(points.size());
  const bool met = wall <= target_s;
  if (opt.json) {
    nlohmann::ordered_json batches = nlohmann::ordered_json::array();
    for (const auto& [b, x] : per_batch) {
      batches.push_back({{"batch", b}, {"points", x.first}, {"point_s", x.second / x.first}});
    }
    nlohmann::ordered_json j{{"scenario", name},
                             {"points", points.size()},
                             {"wall_s", wall},
                             {"base_wall_s", base_wall},
                             {"point_core_s", point_s / n},
                             {"wall_per_point_s", wall / n},
                             {"by_batch", batches},
                             {"threads", threads},
                             {"target_wall_s", target_s},
                             {"met", met}};
    out << j.dump(2) << "\n";
    return 0;
  }
  fmt::print(out,
             "{} grid: {} points in {:.2f} s wall (scenario as written {:.2f} s; target <= "
             "{:g} s: {}), {:.3f} s per point on one core, {:.3f} s wall per point, {} threads\n",
             name, points.size(), wall, base_wall, target_s, met ? "met" : "NOT met", point_s / n,
             wall / n, threads);
  fmt::print(out, "  {:>6} {:>7} {:>12}\n", "batch", "points", "s per point");
  for (const auto& [b, x] : per_batch) {
    fmt::print(out, "  {:>6} {:>7} {:>12.3f}\n", b, x.first, x.second / x.first);
  }
  return 0;
}

}  // namespace

}  // namespace moesim::bench
