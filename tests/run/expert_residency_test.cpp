// Rebalancing's weight diff: the experts a rank gains, each fetched from the nearest rank that
// held it.
#include "sim/run/expert_residency.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/simulate.hpp"

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

namespace {

sim::run::run_result rebalanced(const std::string& mode) {
  const std::string text = R"(name: rebalance
seed: 5
model: {preset: mixtral-8x7b}
cluster: {preset: dgx-h100, nodes: 1}
network: {model: analytical}
parallelism: {ep: 8}
moe: {capacity_factor: 0, placement: {strategy: eplb, redundant_experts: 8, rebalance: {every: 1, window: 1, mode: )" +
                           mode + R"(}}}
sampling: {tokens_per_step: 256, math_hidden: 32}
workload: {kind: decode, batch_per_device: 16, context: 1024, steps: 3}
)";
  sim::trace_recorder trace(false);
  return sim::run::simulate(io::load_scenario_text(text, "rebalance.yaml").base, trace);
}

}  // namespace

TEST_CASE("rebalance: stop_the_world stalls for the moves, background does not, both repeat") {
  const auto stw = rebalanced("stop_the_world");
  const auto bg = rebalanced("background");
  REQUIRE(stw.placement);
  REQUIRE(bg.placement);
  const auto& s = *stw.placement;
  // After steps 1 and 2 of 3 (never after the last).
  CHECK(s.rebalances == 2);
  CHECK(bg.placement->rebalances == 2);
  REQUIRE(s.bytes_moved > 0);
  // Every moved byte enters some GPU through its NVSwitch port, at most 450 GB/s each (H100
  // NVLink 4, per direction), 8 ports at once: the stall is at least the bytes over all ports.
  CHECK(s.stall_s >= s.bytes_moved / (8 * 450e9));
  CHECK(bg.placement->stall_s == 0);
  CHECK(stw.step_time_s > bg.step_time_s);
  // Same scenario and seed, same figures.
  const auto again = rebalanced("stop_the_world");
  CHECK(again.placement->bytes_moved == s.bytes_moved);
  CHECK(again.placement->stall_s == s.stall_s);
  CHECK(again.step_time_s == stw.step_time_s);
}
