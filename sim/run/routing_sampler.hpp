#pragma once
// The bridge from real routing maths to timing. For every MoE layer and step it draws sampled
// token hidden states (models::token_source, or DeepEP-style random scores when skew is 0),
// runs the model's router on them (models::route), applies capacity and dropping, and turns
// the decisions into (token, expert) copies per (source device, expert) for the *full* batch:
// exact when the batch fits in the sample, otherwise scaled from the sample by multinomial
// draws so per-device counts keep their variance (models/batch_scaling.hpp).
#include <cstdint>
#include <vector>

#include "models/router.hpp"
#include "models/token_source.hpp"
#include "sim/engine/random.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::sim::run {

struct layer_routing {
  int sources = 0;
  int experts = 0;
  /// copies[src * experts + e]: (token, expert) assignments from source device src to expert e
  /// in the full batch, after capacity.
  std::vector<std::int64_t> copies;
  std::vector<std::int64_t> dropped_per_expert;  ///< full batch
  double unique_experts = 0;                     ///< distinct experts touched by the full batch
  double drop_rate = 0;
  bool scaled = false;  ///< counts were scaled from a smaller sample
};

class routing_sampler {
 public:
  /// `sources` devices each contribute `tokens_per_source` tokens per step to one EP group.
  /// `threads` work on the router and the batch scaling; results do not depend on it.
  routing_sampler(const scenario& s, int sources, std::int64_t tokens_per_source, int threads = 1);

  /// Routing of one pass through one MoE layer for EP group `group`; `pass` counts
  /// micro-batches over the run (step * micro_batches + micro-batch). Deterministic in
  /// (seed, group, pass, layer). O(sample * math_hidden * experts).
  layer_routing route(int group, int pass, int layer);

  [[nodiscard]] int math_hidden() const noexcept { return math_hidden_; }
  [[nodiscard]] std::int64_t sample_tokens() const noexcept { return sample_; }

 private:
  const models::row_matrix& gate(int layer);
  models::routing decide(int layer, int sample, rng& gen, const models::route_options& opt);

  const scenario& s_;
  int sources_;
  int threads_;
  std::int64_t tokens_per_source_;
  int math_hidden_;
  std::int64_t sample_;
  models::router_config router_;
  models::token_source tokens_;
  std::vector<models::row_matrix> gates_;  ///< per layer, created on first use
  std::vector<std::vector<float>> bias_;   ///< per layer selection bias (balance: bias)
};

}  // namespace moesim::sim::run
