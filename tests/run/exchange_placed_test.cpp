// per_rank and hierarchical exchanges under a moe.placement whose experts have one copy each:
// the routing counts the ranks (and nodes) that hold each token's experts, not the contiguous
// split's. Hand-made decisions, hand-solved counts.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/routing_sampler.hpp"

using namespace moesim;

namespace {

sim::run::scenario_set mixtral_ep4(const std::string& exchange) {
  return io::load_scenario_text(R"(
name: t
seed: 5
model: {preset: mixtral-8x7b, layers: 2}
cluster: {preset: dgx-h200, gpus_per_node: 4, gpus_per_host: 4}
parallelism: {ep: 4}
moe: {exchange: )" + exchange + R"(}
sampling: {tokens_per_step: 256, math_hidden: 32}
workload: {kind: decode, batch_per_device: 1, context: 512, steps: 1}
)",
                                "test.yaml", io::load_options{});
}

/// Layer 0, one token per source: source 0 picks experts {0, 4}, source 1 {1, 2}, source 2
/// {3, 7}, source 3 {5, 6}.
sim::run::sampled_decisions four_tokens() {
  sim::run::sampled_decisions d;
  d.layer = 0;
  d.sample = 4;
  models::routing& r = d.cap.kept;
  r.tokens = 4;
  r.experts = 8;
  r.offsets = {0, 2, 4, 6, 8};
  for (const int e : {0, 4, 1, 2, 3, 7, 5, 6}) {
    r.expert_ids.push_back(static_cast<models::expert_index>(e));
    r.weights.push_back(0.5F);
    r.scores.push_back(0.5F);
  }
  d.cap.dropped_per_expert.assign(8, 0);
  return d;
}

}  // namespace

TEST_CASE("per_rank under a placement counts the ranks holding each token's experts") {
  const auto set = mixtral_ep4("per_rank");
  const std::vector<std::int64_t> one(4, 1);
  const sim::run::sampled_decisions d = four_tokens();
  // Contiguous split (experts 2r and 2r + 1 on rank r): the tokens need ranks {0, 2}, {0, 1},
  // {1, 3} and {2, 3}.
  const sim::run::routing_sampler split(set.base, 4, 1, 1);
  const auto a = split.count(d, one);
  CHECK(a.rank_tokens ==
        std::vector<std::int64_t>{1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1});
  // Round robin in layer 0 (expert e on rank e % 4): {0}, {1, 2}, {3}, {1, 2}.
  const sim::run::routing_sampler placed(set.base, 4, 1, 1, {}, {{0, 1, 2, 3, 0, 1, 2, 3}});
  const auto b = placed.count(d, one);
  CHECK(b.rank_tokens ==
        std::vector<std::int64_t>{1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 0});
  CHECK(a.copies == b.copies);  // the same decisions; only the ranks' counts differ
  // The contiguous table itself, or no row for the layer, counts as the split does.
  const sim::run::routing_sampler same(set.base, 4, 1, 1, {}, {{0, 0, 1, 1, 2, 2, 3, 3}});
  CHECK(same.count(d, one).rank_tokens == a.rank_tokens);
  const sim::run::routing_sampler other_layer(set.base, 4, 1, 1, {}, {{}, {0, 1, 2, 3, 0, 1, 2, 3}});
  CHECK(other_layer.count(d, one).rank_tokens == a.rank_tokens);
  CHECK_THROWS_AS(sim::run::routing_sampler(set.base, 4, 1, 1, {}, {{0, 1, 2}}),
                  std::logic_error);
}

TEST_CASE("hierarchical under a placement counts the nodes holding each token's experts") {
  const auto set = mixtral_ep4("hierarchical");
  const std::vector<std::int64_t> one(4, 1);
  const sim::run::sampled_decisions d = four_tokens();
  // Ranks 0-1 on node 0, 2-3 on node 1. Round robin: the tokens need ranks {0}, {1, 2}, {3},
  // {1, 2}, so nodes {0}, {0, 1}, {1}, {0, 1}.
  const sim::run::routing_sampler placed(set.base, 4, 1, 1, {0, 0, 1, 1},
                                         {{0, 1, 2, 3, 0, 1, 2, 3}});
  const auto b = placed.count(d, one);
  CHECK(b.node_tokens == std::vector<std::int64_t>{1, 0, 1, 1, 0, 1, 1, 1});
  CHECK(b.rank_tokens ==
        std::vector<std::int64_t>{1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 0});
}
