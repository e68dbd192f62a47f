// Policy divided's expert placement: the dispatch rule (own copy, else the least-served copy),
// a hot expert's replica halving its home rank's load, the exchange's rank pairs following the
// dispatch, and no replicas leaving the contiguous split's figures as they were.
#include "sim/run/expert_placement.hpp"

#include <catch2/catch.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/simulate.hpp"
#include "tests/run/run_text.hpp"

using namespace moesim;
using sim::run::expert_placement;
using sim::run::layer_routing;

namespace {

/// 4 sources x 8 experts (2 per rank), every source sending `hot` copies to expert 0 and one
/// to each other expert.
layer_routing hot_expert_routing(std::int64_t hot) {
  layer_routing lr;
  lr.sources = 4;
  lr.experts = 8;
  lr.copies.assign(32, 1);
  for (int s = 0; s < 4; ++s) lr.copies[static_cast<std::size_t>(s) * 8] = hot;
  lr.expert_load.assign(8, 4);
  lr.expert_load[0] = 4 * hot;
  return lr;
}

}  // namespace

TEST_CASE("placement: without replicas every expert computes at home, as the split did") {
  const expert_placement p(8, 4, 3);
  const layer_routing lr = hot_expert_routing(5);
  const expert_placement::pass_assignment a = p.assign(lr, 1);
  // Rank 0 holds experts 0 and 1: 4 x 5 + 4 copies, both active.
  CHECK(a.ranks[0].copies == 24);
  CHECK(a.ranks[0].active == 2);
  CHECK(a.ranks[3].copies == 8);
  // Rank pairs: source s to rank r carries its copies to r's two experts.
  for (int s = 0; s < 4; ++s) {
    CHECK(a.pairs[static_cast<std::size_t>(s) * 4] == 6);
    for (int r = 1; r < 4; ++r) CHECK(a.pairs[static_cast<std::size_t>(s) * 4 + r] == 2);
  }
  CHECK(p.most_replicas_on_a_rank() == 0);
}

TEST_CASE("placement: a hot expert's replica halves its home rank's expert load") {
  const layer_routing lr = hot_expert_routing(9);
  const std::vector<moesim::serve::expert_replica> replicas{{{}, 0, {2}}};
  const expert_placement p(8, 4, 2, replicas);
  const expert_placement plain(8, 4, 2);
  // Sources 0 and 2 hold a copy and keep their 9 copies (rank 0: 9 + 4 of expert 1 = 13;
  // rank 2: 9 + 8 = 17); sources 1 and 3 (9 each, by source) go to the least-loaded copy: 1 to
  // rank 0 (13 < 17), then 3 to rank 2 (17 < 22).
  const expert_placement::pass_assignment a = p.assign(lr, 0);
  CHECK(plain.assign(lr, 0).ranks[0].copies == 40);
  CHECK(a.ranks[0].copies == 22);
  CHECK(a.ranks[1].copies == 8);
  CHECK(a.ranks[2].copies == 26);
  CHECK(a.ranks[2].active == 3);                 // its two experts and the replica
  CHECK(p.assign(lr, 1).ranks[0].copies == 22);  // every layer when none is named
  // The copies still add up to the routing's.
  double total = 0;
  for (const auto& r : a.ranks) total += r.copies;
  CHECK(total == std::accumulate(lr.expert_load.begin(), lr.expert_load.end(), 0.0));
  // The exchange: source 3's hot copies go to rank 2, source 2's stay on it.
  CHECK(a.pairs[3 * 4 + 0] == 1);
  CHECK(a.pairs[3 * 4 + 2] == 9 + 2);
  CHECK(a.pairs[2 * 4 + 0] == 1);
  CHECK(a.pairs[2 * 4 + 2] == 9 + 2);
  // Max over mean of the expert tokens: 40 / 22 before, 26 / 22 after.
  const double mean = total / 4;
  CHECK(spread_of(plain.assign(lr, 0)).tokens_max_over_mean == Approx(40 / mean));
  CHECK(spread_of(a).tokens_max_over_mean == Approx(26 / mean));
  CHECK(p.most_replicas_on_a_rank() == 2);  // one copy in each of the two layers
}

