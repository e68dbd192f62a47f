#include "sim/serve/latency.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>
#include <vector>

using namespace moesim::serve;
using moesim::sim::ps_per_ms;
using moesim::sim::time_ps;

TEST_CASE("percentile: numpy's linear interpolation between closest ranks") {
  const std::vector<double> one_to_ten{7, 3, 10, 1, 5, 2, 9, 4, 8, 6};  // order does not matter
  CHECK(percentile(one_to_ten, 50) == Approx(5.5));
  CHECK(percentile(one_to_ten, 90) == Approx(9.1));
  CHECK(percentile(one_to_ten, 99) == Approx(9.91));
  CHECK(percentile(one_to_ten, 0) == 1.0);
  CHECK(percentile(one_to_ten, 100) == 10.0);
  CHECK(percentile({1, 2, 3, 4}, 25) == Approx(1.75));  // h = 3 * 0.25 = 0.75
  CHECK(percentile({42}, 99) == 42.0);
  CHECK_THROWS_AS(percentile({}, 50), std::invalid_argument);
  CHECK_THROWS_AS(percentile({1, 2}, 100.5), std::invalid_argument);
  CHECK_THROWS_AS(percentile({1, 2}, -1), std::invalid_argument);
}

TEST_CASE("summarize: mean and p50 / p90 / p99") {
  const summary s = summarize({3, 1, 2});
  CHECK(s.count == 3);
  CHECK(s.mean == Approx(2.0));
  CHECK(s.p50 == Approx(2.0));
  CHECK(s.p90 == Approx(2.8));   // h = 1.8
  CHECK(s.p99 == Approx(2.98));  // h = 1.98
  const summary empty = summarize({});
  CHECK(empty.count == 0);
  CHECK(empty.mean == 0.0);
  CHECK(empty.p99 == 0.0);
}

namespace {

finished_request done(std::uint64_t id, time_ps arrival_ms, std::int64_t prompt,
                      std::int64_t output, time_ps first_ms, time_ps finish_ms,
                      std::vector<time_ps> gaps_ms, std::uint32_t preemptions) {
  finished_request f;
  f.req = request{id, arrival_ms * ps_per_ms, prompt, output, 0};
  f.first_token = first_ms * ps_per_ms;
  f.finish = finish_ms * ps_per_ms;
  for (const time_ps g : gaps_ms) f.token_gaps.push_back(g * ps_per_ms);
  f.preemptions = preemptions;
  return f;
}

// Three requests over a 1 s window:
//   1: arrives 0,   first token 100 ms, done 300 ms, 3 outputs:  TTFT 0.1, TPOT 0.1,   E2E 0.3
//   2: arrives 100, first token 400 ms, done 400 ms, 1 output:   TTFT 0.3, no TPOT,   E2E 0.3
//   3: arrives 200, first token 300 ms, done 1000 ms, 5 outputs: TTFT 0.1, TPOT 0.175, E2E 0.8
serving_report three(const slo& objectives) {
  serving_stats st(objectives);
  st.add(done(1, 0, 100, 3, 100, 300, {100, 100}, 0));
  st.add(done(2, 100, 50, 1, 400, 400, {}, 1));
  st.add(done(3, 200, 200, 5, 300, 1000, {100, 100, 200, 300}, 0));
  return st.report();
}

}  // namespace

TEST_CASE("serving_stats: latency summaries, throughputs and goodput by hand") {
  const serving_report r = three(slo{0.2, 0.15});
  CHECK(r.requests == 3);
  CHECK(r.ttft_s.mean == Approx(0.5 / 3));
  CHECK(r.ttft_s.p50 == Approx(0.1));
  CHECK(r.ttft_s.p90 == Approx(0.26));  // sorted 0.1 0.1 0.3, h = 1.8
  CHECK(r.ttft_s.p99 == Approx(0.296));
  CHECK(r.tpot_s.count == 2);  // request 2 has a single output token
  CHECK(r.tpot_s.mean == Approx(0.1375));
  CHECK(r.tpot_s.p90 == Approx(0.1675));  // h = 0.9
  CHECK(r.itl_s.count == 6);
  CHECK(r.itl_s.mean == Approx(0.15));
  CHECK(r.itl_s.p50 == Approx(0.1));   // h = 2.5 between 0.1 and 0.1
  CHECK(r.itl_s.p90 == Approx(0.25));  // h = 4.5 between 0.2 and 0.3
  CHECK(r.itl_s.p99 == Approx(0.295));
  CHECK(r.e2e_s.mean == Approx(1.4 / 3));
  CHECK(r.e2e_s.p50 == Approx(0.3));
  CHECK(r.e2e_s.p90 == Approx(0.7));
  CHECK(r.window_s == Approx(1.0));
  CHECK(r.input_tokens_per_s == Approx(350.0));
  CHECK(r.output_tokens_per_s == Approx(9.0));
  CHECK(r.requests_per_s == Approx(3.0));
  // Only request 1 meets both: 2 misses TTFT (0.3 > 0.2), 3 misses TPOT (0.175 > 0.15).
  CHECK(r.goodput_requests_per_s == Approx(1.0));
  CHECK(r.preemptions == 1);

  CHECK(three(slo{0.2, 0.0}).goodput_requests_per_s == Approx(2.0));   // no TPOT limit
  CHECK(three(slo{0.0, 0.15}).goodput_requests_per_s == Approx(2.0));  // 2's TPOT counts as 0
  CHECK(three(slo{}).goodput_requests_per_s == Approx(3.0));
}

TEST_CASE("serving_stats: iteration figures are weighted by iteration time") {
  serving_stats st;
  st.add(iteration_sample{0, 100 * ps_per_ms, 2, 300, 0.5, 1});
  st.add(iteration_sample{100 * ps_per_ms, 400 * ps_per_ms, 3, 3, 0.8, 0});
  const serving_report r = st.report();
  CHECK(r.iterations == 2);
  CHECK(r.kv_utilisation_mean == Approx(0.725));  // (0.5 * 0.1 + 0.8 * 0.3) / 0.4
  CHECK(r.kv_utilisation_max == Approx(0.8));
  CHECK(r.batch_seqs_mean == Approx(2.75));
  CHECK(r.batch_seqs_max == 3.0);
  CHECK(r.batch_tokens_mean == Approx(77.25));  // (300 * 0.1 + 3 * 0.3) / 0.4
  CHECK(r.batch_tokens_max == 300.0);
  CHECK(r.queue_length_mean == Approx(0.25));
  CHECK(r.queue_length_max == 1.0);
  CHECK(r.requests == 0);
  CHECK(r.window_s == 0.0);
  CHECK(r.requests_per_s == 0.0);

  serving_stats instant;  // zero-length iterations: plain means
  instant.add(iteration_sample{5, 5, 1, 10, 0.2, 4});
  instant.add(iteration_sample{5, 5, 3, 30, 0.4, 0});
  CHECK(instant.report().batch_tokens_mean == Approx(20.0));
  CHECK(instant.report().queue_length_mean == Approx(2.0));
}

TEST_CASE("serving_stats: out-of-order times are refused") {
  serving_stats st;
  CHECK_THROWS_AS(st.add(iteration_sample{10, 5, 1, 1, 0.0, 0}), std::invalid_argument);
  CHECK_THROWS_AS(st.add(done(1, 100, 10, 2, 50, 200, {150}, 0)), std::invalid_argument);
  CHECK_THROWS_AS(st.add(done(2, 0, 10, 2, 300, 200, {}, 0)), std::invalid_argument);
  CHECK_THROWS_AS(serving_stats(slo{-1.0, 0.0}), std::invalid_argument);
}
