#include "models/capacity.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

using namespace moesim::models;

namespace {

/// 6 tokens, 3 experts, top-2, hand-made so that expert 0 is oversubscribed.
routing example() {
  routing r = make_fixed_k_routing(6, 3, 2);
  const std::vector<int> ids{0, 1, 0, 2, 1, 0, 0, 2, 2, 0, 1, 2};
  const std::vector<float> sc{0.6f, 0.4f, 0.9f, 0.1f, 0.7f,  0.3f,
                              0.5f, 0.5f, 0.8f, 0.2f, 0.55f, 0.45f};
  for (std::size_t i = 0; i < ids.size(); ++i) {
    r.expert_ids[i] = ids[i];
    r.scores[i] = sc[i];
    r.weights[i] = sc[i];
  }
  return r;
}

}  // namespace

TEST_CASE("capacity = ceil(k * tokens / E * CF), 0 is dropless, negative throws",
          "[models][capacity]") {
  CHECK(expert_capacity(4096, 256, 8, 1.0) == 128);
  CHECK(expert_capacity(4096, 256, 8, 1.25) == 160);
  CHECK(expert_capacity(100, 8, 2, 1.0) == 25);
  CHECK(expert_capacity(101, 8, 2, 1.0) == 26);  // 25.25 rounds up
  CHECK(expert_capacity(10, 64, 1, 1.0) == 1);
  CHECK(expert_capacity(10, 8, 2, dropless) == unlimited_capacity);
  CHECK_THROWS_WITH(expert_capacity(10, 8, 2, -1.0),
                    Catch::Contains("capacity_factor must be >= 0 (0 = dropless), got -1"));
  CHECK(parse_drop_policy("position") == drop_policy::position);
  CHECK_THROWS(parse_drop_policy("random"));
}

TEST_CASE("position policy: first choices before second, earlier tokens first",
          "[models][capacity]") {
  // Offers (token: first, second): 0:(0,1) 1:(0,2) 2:(1,0) 3:(0,2) 4:(2,0) 5:(1,2); capacity 2.
  // First choices in token order: e0 <- t0, t1 (t3 dropped); e1 <- t2, t5; e2 <- t4.
  // Second choices: t0->e1 dropped (full), t1->e2 kept, t2,t4->e0 and t3,t5->e2 dropped.
  const capacity_result c = apply_capacity(example(), 2, drop_policy::position);
  REQUIRE_NOTHROW(validate(c.kept));
  CHECK(c.dropped_per_expert == std::vector<std::int64_t>{3, 1, 2});
  CHECK(c.dropped == 6);
  CHECK(c.drop_rate == Approx(6.0 / 12.0));
  CHECK(c.kept.count(3) == 0);
  CHECK(c.tokens_fully_dropped == 1);
  CHECK(c.kept.count(0) == 1);
  CHECK(c.kept.experts_of(0)[0] == 0);
  CHECK(c.kept.count(1) == 2);
  CHECK(c.kept.experts_of(5)[0] == 1);
  CHECK(c.kept.count(5) == 1);
  // Weights of kept assignments are unchanged (no renormalisation).
  CHECK(c.kept.weights[0] == 0.6f);
}

TEST_CASE("lowest-score policy drops the weakest assignments", "[models][capacity]") {
  const capacity_result c = apply_capacity(example(), 2, drop_policy::lowest_score);
  // e0 offers 0.6 (t0) 0.9 (t1) 0.3 (t2) 0.5 (t3) 0.2 (t4): keeps t1, t0.
  // e1 offers 0.4 (t0) 0.7 (t2) 0.55 (t5): keeps t2, t5. e2 offers 0.1 (t1) 0.5 (t3)
  // 0.8 (t4) 0.45 (t5): keeps t4, t3.
  CHECK(c.dropped_per_expert == std::vector<std::int64_t>{3, 1, 2});
  CHECK(c.tokens_fully_dropped == 0);
  CHECK(c.kept.count(3) == 1);
  CHECK(c.kept.experts_of(3)[0] == 2);
  CHECK(c.kept.count(1) == 1);
  CHECK(c.kept.experts_of(1)[0] == 0);
  CHECK(c.kept.count(4) == 1);
  CHECK(c.kept.experts_of(4)[0] == 2);
}

TEST_CASE("a token whose assignments all drop passes through", "[models][capacity]") {
  routing r = make_fixed_k_routing(3, 2, 1);
  r.expert_ids = {0, 0, 0};
  r.scores = {0.9f, 0.8f, 0.7f};
  r.weights = r.scores;
  const capacity_result c = apply_capacity(r, 1, drop_policy::position);
  CHECK(c.tokens_fully_dropped == 2);
  CHECK(c.kept.count(1) == 0);
  CHECK(c.kept.count(2) == 0);
  const capacity_result none = apply_capacity_factor(r, 1, dropless, drop_policy::position);
  CHECK(none.dropped == 0);
  CHECK(none.kept.expert_ids == r.expert_ids);
}

