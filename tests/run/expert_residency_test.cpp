// Rebalancing's weight diff: the experts a rank gains, each fetched from the nearest rank that
// held it.
#include "sim/run/expert_residency.hpp"

#include <catch2/catch.hpp>
#include <vector>

using namespace moesim;
using sim::run::expert_placement;
using sim::run::weight_diff;

TEST_CASE("rebalance: the weight diff moves each gained expert from the nearest holder") {
  // Before: the split, rank 0 {0, 1}, rank 1 {2, 3}. After: rank 0 {0, 1, 3}, rank 1 {2, 3, 0}.
  const expert_placement before(4, 2, 1);
  expert_placement after(4, 2, 1);
  after.set_layer(0, std::vector<int>{0, 1, 3, 2, 3, 0});
  const auto moves = weight_diff(before, after, 0, {0, 1, 1, 0});
  REQUIRE(moves.size() == 2);
  CHECK(moves[0].expert == 3);
  CHECK(moves[0].from == 1);
  CHECK(moves[0].to == 0);
  CHECK(moves[1].expert == 0);
  CHECK(moves[1].from == 0);
  CHECK(moves[1].to == 1);
  // Unchanged layers move nothing.
  CHECK(weight_diff(after, after, 0, {}).empty());
  // A swap of two experts between ranks: two moves, one each way.
  expert_placement swapped(4, 2, 1);
  swapped.set_layer(0, std::vector<int>{2, 1, 0, 3});
  const auto swap = weight_diff(before, swapped, 0, {});
  REQUIRE(swap.size() == 2);
  CHECK(swap[0].expert == 2);
  CHECK(swap[0].from == 1);
  CHECK(swap[1].expert == 0);
  CHECK(swap[1].to == 1);
}
