// Wall time per simulated step of the flagship scenarios (issue 5 speed targets): simulating a
// training step should take no longer than the step it simulates, a decode step at most 10x
// its simulated time, and the 9216-chip Ironwood pod at most 4 GiB. Runs each shipped scenario
// as written (its base, not its strategies), with the routing maths on the machine's cores.
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/simulate.hpp"
#include "tools/bench/bench.hpp"

namespace moesim::bench {

namespace {

struct target {
  const char* scenario;
  double max_wall_over_step;  ///< the target ratio
};

}  // namespace

int steps(const options& opt, std::ostream& out) {
  // Ironwood first: its peak memory is then the process's peak so far.
  const std::vector<target> targets{{"gemini-moe-ironwood", 10.0},
                                    {"deepseek-v3-decode-h800", 10.0},
                                    {"mixtral-8x7b-train-h100", 1.0},
                                    {"deepseek-v3-train-h800", 1.0}};
  const int threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  if (!opt.json) {
    fmt::print(out, "{:<26} {:>7} {:>12} {:>10} {:>12} {:>9} {:>7} {:>10}\n", "scenario", "devices",
               "step (sim)", "wall", "wall/step", "target", "met", "peak RSS");
  }
  for (const auto& t : targets) {
    io::load_options lo;
    lo.seed = opt.seed;
    const auto set = io::load_shipped_scenario(t.scenario, lo);
    sim::trace_recorder trace(false);
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = sim::run::simulate(set.base, trace, {threads});
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double per_step = wall / r.steps;
    const double ratio = per_step / r.step_time_s;
    const double rss = peak_rss_bytes();
    const bool met = ratio <= t.max_wall_over_step;
    if (opt.json) {
      rows.push_back({{"scenario", t.scenario},
                      {"devices", r.devices},
                      {"simulated_step_s", r.step_time_s},
                      {"wall_per_step_s", per_step},
                      {"wall_over_step", ratio},
                      {"target_wall_over_step", t.max_wall_over_step},
                      {"met", met},
                      {"peak_rss_bytes", rss},
                      {"threads", threads}});
    } else {
      fmt::print(out,
                 "{:<26} {:>7} {:>10.4g} s {:>8.3g} s {:>11.3g}x {:>8.3g}x {:>7} {:>6.0f} MiB\n",
                 t.scenario, r.devices, r.step_time_s, per_step, ratio, t.max_wall_over_step,
                 met ? "yes" : "NO", rss / (1 << 20));
    }
  }
  if (opt.json) {
    out << rows.dump(2) << "\n";
  } else {
    fmt::print(out, "({} threads for the routing maths; peak RSS is the process's so far)\n",
               threads);
  }
  return 0;
}

}  // namespace moesim::bench
