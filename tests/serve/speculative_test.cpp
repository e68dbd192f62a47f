// Speculative decoding's pure parts: the acceptance vector's readings, the acceptance sampler
// (conditional per position, by topic, deterministic) and the scheduler's verification steps.
#include <catch2/catch.hpp>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "sim/serve/acceptance.hpp"
#include "sim/serve/scheduler.hpp"
#include "sim/serve/speculative_spec.hpp"

using namespace moesim::serve;

namespace {

speculative_spec spec(std::vector<double> acceptance, acceptance_reading reading, std::uint32_t k) {
  speculative_spec s;
  s.k = k;
  s.acceptance = std::move(acceptance);
  s.reading = reading;
  return s;
}

/// A scheduler with room to spare and `drafts` draft tokens per decode.
scheduler_limits spec_limits(std::uint32_t max_running, std::uint32_t block_tokens,
                             std::uint32_t drafts) {
  scheduler_limits l;
  l.max_running = max_running;
  l.token_budget = 64;
  l.kv_blocks = 100;
  l.block_tokens = block_tokens;
  l.draft_tokens = drafts;
  return l;
}

}  // namespace

TEST_CASE("marginal per-position rates convert to conditional ones, extended to k") {
  // vLLM PR #41044's DeepSeek MTP rates read as marginal: 0.78 then 0.37.
  const auto c = conditional_acceptance(spec({0.78, 0.37}, acceptance_reading::marginal, 4));
  REQUIRE(c.size() == 4);
  CHECK(c[0] == Approx(0.78));
  CHECK(c[1] == Approx(0.37 / 0.78));
  CHECK(c[2] == Approx(0.37 / 0.78));  // past the vector: its last conditional rate
  CHECK(c[3] == Approx(0.37 / 0.78));
  const auto same = conditional_acceptance(spec({0.8, 0.5}, acceptance_reading::conditional, 2));
  CHECK(same == std::vector<double>{0.8, 0.5});
}

TEST_CASE("acceptance vectors out of range are refused with the numbers") {
  CHECK_THROWS_WITH(
      conditional_acceptance(spec({0.8, 0.5, 0.4}, acceptance_reading::conditional, 2)),
      "speculative: 3 acceptance entries for chains of k = 2 drafts");
  CHECK_THROWS_WITH(conditional_acceptance(spec({0.5, 0.6}, acceptance_reading::marginal, 2)),
                    Catch::Contains("marginal acceptance[1] = 0.6 is above acceptance[0] = 0.5"));
  CHECK_THROWS_WITH(conditional_acceptance(spec({1.5}, acceptance_reading::conditional, 2)),
                    Catch::Contains("acceptance[0] = 1.5 is outside [0, 1]"));
  CHECK_THROWS(conditional_acceptance(spec({}, acceptance_reading::conditional, 2)));
}

TEST_CASE("acceptance draws each position with its conditional rate") {
  const std::vector<double> c{0.8, 0.5, 0.25};
  const acceptance_model m(c, 0.0, 11);
  constexpr int n = 200000;
  std::vector<int> reached(3, 0), accepted(3, 0);
  double total = 0;
  for (int r = 0; r < n; ++r) {
    const int a = m.accepted(static_cast<std::uint64_t>(r), 0, 3);
    REQUIRE(a >= 0);
    REQUIRE(a <= 3);
    total += a;
    for (int p = 0; p < 3 && p <= a; ++p) {
      ++reached[p];
      if (p < a) ++accepted[p];
    }
  }
  for (int p = 0; p < 3; ++p) {
    const double rate = static_cast<double>(accepted[p]) / reached[p];
    // Binomial standard error at these counts is below 0.004.
    CHECK(std::abs(rate - c[p]) < 0.01);
  }
  // E[accepted] = 0.8 + 0.8*0.5 + 0.8*0.5*0.25 = 1.3.
  CHECK(total / n == Approx(1.3).epsilon(0.01));
  CHECK(m.expected_accepted(3) == Approx(1.3));
}

TEST_CASE("acceptance is deterministic and independent of the batch it is drawn in") {
  const acceptance_model a({0.7, 0.4}, 0.5, 3);
  const acceptance_model b({0.7, 0.4}, 0.5, 3);
  for (std::uint64_t r = 0; r < 100; ++r) {
    CHECK(a.accepted(r, 40, 2) == b.accepted(r, 40, 2));
    CHECK(a.topic_of(r) == b.topic_of(r));
  }
  const acceptance_model other({0.7, 0.4}, 0.5, 4);
  int differ = 0;
  for (std::uint64_t r = 0; r < 100; ++r)
    differ += a.accepted(r, 40, 2) != other.accepted(r, 40, 2);
  CHECK(differ > 10);  // another seed draws otherwise
}