TEST_CASE("placement: the balance follows the pass's load, and named layers only") {
  // Expert 7 (home rank 3) copied to ranks 0 and 1 in layer 1 only.
  const std::vector<moesim::serve::expert_replica> replicas{{{1}, 7, {0, 1}}};
  const expert_placement p(8, 4, 3, replicas);
  layer_routing lr = hot_expert_routing(1);
  for (int s = 0; s < 4; ++s) lr.copies[static_cast<std::size_t>(s) * 8 + 6] = 3;
  lr.copies[2 * 8 + 7] = 6;  // source 2, which holds no copy of expert 7, sends it 6
  lr.copies[0 * 8 + 2] = 5;  // rank 1's expert 2 gets 5 from source 0
  lr.expert_load[6] = 12;
  lr.expert_load[7] = 9;
  lr.expert_load[2] = 8;
  // Layer 0: no replicas, source 2's 6 go home with its 3 to expert 6.
  CHECK(p.assign(lr, 0).pairs[2 * 4 + 3] == 9);
  // Layer 1: without source 2's 6, ranks 0, 1 and 3 carry 9, 13 and 13 (each holder keeps its
  // one copy of expert 7); the 6 go to rank 0, the least loaded copy.
  const expert_placement::pass_assignment a = p.assign(lr, 1);
  CHECK(a.pairs[2 * 4 + 3] == 3);
  CHECK(a.pairs[2 * 4 + 0] == 2 + 6);
  CHECK(a.ranks[0].copies == 15);
  CHECK(a.ranks[1].copies == 13);
  CHECK(a.ranks[3].copies == 13);
  CHECK(a.ranks[0].active == 3);
  double total = 0;
  for (const auto& r : a.ranks) total += r.copies;
  CHECK(total == std::accumulate(lr.expert_load.begin(), lr.expert_load.end(), 0.0));
  CHECK(p.most_replicas_on_a_rank() == 1);
  CHECK_THROWS_AS(
      expert_placement(8, 4, 3, std::vector<moesim::serve::expert_replica>{{{}, 7, {3}}}),
      std::invalid_argument);  // the home
  CHECK_THROWS_AS(
      expert_placement(8, 4, 3, std::vector<moesim::serve::expert_replica>{{{}, 8, {0}}}),
      std::invalid_argument);
}

namespace {

std::string mixtral_ep(const std::string& policy, const std::string& replicas) {
  return R"(name: divided
seed: 7
model: {preset: mixtral-8x7b}
cluster: {preset: dgx-h200, gpus_per_node: 4, gpus_per_host: 4}
network: {model: analytical}
parallelism: {ep: 4}
moe: {capacity_factor: 0}
sampling: {tokens_per_step: 256, math_hidden: 32}
workload:
  kind: serve
  serve:
    arrivals: {process: closed, concurrency: 8}
    requests: 8
    prompt: {dist: fixed, tokens: 128}
    output: {dist: fixed, tokens: 24}
    scheduler: {max_running: 2, token_budget: 512}
    speculative:
      drafter: ngram
      k: 3
      acceptance: [0.7]
      reading: conditional
      acceptance_source: "test"
      policy: )" +
         policy + "\n" + replicas;
}

}  // namespace

TEST_CASE("divided: without replicas it runs as naive, with them the hot rank sheds load") {
  const sim::run::run_result naive = test::run_text(mixtral_ep("naive", ""));
  const sim::run::run_result bare = test::run_text(mixtral_ep("divided", ""));
  REQUIRE(naive.speculative);
  REQUIRE(bare.speculative);
  // The same routing, exchange and times: only the policy's name differs.
  CHECK(bare.simulated_time_s == naive.simulated_time_s);
  CHECK(bare.speculative->verify_pass_s == naive.speculative->verify_pass_s);
  CHECK(bare.speculative->rank_tokens_max_over_mean ==
        naive.speculative->rank_tokens_max_over_mean_contiguous);
  CHECK(naive.speculative->rank_tokens_max_over_mean ==
        naive.speculative->rank_tokens_max_over_mean_contiguous);

  // Every expert copied to the next rank: each source's tokens of an expert on the rank before
  // it stay on its own rank, so the load spreads and the spread falls.
  std::string replicas = "      replicas:\n";
  for (int e = 0; e < 8; ++e) {
    replicas += "        - {expert: " + std::to_string(e) + ", ranks: [" +
                std::to_string((e / 2 + 1) % 4) + "]}\n";
  }
  const sim::run::run_result spread = test::run_text(mixtral_ep("divided", replicas));
  REQUIRE(spread.speculative);
  const auto& x = *spread.speculative;
  CHECK(x.rank_tokens_max_over_mean_contiguous == naive.speculative->rank_tokens_max_over_mean);
  CHECK(x.rank_tokens_max_over_mean < x.rank_tokens_max_over_mean_contiguous);
  // The same routing decisions and acceptance draws: the same tokens come out.
  CHECK(spread.speculative->mean_accepted_tokens == naive.speculative->mean_accepted_tokens);
}

namespace {

/// 4 sources x 4 experts, sources 1 and 2 each sending 6 copies to expert 0.
layer_routing two_hot_sources() {
  layer_routing lr;
  lr.sources = 4;
  lr.experts = 4;
  lr.copies.assign(16, 0);
  lr.copies[1 * 4 + 0] = 6;
  lr.copies[2 * 4 + 0] = 6;
  lr.expert_load = {12, 0, 0, 0};
  return lr;
}

}  // namespace

