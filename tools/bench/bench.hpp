#pragma once
// Benchmarks behind `moesim bench NAME`. Each measures wall time on this machine (never in a
// test) and prints a table, or one JSON object with --json, to `out`. Returns the exit code.
#include <cstdint>
#include <iosfwd>

namespace moesim::bench {

struct options {
  std::uint64_t seed = 1;
  double min_time_s = 1.0;  ///< run each measured loop at least this long
  bool json = false;
};

/// PHOLD hold model on the event engine next to a bare std::priority_queue loop (issue 2).
int phold(const options& opt, std::ostream& out);
/// Router + dispatch + expert maths GFLOP/s next to one plain Eigen GEMM of the same FLOPs (issue 4).
int moe_math(const options& opt, std::ostream& out);
/// DeepSeek-V3 router on 16k tokens at full hidden size: gate GEMM, scoring, group-limited top-k (issue 4).
int router(const options& opt, std::ostream& out);

}  // namespace moesim::bench
