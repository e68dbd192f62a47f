// The queueing knee of the serving loop (issue 12, "Published serving rows"): a closed loop at
// a concurrency above the scheduler's limits measures the most requests per second the
// deployment serves; Poisson arrivals below that rate see latencies that barely move with the
// rate, and arrivals above it queue without bound, so their latencies grow with the run.
#include <catch2/catch.hpp>
#include <string>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/simulate.hpp"

using namespace moesim;

namespace {

// Mixtral 8x7B on one 8xH100 node, EP8 with attention DP; short fixed lengths so that many
// requests finish in a few simulated seconds, and routing maths on few sampled tokens.
const char* const knee_base = R"(name: knee
seed: 5
model: {preset: mixtral-8x7b}
sampling: {tokens_per_step: 64, math_hidden: 32}
cluster: {preset: dgx-h100}
network: {model: analytical}
parallelism: {ep: 8}
moe: {capacity_factor: 0}
workload:
  kind: serve
  serve:
    prompt: {dist: fixed, tokens: 512}
    output: {dist: fixed, tokens: 32}
    scheduler: {max_running: 16, token_budget: 1024, chunk_tokens: 512}
)";

sim::run::run_result run_serving(const std::string& arrivals, const std::string& bound) {
  io::load_options opt;
  opt.overrides = {"workload.serve.arrivals=" + arrivals, bound};
  const auto set = io::load_scenario_text(knee_base, "knee.yaml", opt);
  sim::trace_recorder trace(false);
  return sim::run::simulate(set.base, trace);
}

}  // namespace

TEST_CASE("latencies stay flat below the closed-loop throughput and grow sharply above it",
          "[asan-slow]") {
  // 8 ranks x 16 running sequences: a concurrency of 256 keeps the scheduler full.
  const auto closed =
      run_serving("{process: closed, concurrency: 256}", "workload.serve.requests=768");
  const double max_rate = closed.serving->requests_per_s;
  REQUIRE(max_rate > 0);
  CAPTURE(max_rate);

  const auto poisson = [&](double fraction) {
    return run_serving("{process: poisson, rate: " + std::to_string(fraction * max_rate) + "}",
                       "workload.serve.duration_s=" + std::to_string(2048 / max_rate));
  };
  const auto low = poisson(0.3);
  const auto mid = poisson(0.6);
  const auto over = poisson(1.5);
  const auto& l = *low.serving;
  const auto& m = *mid.serving;
  const auto& o = *over.serving;
  CAPTURE(l.ttft_s.p50, m.ttft_s.p50, o.ttft_s.p50, l.e2e_s.p50, m.e2e_s.p50, o.e2e_s.p50);

  // Below the knee the arrivals are served at their own rate and latencies move little.
  CHECK(l.requests_per_s == Approx(0.3 * max_rate).epsilon(0.15));
  CHECK(m.requests_per_s == Approx(0.6 * max_rate).epsilon(0.15));
  CHECK(m.ttft_s.p50 < 2 * l.ttft_s.p50);
  CHECK(m.e2e_s.p50 < 2 * l.e2e_s.p50);
  // Above it the queue grows through the run: the deployment cannot keep up with the arrivals
  // and the median request waits for a backlog many iterations long.
  CHECK(o.requests_per_s < 0.9 * 1.5 * max_rate);
  CHECK(o.ttft_s.p50 > 5 * m.ttft_s.p50);
  CHECK(o.e2e_s.p50 > 5 * m.e2e_s.p50);
}
