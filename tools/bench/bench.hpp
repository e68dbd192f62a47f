#pragma once
// Benchmarks behind `moesim bench NAME`. Each measures wall time on this machine (never in a
// test) and prints a table, or one JSON object with --json, to `out`. Returns the exit code.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <vector>

namespace moesim::bench {

struct options {
  std::uint64_t seed = 1;
  double min_time_s = 1.0;  ///< run each measured loop at least this long
  bool json = false;
};

/// PHOLD hold model on the event engine next to a bare std::priority_queue loop (issue 2).
int phold(const options& opt, std::ostream& out);
/// Router + dispatch + expert maths GFLOP/s next to one plain Eigen GEMM of the same FLOPs (issue
/// 4).
int moe_math(const options& opt, std::ostream& out);
/// DeepSeek-V3 router on 16k tokens at full hidden size: gate GEMM, scoring, group-limited top-k
/// (issue 4).
int router(const options& opt, std::ostream& out);

/// Skewed all-to-all-v on the flow model (issue 3): dgx-h100 x8 .. x128 (64 .. 1024 GPUs, to show
/// how wall time grows with flows), with targets on x32 (256 GPUs, 65k flows) and
/// x128 (1024 GPUs, 1M flows), per-pair sizes of mean 1 MiB with Zipf(1.1) destination weights.
int alltoall(const options& opt, std::ostream& out);
/// The 256-GPU row of alltoall solved exactly (minutes) against re-solve quanta 0.01-0.03:
/// makespan error and per-flow completion-time error percentiles.
int alltoall_exact(const options& opt, std::ostream& out);
/// Analytical all-to-all of 1 GiB per chip on the 9216-chip Ironwood pod (16x24x24, 85M flows)
/// as `moesim collective` runs it: wall time and peak RSS (issue 3), plus a streamed cross-check.
int ironwood(const options& opt, std::ostream& out);
/// Wall time per simulated step of the flagship scenarios against the simulated step time
/// (issue 5): training <= 1x, decode <= 10x, and the Ironwood pod's peak memory.
int steps(const options& opt, std::ostream& out);

/// Serving speed: a 10-minute Poisson trace of Mixtral 8x7B on 8xH100 against real time
/// (issue 12: at least 10x faster).
int serve(const options& opt, std::ostream& out);
/// Serving speed: a 1-minute trace of the disaggregated DeepSeek-V3 scenario against real time
/// (issue 12: at least as fast).
int serve_pd(const options& opt, std::ostream& out);

/// Speculative decoding: the whole spec-decode-mixtral grid (batch x k x policy) as `moesim run`
/// evaluates it, wall time and cost per grid point (issue 13: under 60 s on 2 cores).
int spec_grid(const options& opt, std::ostream& out);
/// The same for the spec-decode-offload grid (policy prefetch under expert offloading).
int spec_grid_offload(const options& opt, std::ostream& out);

/// Sweep speed (issue 15): the 200-point sweep-mixtral-serve as `moesim sweep` runs it, points/s
/// at --jobs 1 and 2 (target 1.8x), and the sweep's cost per point against a `moesim run` of the
/// same point (target: under 5% more), timed around child processes of this binary.
int sweep(const options& opt, std::ostream& out);

/// Rebalancing's wall-time cost: a serving run with EPLB rebalanced every 50 iterations against
/// the same run placed once (issue 14: at most 1.2x).
int rebalance(const options& opt, std::ostream& out);
/// Seconds of steady_clock since `t0`.
inline double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Runs `body` until at least min_time_s have passed (and at least `min_runs` times); returns
/// the median seconds per run (steady_clock).
template <class Body>
double time_median(double min_time_s, int min_runs, Body&& body) {
  using clock_type = std::chrono::steady_clock;
  std::vector<double> runs;
  const auto start = clock_type::now();
  while (static_cast<int>(runs.size()) < min_runs || since(start) < min_time_s) {
    const auto t0 = clock_type::now();
    body();
    runs.push_back(since(t0));
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

/// Expert placement (issue 14): every strategy of sim/place on DeepSeek-V3 sizes (61 layers x
/// 256 experts, 288 slots) on 32 nodes x 1 GPU and 4 nodes x 8 GPUs, and the work of `moesim
/// place --json` (parse the weights, place, print) for EPLB: target under 0.1 s.
int place(const options& opt, std::ostream& out);

/// Peak resident set of this process so far (VmHWM), in bytes; 0 where /proc is not available.
double peak_rss_bytes();

}  // namespace moesim::bench
