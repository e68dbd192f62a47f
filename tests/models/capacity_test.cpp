#include "models/capacity.hpp"

#include <catch2/catch.hpp>
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
