// Rebalancing's cost in wall time (issue 14: at most 1.2x): serve-mixtral-h100 as written over a
// 60 s Poisson trace, its experts placed by EPLB with 8 redundant slots, run twice: static, and
// rebalanced in the background every 50 iterations from the last 50 passes' loads (each
// rebalance recomputes EPLB for every layer, diffs the slot tables and moves the changed
// experts' weights as flows). Reports both wall times and their ratio.
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <thread>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/simulate.hpp"
#include "tools/bench/bench.hpp"

namespace moesim::bench {

namespace {

struct timed_run {
  double wall_s = 0;
  double simulated_s = 0;
  int iterations = 0;
  int rebalances = 0;
};

timed_run run_once(const options& opt, bool rebalance) {
  io::load_options lo;
  lo.seed = opt.seed;
  lo.overrides = {"workload.serve.duration_s=60", "moe.placement.strategy=eplb",
                  "moe.placement.redundant_experts=8"};
  if (rebalance) {
    lo.overrides.insert(lo.overrides.end(),
                        {"moe.placement.rebalance.every=50", "moe.placement.rebalance.window=50",
                         "moe.placement.rebalance.mode=background"});
  }
  const auto set = io::load_shipped_scenario("serve-mixtral-h100", lo);
  const int threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  sim::trace_recorder trace(false);
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = sim::run::simulate(set.base, trace, {threads});
  timed_run t;
  t.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t.simulated_s = r.simulated_time_s;
  t.iterations = static_cast<int>(r.steps);
  t.rebalances = r.placement ? r.placement->rebalances : 0;
  return t;
}

}  // namespace

int rebalance(const options& opt, std::ostream& out) {
  const timed_run still = run_once(opt, false);
  const timed_run moving = run_once(opt, true);
  const double ratio = moving.wall_s / still.wall_s;
  constexpr double target = 1.2;
  if (opt.json) {
    nlohmann::ordered_json j{{"scenario", "serve-mixtral-h100"},
                             {"placement", "eplb, 8 redundant experts"},
                             {"arrivals_s", 60},
                             {"static_wall_s", still.wall_s},
                             {"static_iterations", still.iterations},
                             {"rebalanced_wall_s", moving.wall_s},
                             {"rebalanced_iterations", moving.iterations},
                             {"rebalances", moving.rebalances},
                             {"wall_ratio", ratio},
                             {"target_wall_ratio", target},
                             {"met", ratio <= target}};
    out << j.dump(2) << "\n";
    return 0;
  }
  fmt::print(out,
             "rebalance: serve-mixtral-h100, eplb + 8 redundant experts, 60 s of arrivals\n"
             "  static      {:.3f} s wall, {} iterations\n"
             "  rebalanced  {:.3f} s wall, {} iterations, {} rebalances (background, every 50)\n"
             "  ratio       {:.3f} (target at most {})\n",
             still.wall_s, still.iterations, moving.wall_s, moving.iterations, moving.rebalances,
             ratio, target);
  return 0;
}

}  // namespace moesim::bench
