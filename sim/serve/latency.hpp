#pragma once
// Serving latency and throughput statistics, computed the way vLLM's serving benchmark reports
// them (vllm/benchmarks/serve.py, calculate_metrics): TTFT and end-to-end latency per request,
// TPOT = (latency - TTFT) / (output tokens - 1) for requests with more than one output token,
// ITL over every gap between consecutive output tokens of every request, throughputs over the
// measured window, and goodput = requests meeting every SLO per second (a request with one
// output token has TPOT 0 for the SLO test, as there). Percentiles are numpy.percentile's
// (which that benchmark calls), computed exactly over all values.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sim/engine/time.hpp"
#include "sim/serve/scheduler.hpp"

namespace moesim::serve {

/// The q-th percentile (0 <= q <= 100) of `values` with numpy.percentile's default method
/// 'linear' (Hyndman & Fan 1996, type 7): sort, h = (n - 1) q / 100, and interpolate linearly
/// between the values of ranks floor(h) and ceil(h). E.g. of 1..10: p50 5.5, p90 9.1, p99 9.91.
/// Throws std::invalid_argument when `values` is empty or q is outside [0, 100] or NaN.
/// O(n log n): sorts its copy of the values.
[[nodiscard]] double percentile(std::vector<double> values, double q);

/// Mean and percentiles of a set of values (seconds, when they are latencies). All zero with
/// count 0 when there are no values.
struct summary {
  double mean = 0.0;
  double p50 = 0.0;
  double p90 = 0.0;
  double p99 = 0.0;
  std::size_t count = 0;
};

/// The summary of `values`. O(n log n).
[[nodiscard]] summary summarize(std::vector<double> values);

/// Latency objectives for goodput, in seconds; 0 = no limit on that metric.
struct slo {
  double ttft_s = 0.0;
  double tpot_s = 0.0;
};

/// What one iteration looked like, sampled by the caller. Queue length is the waiting queue
/// left after the batch was formed (scheduler::waiting() after next()); KV utilisation the pool
/// in use for the batch (scheduler::kv_utilisation() after next()). When several schedulers
/// step together (the attention-DP ranks of a serving instance, sim/run/serving_instance.hpp),
/// one sample covers them all: batch sequences, batch tokens and queue length are sums over
/// the schedulers, KV utilisation the mean of their pools' (each pool the same size).
struct iteration_sample {
  sim::time_ps start = 0;
  sim::time_ps end = 0;  ///< >= start
  std::size_t batch_seqs = 0;
  std::int64_t batch_tokens = 0;
  double kv_utilisation = 0.0;
  std::size_t queue_length = 0;
};

/// The serving figures of a run. Seconds and per-second rates as doubles.
struct serving_report {
  std::size_t requests = 0;  ///< finished requests
  summary ttft_s;            ///< first token - arrival
  summary tpot_s;            ///< (finish - first token) / (output - 1), output > 1 only
  summary itl_s;             ///< every gap between consecutive output tokens
  summary e2e_s;             ///< finish - arrival
  /// First arrival to last finish of the finished requests; the rates below divide by it (0
  /// when it is empty).
  double window_s = 0.0;
  double input_tokens_per_s = 0.0;   ///< prompt tokens (cached ones included, as vLLM counts)
  double output_tokens_per_s = 0.0;  ///< output tokens
  double requests_per_s = 0.0;
  double goodput_requests_per_s = 0.0;  ///< requests with ttft <= slo.ttft_s and tpot <= slo.tpot_s
  std::uint64_t preemptions = 0;        ///< summed over finished requests
  // Means over iterations weighted by their duration (sum of value * (end - start) / sum of
  // durations): averages over the time the engine was busy; idle time between iterations, when
  // no batch runs and nothing waits, is not counted. Plain means when every duration is 0.
  // Maxima over iterations. All 0 without iterations.
  double kv_utilisation_mean = 0.0;
  double kv_utilisation_max = 0.0;
  double batch_seqs_mean = 0.0;
  double batch_seqs_max = 0.0;
  double batch_tokens_mean = 0.0;
  double batch_tokens_max = 0.0;
  double queue_length_mean = 0.0;
  double queue_length_max = 0.0;
  std::size_t iterations = 0;
  /// Sum of the iterations' durations (the engine's busy time; summed over engines when one
  /// serving_stats samples several) and of their batch tokens: batch_tokens_total / busy_s is
  /// the tokens an engine computes per second while it runs, the saturated throughput when its
  /// batches are full. 0 without iterations.
  double busy_s = 0.0;
  double batch_tokens_total = 0.0;
};

/// Accumulates finished requests and iteration samples. Memory: a few numbers per request plus
/// one per output token (the ITL gaps, kept so that ITL percentiles are exact); O(1) per
/// iteration. report() is O(n log n) in the number of values.
class serving_stats {
 public:
  explicit serving_stats(const slo& objectives = {});

  /// Records a finished request and its token gaps. Throws std::invalid_argument when its times
  /// are out of order (first token before arrival, finish before first token).
  void add(const finished_request& r);
  /// Records one iteration. Throws std::invalid_argument when end < start.
  void add(const iteration_sample& s);

  [[nodiscard]] serving_report report() const;

 private:
  struct totals {
    double weighted = 0.0;  // value * duration_s
    double plain = 0.0;     // value
    double max = 0.0;
    void add(double value, double duration_s);
  };

  slo slo_;
  std::vector<double> ttft_s_;
  std::vector<double> tpot_s_;
  std::vector<double> itl_s_;
  std::vector<double> e2e_s_;
  std::int64_t input_tokens_ = 0;
  std::int64_t output_tokens_ = 0;
  std::size_t good_ = 0;
  std::uint64_t preemptions_ = 0;
  sim::time_ps first_arrival_ = sim::time_max;
  sim::time_ps last_finish_ = 0;
  totals kv_, seqs_, tokens_, queue_;
  double busy_s_ = 0.0;
  std::size_t iterations_ = 0;
};

}  // namespace moesim::serve
