#pragma once
// Synthetic hidden states for the router, with the structure real token streams have:
// - topics: `topics` fixed random directions; each sequence draws one topic with Zipf
//   popularity (topic of rank r has probability proportional to 1/(r+1)^zipf_exponent). The
//   router prefers, for each topic, the experts whose gate columns align with its direction, so
//   popular topics load their experts more: expert load is skewed, as in deployments;
// - neighbouring tokens of a sequence are correlated: the per-token part follows an AR(1)
//   process e_t = rho * e_{t-1} + sqrt(1 - rho^2) * z_t, so a sequence's consecutive (draft)
//   tokens share experts;
// - skew: the topic direction's weight against the per-token part,
//   x_t = (skew * u_topic + e_t) / sqrt(1 + skew^2): every coordinate has unit variance whatever
//   the skew, and skew 0 gives independent tokens (near-uniform load).
// Topic directions have N(0,1) entries, so with make_gate_weights (N(0, 1/hidden)) the logits'
// distribution does not depend on the hidden size: statistics at a reduced math_hidden track
// those at the full size (tested).
//
// default_token_skew is calibrated so that DeepSeek-V3 routing (256 experts, top-8, groups 8/4)
// of a few thousand decode tokens gives an un-rebalanced max/mean rank load at EP16 of a few
// percent to tens of percent above 1 (vLLM PR #50647, 16 EP ranks serving GSM8K: median max/mean
// rank load 1.069 without EPLB).
// Measured (math_hidden 512, 4096 tokens, 7 seeds): skew 0 -> 1.04 (pure sampling noise),
// 0.15 -> about 1.09, 0.3 -> 1.14, 1.0 -> 1.27, 2.0 -> 1.5.
//
// Uniform mode (uniform_logits) draws random gate scores as DeepEP's tests do,
// |N(0,1)| + 1 per (token, expert), to be routed by route_logits.
#include <cstdint>
#include <span>
#include <vector>

#include "models/matrix.hpp"
#include "models/token_source_config.hpp"
#include "sim/engine/random.hpp"

namespace moesim::models {

class token_source {
 public:
  /// Draws the topic directions from rng::stream(seed, "token_source.topics"). Throws
  /// std::invalid_argument for hidden <= 0, topics <= 0, zipf_exponent < 0, skew < 0 or rho
  /// outside [0, 1). O(topics * hidden).
  token_source(const token_source_config& cfg, std::uint64_t seed);

  /// sequences * tokens_per_sequence rows, sequence-major (row s * tokens_per_sequence + i is
  /// token i of sequence s), each sequence with its own topic. O(rows * hidden) normal draws.
  [[nodiscard]] row_matrix generate(int sequences, int tokens_per_sequence, rng& gen) const;

  /// The topic a draw picks (Zipf), exposed for tests. O(log topics).
  [[nodiscard]] int draw_topic(rng& gen) const;

  [[nodiscard]] const token_source_config& config() const noexcept { return cfg_; }
  [[nodiscard]] const row_matrix& topic_directions() const noexcept { return topics_; }

 private:
  token_source_config cfg_;
  row_matrix topics_;              ///< topics x hidden
  std::vector<double> topic_cdf_;  ///< cumulative Zipf probabilities
};

/// Cumulative Zipf popularity of cfg.topics topics (rank r has weight 1/(r+1)^zipf_exponent),
/// the distribution every sequence's topic is drawn from. O(topics).
[[nodiscard]] std::vector<double> topic_cdf(const token_source_config& cfg);
/// A topic drawn from a cumulative popularity `cdf` (one uniform draw). O(log topics).
[[nodiscard]] int draw_topic(std::span<const double> cdf, rng& gen);

/// tokens x experts random scores |N(0,1)| + 1 (DeepEP test_low_latency / test_internode).
[[nodiscard]] row_matrix uniform_logits(int tokens, int experts, rng& gen);

}  // namespace moesim::models
