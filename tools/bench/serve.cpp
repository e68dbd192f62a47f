// Serving speed (issue 12), each a shipped scenario as written (its base, not its strategies)
// over a longer trace, against real time:
//  - `serve`: a 10-minute Poisson trace of Mixtral 8x7B on 8xH100 (serve-mixtral-h100, EP8)
//    at 95 requests/s: about 60 sequences per GPU in flight on average against the
//    scheduler's 64 per rank, just under the rate where the queue grows without bound (~100/s
//    with one scheduler per attention-DP rank); at least 10x faster than real time.
//  - `serve-pd`: a 1-minute trace of the disaggregated DeepSeek-V3 scenario (serve-deepseek-v3-pd:
//    a prefill instance of EP32 and a decode instance of EP64 on 12 nodes, 40 requests/s); at
//    least as fast as real time.
// Reports the wall time, the simulated window, their ratio, the wall time per iteration and the
// sequences in flight.
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <thread>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/simulate.hpp"
#include "tools/bench/bench.hpp"

namespace moesim::bench {

namespace {

struct serving_case {
  const char* scenario;
  const char* label;           ///< what the scenario serves, for the report
  std::optional<double> rate;  ///< requests/s, else the scenario's
  double duration_s;           ///< arrivals
  double target;               ///< simulated seconds per wall second, at least
};

int run_case(const serving_case& c, const options& opt, std::ostream& out) {
  io::load_options lo;
  lo.seed = opt.seed;
  lo.overrides = {fmt::format("workload.serve.duration_s={}", c.duration_s)};
  if (c.rate) lo.overrides.push_back(fmt::format("workload.serve.arrivals.rate={}", *c.rate));
  const auto set = io::load_shipped_scenario(c.scenario, lo);
  const double rate = set.base.workload.serve->requests.rate_per_s;
  const int threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  sim::trace_recorder trace(false);
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = sim::run::simulate(set.base, trace, {threads});
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto& s = *r.serving;
  const double speed = r.simulated_time_s / wall;
  // Disaggregated: iterations of both roles; sequences in flight on the decode GPUs.
  std::size_t iterations = s.iterations;
  double per_device = s.batch_seqs_mean / r.devices;
  const char* in_flight_on = "GPU";
  if (r.disaggregation) {
    const auto& d = *r.disaggregation;
    iterations = d.prefill.iterations.iterations + d.decode.iterations.iterations;
    per_device = d.decode.iterations.batch_seqs_mean / d.decode.devices_per_instance;
    in_flight_on = "decode GPU";
  }
  if (opt.json) {
    nlohmann::ordered_json j{{"scenario", c.scenario},
                             {"label", c.label},
                             {"rate_per_s", rate},
                             {"arrivals_s", c.duration_s},
                             {"simulated_s", r.simulated_time_s},
                             {"wall_s", wall},
                             {"simulated_over_wall", speed},
                             {"target_simulated_over_wall", c.target},
                             {"iterations", iterations},
                             {"wall_per_iteration_s", wall / static_cast<double>(iterations)},
                             {"in_flight_per_device", per_device},
                             {"in_flight_on", in_flight_on},
                             {"requests", s.requests},
                             {"events", r.events},
                             {"threads", threads},
                             {"met", speed >= c.target}};
    out << j.dump(2) << "\n";
    return 0;
  }
  fmt::print(out,
             "{} ({}) at {} requests/s for {} s: {} requests, {} iterations, {:.1f} sequences "
             "per {} in flight on average\n",
             c.scenario, c.label, rate, c.duration_s, s.requests, iterations, per_device,
             in_flight_on);
  fmt::print(out,
             "  simulated {:.1f} s in {:.2f} s wall: {:.2f}x real time (target >= {:g}x: {}); "
             "{:.0f} us per iteration, {} events, {} threads\n",
             r.simulated_time_s, wall, speed, c.target, speed >= c.target ? "met" : "NOT met",
             wall / static_cast<double>(iterations) * 1e6, r.events, threads);
  return 0;
}

}  // namespace

int serve(const options& opt, std::ostream& out) {
  return run_case({"serve-mixtral-h100", "Mixtral 8x7B EP8 on 8xH100", 95.0, 600, 10}, opt, out);
}

int serve_pd(const options& opt, std::ostream& out) {
  return run_case({"serve-deepseek-v3-pd", "DeepSeek-V3, prefill EP32 + decode EP64 on 12x8 H100",
                   std::nullopt, 60, 1},
                  opt, out);
}

}  // namespace moesim::bench