TEST_CASE("placement: a slot table without replicas sends each expert's copies to its rank") {
  // 4 experts, 2 ranks, 6 slots (3 per rank): rank 0 {0, 1, 2}, rank 1 {3, 0, 1}.
  expert_placement p(4, 2, 1);
  const std::vector<int> table{0, 1, 2, 3, 0, 1};
  p.set_layer(0, table);
  CHECK_FALSE(p.contiguous());
  CHECK(p.most_replicas_on_a_rank() == 1);
  layer_routing lr;
  lr.sources = 2;
  lr.experts = 4;
  lr.copies = {4, 2, 1, 1, 2, 2, 3, 5};
  lr.expert_load = {6, 4, 4, 6};
  const expert_placement::pass_assignment a = p.assign(lr, 0);
  // Experts 0 and 1 are on both ranks: each source keeps its own; 2 is on rank 0, 3 on rank 1.
  CHECK(a.pairs == std::vector<std::int64_t>{7, 1, 3, 9});
  CHECK(a.ranks[0].copies == 10);
  CHECK(a.ranks[1].copies == 10);
  CHECK(a.ranks[0].active == 3);
  CHECK(a.ranks[1].active == 3);
  // The contiguous table restores the split.
  p.set_layer(0, std::vector<int>{0, 1, 2, 3});
  CHECK(p.contiguous());
}

TEST_CASE(
    "placement: balanced spreads a replicated expert's remote copies, nearest keeps them "
    "on the source's node") {
  // 4 ranks x 2 slots: rank 0 {0, 1}, 1 {1, 2}, 2 {2, 3}, 3 {3, 0}: expert 0 on ranks 0 and 3.
  expert_placement p(4, 4, 1);
  p.set_layer(0, std::vector<int>{0, 1, 1, 2, 2, 3, 3, 0});
  const layer_routing lr = two_hot_sources();
  // Balanced: source 1's 6 to rank 0 (tie: the home), then source 2's to rank 3 (0 < 6).
  const expert_placement::pass_assignment b = p.assign(lr, 0);
  CHECK(b.pairs[1 * 4 + 0] == 6);
  CHECK(b.pairs[2 * 4 + 3] == 6);
  CHECK(b.ranks[0].copies == 6);
  CHECK(b.ranks[3].copies == 6);
  // Nearest: ranks 0-2 share a node (distance 1), rank 3 is on another (2): both go to rank 0.
  std::vector<int> d(16, 2);
  for (int x = 0; x < 4; ++x) {
    for (int y = 0; y < 4; ++y) {
      if (x == y)
        d[(static_cast<std::size_t>(x) * 4) + static_cast<std::size_t>(y)] = 0;
      else if (x < 3 && y < 3)
        d[(static_cast<std::size_t>(x) * 4) + static_cast<std::size_t>(y)] = 1;
    }
  }
  p.set_choice(sim::run::replica_choice::nearest, d);
  const expert_placement::pass_assignment n = p.assign(lr, 0);
  CHECK(n.pairs[1 * 4 + 0] == 6);
  CHECK(n.pairs[2 * 4 + 0] == 6);
  CHECK(n.ranks[0].copies == 12);
  CHECK(n.ranks[3].copies == 0);
  CHECK(sim::run::spread_of(n).tokens_max_over_mean == 4.0);
  CHECK(sim::run::spread_of(b).tokens_max_over_mean == 2.0);
}

TEST_CASE("placement: bad slot tables are refused with the numbers") {
  expert_placement p(4, 2, 1);
  CHECK_THROWS_WITH(p.set_layer(0, std::vector<int>{0, 1, 2}),
                    Catch::Contains("3 slots for 4 experts"));
  CHECK_THROWS_WITH(p.set_layer(0, std::vector<int>{0, 1, 2, 2}),
                    Catch::Contains("no slot of layer 0 holds expert 3"));
}

TEST_CASE("divided takes its copies from moe.placement when the scenario has one") {
  // Without a replicas list and without moe.placement, divided runs on the contiguous split
  // (above: its spread equals the split's). With moe.placement, the verifying passes run on the
  // placement's slot tables (load_aware, 4 redundant experts: 12 slots, 3 per rank), so the
  // spread under the run's placement is no longer the split's.
  std::string text = mixtral_ep("divided", "");
  const std::string moe = "moe: {capacity_factor: 0}";
  text.replace(text.find(moe), moe.size(),
               "moe: {capacity_factor: 0, placement: {strategy: load_aware, "
               "redundant_experts: 4}}");
  const sim::run::run_result placed = test::run_text(text);
  REQUIRE(placed.speculative);
  REQUIRE(placed.placement);
  CHECK(placed.placement->physical_experts == 12);
  const auto& x = *placed.speculative;
  CHECK(x.rank_tokens_max_over_mean != x.rank_tokens_max_over_mean_contiguous);
}
