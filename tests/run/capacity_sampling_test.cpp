// Drops of a batch larger than the routing sample are decided at the batch's capacity: the drop
// rate measured with a small sample matches the one of the sample that is the whole batch
// (routing_sampler::count, models::expected_batch_drops). Applying capacity to the sample at
// the sample's own capacity overstated it (16 sampled tokens an expert against 256 in the
// batch: about twice the batch's rate at capacity factor 1).
#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/routing_sampler.hpp"

using namespace moesim;

namespace {

sim::run::scenario_set switch_64_experts() {
  return io::load_scenario_text(R"(
name: t
seed: 1
model: {preset: switch-c, layers: 2, moe: {experts: 64}}
cluster: {preset: tpu-v5p, shape: 2x2x2}
parallelism: {ep: 8}
moe: {capacity_factor: 1.0, drop_policy: lowest_score}
sampling: {tokens_per_step: 1024, math_hidden: 64}
workload: {kind: prefill, batch_per_device: 4, context: 512, steps: 1}
)",
                                "test.yaml", io::load_options{});
}

/// Mean drop rate over seeds 1..4, both layers and two passes, with `sample` sampled tokens of
/// the 8 x 2048-token batch, at capacity factor `cf`.
double mean_drop_rate(std::uint32_t sample, double cf) {
  const auto set = switch_64_experts();
  double sum = 0;
  int n = 0;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    sim::run::scenario s = set.base;
    s.seed = seed;
    s.sampling.tokens_per_step = sample;
    s.moe.capacity_factor = cf;
    sim::run::routing_sampler sampler(s, 8, 2048, 1);
    for (int pass = 0; pass < 2; ++pass) {
      for (int layer = 0; layer < 2; ++layer) {
        const sim::run::layer_routing lr = sampler.route(0, pass, layer, 1);
        CHECK(lr.scaled == (sample < 8 * 2048));
        sum += lr.drop_rate;
        ++n;
      }
    }
  }
  return sum / n;
}

}  // namespace

TEST_CASE("drop rate from a 1024-token sample is within 20% of the whole 16384-token batch's",
          "[run][capacity]") {
  const double exact = mean_drop_rate(8 * 2048, 1.0);
  const double sampled = mean_drop_rate(1024, 1.0);
  INFO("exact " << exact << ", sampled " << sampled);
  REQUIRE(exact > 0.01);  // the case has drops to estimate
  CHECK(sampled == Approx(exact).epsilon(0.2));
  // More capacity: fewer drops, still matched (a looser bound: the rate is small and noisier).
  const double exact_125 = mean_drop_rate(8 * 2048, 1.25);
  const double sampled_125 = mean_drop_rate(1024, 1.25);
  INFO("capacity factor 1.25: exact " << exact_125 << ", sampled " << sampled_125);
  CHECK(exact_125 < exact);
  CHECK(sampled_125 == Approx(exact_125).epsilon(0.5).margin(0.002));
}
