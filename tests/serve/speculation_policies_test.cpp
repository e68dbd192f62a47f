// The mitigation policies' pure mechanisms: grouped's test/set phases choosing K by utility,
// deferral's calibrated confidence and threshold, blockwise's block tally, and the scheduler
// withdrawing drafts a policy will not verify.
#include "sim/serve/speculation_policies.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "sim/serve/acceptance.hpp"
#include "sim/serve/scheduler.hpp"

using namespace moesim::serve;

namespace {

/// Expected tokens one verification of K drafts emits at conditional rate c everywhere.
double tokens_at(int k, double c) {
  double reach = 1;
  double sum = 1;  // the target's own token
  for (int i = 0; i < k; ++i) {
    reach *= c;
    sum += reach;
  }
  return sum;
}

/// Runs a controller over `iterations` iterations whose K costs `seconds(K)` and emits
/// tokens_at(K, c) (as integers summed exactly over 1000 sequences). Returns iterations per K.
template <class Seconds>
std::vector<int> drive(k_controller& g, int k_max, int iterations, double c, Seconds seconds) {
  std::vector<int> at(static_cast<std::size_t>(k_max) + 1, 0);
  for (int i = 0; i < iterations; ++i) {
    const int k = g.k();
    ++at[static_cast<std::size_t>(k)];
    g.observe(std::llround(1000 * tokens_at(k, c)), seconds(k));
  }
  return at;
}

}  // namespace

TEST_CASE("grouped tests K upwards and sets the best, K 0 when verification costs more") {
  // Verification costing 1.5 decode steps per draft (Cascade's 2-3x at K 1-2 on MoEs) while a
  // draft is accepted at 0.6: K 1 emits fewer tokens per second than plain decoding, so the
  // test phase stops there (Cascade: utility below one, speculation off).
  k_controller costly(4, 2, 20);
  CHECK(costly.testing());
  std::vector<int> seen;
  for (int i = 0; i < 4; ++i) {
    seen.push_back(costly.k());
    costly.observe(std::llround(1000 * tokens_at(costly.k(), 0.6)), 1 + 1.5 * costly.k());
  }
  CHECK(seen == std::vector<int>{0, 0, 1, 1});
  CHECK_FALSE(costly.testing());
  CHECK(costly.chosen() == 0);
  CHECK(costly.k() == 0);
  CHECK(costly.utility(1) < costly.utility(0));
  // The set phase runs K 0 for 20 iterations, then the next test phase starts at K 0 again.
  for (int i = 0; i < 20; ++i) costly.observe(1000, 1);
  CHECK(costly.testing());
  CHECK(costly.k() == 0);

  // Cheaper verification (15% of a step per draft) at acceptance 0.8: utility peaks inside.
  const auto cheap = [](int k) { return 1 + 0.15 * k; };
  int best = 0;
  for (int k = 1; k <= 8; ++k) {
    if (tokens_at(k, 0.8) / cheap(k) > tokens_at(best, 0.8) / cheap(best)) best = k;
  }
  REQUIRE(best > 0);
  REQUIRE(best < 7);
  k_controller paying(8, 1, 100);
  const std::vector<int> at = drive(paying, 8, 100 + best + 2, 0.8, cheap);
  CHECK(paying.chosen() == best);
  // Tested 0..best+1 once each (best + 1 did not improve), then set best for 100 iterations.
  for (int k = 0; k <= 8; ++k) {
    INFO("K " << k);
    CHECK(at[static_cast<std::size_t>(k)] == (k == best ? 101 : k <= best + 1 ? 1 : 0));
  }
  CHECK_THROWS_AS(k_controller(3, 0, 10), std::invalid_argument);
  CHECK_THROWS_AS(paying.observe(1, 0), std::invalid_argument);
}

TEST_CASE("deferral's confidence is calibrated: acceptance stays the rate, by position") {
  const acceptance_model a({0.8, 0.45, 0.45}, 0.5, 11);
  const confidence_model none(a, 0.0, 8, 11);
  // Threshold 0 defers nothing; the chain's acceptance per position is the model's rate.
  std::vector<double> reached(3, 0);
  std::vector<double> accepted(3, 0);
  std::vector<double> expected(3, 0);
  double confidence_sum = 0;
  double rate_sum = 0;
  constexpr int requests = 60000;
  for (std::uint64_t r = 0; r < requests; ++r) {
    const deferral_chain c = none.chain(r, 100, 3);
    REQUIRE(c.drafts == 3);
    REQUIRE(c.steps == 3);
    for (int i = 0; i <= std::min(c.accepted, 2); ++i) {
      reached[static_cast<std::size_t>(i)] += 1;
      expected[static_cast<std::size_t>(i)] += a.rate(a.topic_of(r), i);
      if (i < c.accepted) accepted[static_cast<std::size_t>(i)] += 1;
    }
    confidence_sum += none.confidence(r, 7, 0);
    rate_sum += a.rate(a.topic_of(r), 0);
  }
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("position " << i);
    CHECK(accepted[i] / reached[i] == Approx(expected[i] / reached[i]).margin(0.01));
  }
  // The confidence's mean is the rate (Beta with that mean).
  CHECK(confidence_sum / requests == Approx(rate_sum / requests).margin(0.005));
  // Deterministic: the same keys draw the same.
  CHECK(none.confidence(5, 9, 1) == none.confidence(5, 9, 1));
}

