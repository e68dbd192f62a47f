// A serving instance's routing with its worker (decisions made an iteration ahead, counts shared
// between the threads) gives, layer by layer, the routing the sampler gives directly, whatever
// the thread count, when the guessed sample size is wrong, and when a layer is asked out of turn.
#include "sim/run/iteration_routing.hpp"
#include "sim/run/routing_sampler.hpp"

#include <catch2/catch.hpp>
#include <vector>

#include "tests/run/small_scenarios.hpp"

using namespace moesim;

namespace {

void check_same(const sim::run::layer_routing& a, const sim::run::layer_routing& b) {
  CHECK(a.copies == b.copies);
  CHECK(a.expert_load == b.expert_load);
  CHECK(a.rank_tokens == b.rank_tokens);
  CHECK(a.dropped_per_expert == b.dropped_per_expert);
  CHECK(a.unique_experts == b.unique_experts);
  CHECK(a.drop_rate == b.drop_rate);
  CHECK(a.scaled == b.scaled);
}

}  // namespace

TEST_CASE("iteration routing equals the sampler's, on one thread or two, guess right or wrong",
          "[run]") {
  const auto set = test_scenarios::deepseek_ep16();
  const auto& s = set.base;
  const std::vector<int> layers{3, 4, 5, 6};
  // Per-source token counts of successive iterations: the sample (256) filled, then a pass
  // smaller than the sample (the worker guessed 256: dropped), then filled again, then an idle
  // rank.
  std::vector<std::vector<std::int64_t>> iterations{
      std::vector<std::int64_t>(16, 32), std::vector<std::int64_t>(16, 5),
      std::vector<std::int64_t>(16, 20), std::vector<std::int64_t>(16, 20)};
  iterations[3][7] = 0;
  sim::run::routing_sampler direct(s, 16, 64, 1);
  REQUIRE(direct.independent());  // else the worker would not run
  std::vector<sim::run::layer_routing> expected;
  for (std::size_t i = 0; i < iterations.size(); ++i) {
    for (const int l : layers) {
      expected.push_back(direct.route(0, static_cast<int>(i), l, 1, iterations[i]));
    }
  }
  // route() is count(decide()) with the sample the counts call for.
  {
    sim::run::routing_sampler split(s, 16, 64, 1);
    const auto d = split.decide(0, 1, 4, split.sample_for(16 * 5), 1);
    CHECK(d.sample == 80);
    check_same(split.count(d, iterations[1], 1), expected[5]);
  }
  for (const int threads : {1, 2}) {
    CAPTURE(threads);
    sim::run::routing_tally tally(256, 16);
    sim::run::iteration_routing routing(s, 64, sim::run::ep_nodes{}, tally, threads, layers);
    std::size_t k = 0;
    for (std::size_t i = 0; i < iterations.size(); ++i) {
      routing.begin_iteration(static_cast<int>(i), iterations[i]);
      for (const int l : layers) {
        check_same(*routing.routing(0, static_cast<int>(i), l, true), expected[k++]);
      }
    }
    CHECK(tally.routed_layers() == static_cast<int>(expected.size()));
    // A layer of another pass is routed on the spot, with the current iteration's counts.
    check_same(*routing.routing(0, 1, 4, true), direct.route(0, 1, 4, 1, iterations[3]));
  }
}