TEST_CASE("apply_capacities keeps each expert's own number of its best assignments",
          "[models][capacity]") {
  const routing r = example();
  // Lowest score: expert 0 offered 0.9 (a2), 0.6 (a0), 0.5 (a6), 0.3 (a5), 0.2 (a9);
  // expert 1: 0.7 (a4), 0.55 (a10), 0.4 (a1); expert 2: 0.8 (a8), 0.5 (a7), 0.45 (a11), 0.1 (a3).
  const std::vector<std::int32_t> order = priority_order(r, drop_policy::lowest_score);
  REQUIRE(order.size() == 12);
  CHECK(order.front() == 2);
  CHECK(order.back() == 3);
  const std::vector<std::int64_t> caps{2, 3, 1};
  const capacity_result c = apply_capacities(r, order, caps);
  CHECK(c.dropped_per_expert == std::vector<std::int64_t>{3, 0, 3});
  CHECK(c.dropped == 6);
  CHECK(c.capacity == 3);
  CHECK(c.drop_rate == Approx(0.5));
  // Kept: a0 (e0), a1 (e1), a2 (e0), a4 (e1), a8 (e2), a10 (e1); tokens 2 (a4, a5 -> a4 kept),
  // 3 (a6, a7: both dropped) and 5 (a10, a11 -> a10) keep one.
  CHECK(c.kept.offsets == std::vector<std::int32_t>{0, 2, 3, 4, 4, 5, 6});
  CHECK(c.tokens_fully_dropped == 1);
  // One capacity for every expert is apply_capacity.
  const capacity_result same = apply_capacities(r, order, std::vector<std::int64_t>(3, 3));
  const capacity_result one = apply_capacity(r, 3, drop_policy::lowest_score);
  CHECK(same.kept.expert_ids == one.kept.expert_ids);
  CHECK(same.dropped_per_expert == one.dropped_per_expert);
  CHECK_THROWS(apply_capacities(r, order, std::vector<std::int64_t>{1, 1}));
  CHECK_THROWS(apply_capacities(r, order, std::vector<std::int64_t>{1, -1, 1}));
}

TEST_CASE("expected_overflow: the normal's mean excess over a capacity", "[models][capacity]") {
  // No variance: the plain excess.
  CHECK(expected_overflow(10.0, 0.0, 7.0) == 3.0);
  CHECK(expected_overflow(5.0, 0.0, 7.0) == 0.0);
  // At the mean: sigma / sqrt(2 pi).
  CHECK(expected_overflow(100.0, 16.0, 100.0) == Approx(4.0 / std::sqrt(2.0 * 3.14159265358979)));
  // One sigma above the mean: sigma (phi(1) - (1 - Phi(1))) = 2 (0.2419707 - 0.1586553).
  CHECK(expected_overflow(100.0, 4.0, 102.0) == Approx(2.0 * 0.0833154).epsilon(1e-5));
  // Far below: the mean excess; far above: nothing.
  CHECK(expected_overflow(200.0, 4.0, 100.0) == Approx(100.0));
  CHECK(expected_overflow(0.0, 4.0, 100.0) == Approx(0.0).margin(1e-12));
  CHECK_THROWS(expected_overflow(1.0, -1.0, 0.0));
}

TEST_CASE("expected_batch_drops separates the experts' spread from the sample's noise",
          "[models][capacity]") {
  // Two experts, top-1, 100 sampled tokens: loads 60 and 40. m = 50, noise 50 (1 - 0.5) = 25,
  // spread (10^2 + 10^2) / 1 = 200, signal 175, w = 175 / 200 = 0.875: loads 58.75 and 41.25.
  // Batch of 400 tokens, capacity 200: expert 0's count has mean 235, variance
  // 400 q (1 - q) (q = 0.5875) + 16 * 0.875 * 25 = 96.9375 + 350 = 446.9375.
  const std::vector<std::int64_t> load{60, 40};
  const std::vector<double> d = expected_batch_drops(load, 100, 400, 200);
  REQUIRE(d.size() == 2);
  CHECK(d[0] == Approx(expected_overflow(235.0, 446.9375, 200.0)));
  CHECK(d[1] == Approx(expected_overflow(165.0, 400 * 0.4125 * 0.5875 + 350.0, 200.0)));
  CHECK(d[0] > 35.0);  // more than the plain excess 235 - 200, as the count varies
  // Loads no more spread than the sampling noise: all shrunk to the mean, whose overflow is the
  // batch's own binomial's (mean 200 = capacity, variance 400 / 4 = 100: 10 / sqrt(2 pi)).
  const std::vector<double> even = expected_batch_drops(std::vector<std::int64_t>{52, 48}, 100,
                                                        400, 200);
  CHECK(even[0] == Approx(10.0 / std::sqrt(2.0 * 3.14159265358979)));
  CHECK(even[1] == Approx(even[0]));
  CHECK_THROWS(expected_batch_drops(load, 100, 50, 200));
  CHECK_THROWS(expected_batch_drops(std::vector<std::int64_t>{101, 0}, 100, 400, 200));
}