TEST_CASE("deferral: the deferred share rises with the threshold, kept drafts are better") {
  const acceptance_model a({0.775, 0.477}, 0, 3);
  double previous_deferred = -1;
  double previous_acceptance = 0;
  for (const double threshold : {0.0, 0.3, 0.6, 0.9}) {
    const confidence_model m(a, threshold, 8, 3);
    double deferred = 0;
    double drafts = 0;
    double accepted = 0;
    double steps = 0;
    double cut = 0;
    constexpr int requests = 20000;
    for (std::uint64_t r = 0; r < requests; ++r) {
      const deferral_chain c = m.chain(r, 512, 2);
      deferred += c.deferred() ? 1 : 0;
      cut += !c.deferred() && c.drafts < 2 ? 1 : 0;
      drafts += c.drafts;
      accepted += c.accepted;
      steps += c.steps;
      // The drafter ran the step that stopped it: one more step than drafts kept, when cut.
      CHECK(c.steps == (c.drafts < 2 ? c.drafts + 1 : 2));
    }
    INFO("threshold " << threshold);
    CHECK(deferred / requests > previous_deferred);
    if (threshold == 0.0) {
      CHECK(deferred == 0);
      CHECK(cut == 0);
    }
    if (drafts > 0) {
      // Drafts above a higher threshold are accepted more often.
      CHECK(accepted / drafts >= previous_acceptance);
      previous_acceptance = accepted / drafts;
    }
    previous_deferred = deferred / requests;
  }
  CHECK(previous_deferred > 0.5);  // at 0.9 most first drafts (mean 0.775) fall below
  CHECK_THROWS_AS(confidence_model(a, 1.5, 8, 3), std::invalid_argument);
  CHECK_THROWS_AS(confidence_model(a, 0.5, 0, 3), std::invalid_argument);
}

TEST_CASE("blockwise's block tally: sizes 1..k+1 and their mean") {
  block_tally t(3);
  for (const int a : {0, 0, 1, 3}) t.add(a);
  CHECK(t.counts() == std::vector<std::int64_t>{2, 1, 0, 1});
  CHECK(t.mean_block() == Approx((1 + 1 + 2 + 4) / 4.0));
  CHECK_THROWS(t.add(4));
}

TEST_CASE("the scheduler withdraws drafts a policy will not verify, freeing their KV") {
  scheduler_limits l;
  l.max_running = 2;
  l.token_budget = 64;
  l.kv_blocks = 100;
  l.block_tokens = 1;
  l.draft_tokens = 3;
  scheduler s(l);
  s.add({0, 0, 8, 10});
  s.add({1, 0, 8, 10});
  iteration prefill = s.next();
  (void)s.complete(prefill, 1);
  iteration it = s.next();
  REQUIRE(it.seqs.size() == 2);
  REQUIRE(it.seqs[0].drafts == 3);
  const std::int64_t before = s.kv_blocks_used();
  const std::vector<std::int64_t> keep{0, 2};
  s.withdraw_drafts(it, keep);
  CHECK(it.seqs[0].drafts == 0);
  CHECK(it.seqs[0].new_tokens == 1);
  CHECK(it.seqs[1].drafts == 2);
  CHECK(it.seqs[1].new_tokens == 3);
  CHECK(s.kv_blocks_used() == before - 4);
  const std::vector<int> accepted{0, 2};
  (void)s.complete(it, 2, accepted);
  // Request 0 advanced one token, request 1 three (two drafts and its own).
  CHECK(s.kv_blocks_used() == 8 + 1 + 8 + 3);
  // Next iteration: a policy may set K per iteration.
  s.set_draft_tokens(1);
  iteration next = s.next();
  CHECK(next.seqs[0].drafts == 1);
  const std::vector<std::int64_t> more{2, 1};
  CHECK_THROWS_AS(s.withdraw_drafts(next, more), std::invalid_argument);
}
