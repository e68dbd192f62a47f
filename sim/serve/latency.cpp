#include "sim/serve/latency.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace moesim::serve {

namespace {

// Type 7 on values already in ascending order; q checked by the caller.
double percentile_sorted(const std::vector<double>& sorted, double q) {
  const double h = static_cast<double>(sorted.size() - 1) * q / 100.0;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace

double percentile(std::vector<double> values, double q) {
  if (values.empty() || !(q >= 0.0 && q <= 100.0)) {
    throw std::invalid_argument(fmt::format(
        "percentile needs values and 0 <= q <= 100, got {} values and q {}", values.size(), q));
  }
  std::sort(values.begin(), values.end());
  return percentile_sorted(values, q);
}

summary summarize(std::vector<double> values) {
  summary s;
  if (values.empty()) return s;
  s.count = values.size();
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(s.count);
  std::sort(values.begin(), values.end());
  s.p50 = percentile_sorted(values, 50.0);
  s.p90 = percentile_sorted(values, 90.0);
  s.p99 = percentile_sorted(values, 99.0);
  return s;
}

void serving_stats::totals::add(double value, double duration_s) {
  weighted += value * duration_s;
  plain += value;
  max = std::max(max, value);
}

serving_stats::serving_stats(const slo& objectives) : slo_(objectives) {
  if (!(objectives.ttft_s >= 0.0) || !(objectives.tpot_s >= 0.0)) {
    throw std::invalid_argument(fmt::format("SLO limits must be >= 0 s, got ttft {} and tpot {}",
                                            objectives.ttft_s, objectives.tpot_s));
  }
}

void serving_stats::add(const finished_request& r) {
  if (r.first_token < r.req.arrival || r.finish < r.first_token) {
    throw std::invalid_argument(
        fmt::format("request {}: expected arrival <= first token <= finish, got {} / {} / {} ps",
                    r.req.id, r.req.arrival, r.first_token, r.finish));
  }
  const double ttft = sim::seconds(r.first_token - r.req.arrival);
  ttft_s_.push_back(ttft);
  e2e_s_.push_back(sim::seconds(r.finish - r.req.arrival));
  double tpot = 0.0;
  if (r.req.output_tokens > 1) {
    tpot = sim::seconds(r.finish - r.first_token) / static_cast<double>(r.req.output_tokens - 1);
    tpot_s_.push_back(tpot);
  }
  for (const sim::time_ps gap : r.token_gaps) itl_s_.push_back(sim::seconds(gap));
  input_tokens_ += r.req.prompt_tokens;
  output_tokens_ += r.req.output_tokens;
  const bool ttft_ok = slo_.ttft_s == 0.0 || ttft <= slo_.ttft_s;
  const bool tpot_ok = slo_.tpot_s == 0.0 || tpot <= slo_.tpot_s;
  good_ += ttft_ok && tpot_ok ? 1 : 0;
  preemptions_ += r.preemptions;
  first_arrival_ = std::min(first_arrival_, r.req.arrival);
  last_finish_ = std::max(last_finish_, r.finish);
}

void serving_stats::add(const iteration_sample& s) {
  if (s.end < s.start) {
    throw std::invalid_argument(
        fmt::format("iteration ends at {} ps, before its start {} ps", s.end, s.start));
  }
  const double d = sim::seconds(s.end - s.start);
  busy_s_ += d;
  ++iterations_;
  kv_.add(s.kv_utilisation, d);
  seqs_.add(static_cast<double>(s.batch_seqs), d);
  tokens_.add(static_cast<double>(s.batch_tokens), d);
  queue_.add(static_cast<double>(s.queue_length), d);
}

serving_report serving_stats::report() const {
  serving_report r;
  r.requests = ttft_s_.size();
  r.ttft_s = summarize(ttft_s_);
  r.tpot_s = summarize(tpot_s_);
  r.itl_s = summarize(itl_s_);
  r.e2e_s = summarize(e2e_s_);
  r.preemptions = preemptions_;
  if (r.requests > 0) r.window_s = sim::seconds(last_finish_ - first_arrival_);
  if (r.window_s > 0.0) {
    r.input_tokens_per_s = static_cast<double>(input_tokens_) / r.window_s;
    r.output_tokens_per_s = static_cast<double>(output_tokens_) / r.window_s;
    r.requests_per_s = static_cast<double>(r.requests) / r.window_s;
    r.goodput_requests_per_s = static_cast<double>(good_) / r.window_s;
  }
  r.iterations = iterations_;
  r.busy_s = busy_s_;
  r.batch_tokens_total = tokens_.plain;
  if (iterations_ > 0) {
    const auto mean = [&](const totals& t) {
      return busy_s_ > 0.0 ? t.weighted / busy_s_ : t.plain / static_cast<double>(iterations_);
    };
    r.kv_utilisation_mean = mean(kv_);
    r.kv_utilisation_max = kv_.max;
    r.batch_seqs_mean = mean(seqs_);
    r.batch_seqs_max = seqs_.max;
    r.batch_tokens_mean = mean(tokens_);
    r.batch_tokens_max = tokens_.max;
    r.queue_length_mean = mean(queue_);
    r.queue_length_max = queue_.max;
  }
  return r;
}

}  // namespace moesim::serve