TEST_CASE("topics make some sequences easier while the population keeps the stated rates") {
  const std::vector<double> c{0.6, 0.3};
  const acceptance_model m(c, 1.0, 5);
  double lo = 1, hi = 0;
  for (int p = 0; p < 2; ++p) {
    double mean = 0;
    for (int t = 0; t < m.topics(); ++t) {
      const double r = m.rate(t, p);
      REQUIRE(r >= 0);
      REQUIRE(r <= 1);
      mean += m.popularity()[static_cast<std::size_t>(t)] * r;
      if (p == 0) {
        lo = std::min(lo, r);
        hi = std::max(hi, r);
      }
    }
    CHECK(mean == Approx(c[p]).epsilon(1e-12));
  }
  // Spread 1 reaches the widest band that keeps the rate in [0, 1]: min(c, 1 - c) = 0.4 around
  // 0.6 on the side of the topic whose ease is +-1.
  CHECK(hi - lo > 0.4);
  // Spread 0: every topic alike.
  const acceptance_model flat(c, 0.0, 5);
  for (int t = 0; t < flat.topics(); ++t) CHECK(flat.rate(t, 0) == c[0]);
  // A request of an easy topic accepts more than one of a hard topic, over many steps.
  int easy = -1, hard = -1;
  for (std::uint64_t r = 0; r < 1000 && (easy < 0 || hard < 0); ++r) {
    const double e = m.ease(m.topic_of(r));
    if (e > 0.8 && easy < 0) easy = static_cast<int>(r);
    if (e < -0.8 && hard < 0) hard = static_cast<int>(r);
  }
  REQUIRE(easy >= 0);
  REQUIRE(hard >= 0);
  double sum_easy = 0, sum_hard = 0;
  for (std::int64_t step = 0; step < 2000; ++step) {
    sum_easy += m.accepted(static_cast<std::uint64_t>(easy), step, 2);
    sum_hard += m.accepted(static_cast<std::uint64_t>(hard), step, 2);
  }
  CHECK(sum_easy > sum_hard * 1.3);
}

TEST_CASE("a decoding sequence verifies k drafts and advances by accepted + 1") {
  scheduler s(spec_limits(4, 4, 3));
  s.add(request{1, 0, 10, 6, 0});
  const iteration prefill = s.next();
  REQUIRE(prefill.seqs.size() == 1);
  CHECK(prefill.seqs[0].new_tokens == 10);
  CHECK(prefill.seqs[0].drafts == 0);  // prefill chunks carry no drafts
  CHECK(s.complete(prefill, 100).empty());
  // 1 output token so far, 5 to go: the last token plus 3 drafts.
  const iteration v1 = s.next();
  REQUIRE(v1.seqs.size() == 1);
  CHECK(v1.seqs[0].new_tokens == 4);
  CHECK(v1.seqs[0].drafts == 3);
  CHECK(v1.seqs[0].context == 10);
  CHECK(v1.seqs[0].emits_token);
  CHECK(s.kv_blocks_used() == 4);  // 14 tokens of KV reserved in blocks of 4
  const std::vector<int> two{2};
  CHECK(s.complete(v1, 200, two).empty());
  CHECK(s.kv_blocks_used() == 4);  // 10 + 1 + 2 = 13 tokens kept: still 4 blocks
  // 4 tokens emitted (1 + 2 accepted + the target's own), 2 to go: only 1 draft fits.
  const iteration v2 = s.next();
  REQUIRE(v2.seqs.size() == 1);
  CHECK(v2.seqs[0].context == 13);
  CHECK(v2.seqs[0].drafts == 1);
  CHECK(v2.seqs[0].new_tokens == 2);
  const std::vector<int> one{1};
  const auto done = s.complete(v2, 300, one);
  REQUIRE(done.size() == 1);
  // Gaps: 100 -> 200 for the first of three tokens at 200, then two arriving together, then
  // 200 -> 300 and one more at 300.
  CHECK(done[0].token_gaps == std::vector<moesim::sim::time_ps>{100, 0, 0, 100, 0});
  CHECK(done[0].first_token == 100);
  CHECK(done[0].finish == 300);
  CHECK(s.kv_blocks_used() == 0);
}

TEST_CASE("rejected drafts free their KV blocks, and bad accepted counts are refused") {
  scheduler s(spec_limits(1, 2, 4));
  s.add(request{7, 0, 4, 20, 0});
  CHECK(s.complete(s.next(), 10).empty());
  const iteration v = s.next();
  REQUIRE(v.seqs[0].drafts == 4);
  CHECK(s.kv_blocks_used() == 5);  // 4 + 5 tokens
  const std::vector<int> five{5};
  CHECK_THROWS_AS(s.complete(v, 20, five), std::invalid_argument);
  const std::vector<int> pair{0, 0};
  CHECK_THROWS_AS(s.complete(v, 20, pair), std::invalid_argument);
  const std::vector<int> none{0};
  CHECK(s.complete(v, 20, none).empty());
  CHECK(s.kv_blocks_used() == 3);  // 4 + 1 tokens kept
  const iteration next = s.next();
  CHECK(next.seqs[0].context == 5);
}
