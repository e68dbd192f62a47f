// Routings computed ahead on worker threads are the routings the sampler gives directly, whatever
// the number of workers, the window and the order they are taken in.
#include "sim/run/routing_prefetch.hpp"
#include "sim/run/routing_sampler.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "tests/run/small_scenarios.hpp"

using namespace moesim;

namespace {

sim::run::scenario_set small(const std::string& extra = "") {
  return test_scenarios::deepseek_ep16(extra);
}

sim::run::routing_key_space keys_of(const sim::run::scenario& s) {
  sim::run::routing_key_space k;
  k.replicas = 2;
  k.steps = static_cast<int>(s.workload.steps);
  k.micro_batches = static_cast<int>(s.workload.micro_batches);
  for (int l = 3; l < 7; ++l) k.layers.push_back(l);
  return k;
}

struct key {
  int replica;
  int pass;
  int layer;
};

// Every key of keys_of in the order a two-stage pipeline might take them: not the prefetch order.
std::vector<key> take_order() {
  std::vector<key> out;
  for (int pass = 0; pass < 4; ++pass) {
    for (int rep = 1; rep >= 0; --rep) {
      for (int layer = 3; layer < 7; ++layer) out.push_back({rep, pass, layer});
    }
  }
  return out;
}

void check_same(const sim::run::layer_routing& a, const sim::run::layer_routing& b) {
  CHECK(a.copies == b.copies);
  CHECK(a.dropped_per_expert == b.dropped_per_expert);
  CHECK(a.unique_experts == b.unique_experts);
  CHECK(a.drop_rate == b.drop_rate);
}

}  // namespace

TEST_CASE("prefetched routings equal the sampler's, for any workers and window", "[run]") {
  const auto set = small();
  const auto& s = set.base;
  sim::run::routing_sampler direct(s, 16, 32, 1);
  std::vector<sim::run::layer_routing> expected;
  for (const key k : take_order()) expected.push_back(direct.route(k.replica, k.pass, k.layer));

  for (const int workers : {0, 1, 3}) {
    for (const std::size_t window : {std::size_t{1}, std::size_t{5}, std::size_t{100}}) {
      CAPTURE(workers, window);
      sim::run::routing_sampler sampler(s, 16, 32, 2);
      sim::run::routing_prefetch prefetch(sampler, keys_of(s), workers, window);
      const auto order = take_order();
      for (std::size_t i = 0; i < order.size(); ++i) {
        check_same(prefetch.take(order[i].replica, order[i].pass, order[i].layer), expected[i]);
      }
    }
  }
}

TEST_CASE("prefetch stops early and refuses keys outside the run", "[run]") {
  const auto set = small();
  sim::run::routing_sampler sampler(set.base, 16, 32, 1);
  {
    sim::run::routing_prefetch prefetch(sampler, keys_of(set.base), 2, 3);
    (void)prefetch.take(0, 0, 3);
    CHECK_THROWS_WITH(prefetch.take(0, 0, 3), "routing_prefetch: routing taken twice");
    CHECK_THROWS_WITH(prefetch.take(0, 0, 2), "routing_prefetch: no routing (0, 0, 2) in the run");
    CHECK_THROWS_WITH(prefetch.take(2, 0, 3), "routing_prefetch: no routing (2, 0, 3) in the run");
  }  // destroyed with routings still pending or running: the workers stop and join
}

TEST_CASE("bias balancing chains each layer's routings in a fixed order, for any workers") {
  const auto set = small("moe: {balance: bias}\n");
  sim::run::routing_sampler direct(set.base, 16, 32, 1);
  CHECK_FALSE(direct.independent());
  // Each layer's bias sees its routings in (step, micro-batch, replica) order.
  const auto keys = keys_of(set.base);
  std::map<std::tuple<int, int, int>, sim::run::layer_routing> expected;
  for (int pass = 0; pass < keys.steps * keys.micro_batches; ++pass) {
    for (const int layer : keys.layers) {
      for (int rep = 0; rep < keys.replicas; ++rep) {
        expected.emplace(std::make_tuple(rep, pass, layer), direct.route(rep, pass, layer));
      }
    }
  }
  for (const int workers : {0, 1, 3}) {
    for (const std::size_t window : {std::size_t{1}, std::size_t{4}, std::size_t{100}}) {
      CAPTURE(workers, window);
      sim::run::routing_sampler sampler(set.base, 16, 32, 1);
      sim::run::routing_prefetch prefetch(sampler, keys, workers, window);
      for (const key k : take_order()) {  // replicas taken in the other order
        check_same(prefetch.take(k.replica, k.pass, k.layer),
                   expected.at(std::make_tuple(k.replica, k.pass, k.layer)));
      }
    }
  }
}
