#pragma once
// MoE routers: token hidden states -> the experts each token is sent to, with combine weights.
//
//   logits = hidden (tokens x hidden) * gate (hidden x experts)          [Eigen GEMM]
//   scores = softmax(logits) over experts  |  sigmoid(logits) per expert
//   choice = scores + selection_bias                  (bias balancing: selection only)
//   groups (n_groups > 1): group score = sum of the best two choice values in the group; only the
//            topk_groups best groups stay eligible (DeepSeek-V3 group-limited routing; with
//            groups = nodes it is node-limited routing)
//   top_k  = the top_k best eligible choice values, by partial selection (no sort of the row)
//   weight = score of each selected expert (never the bias), renormalised over the selected ones
//            if normalize_top_k, times routed_scaling_factor
//
// Ordering and ties: a token's assignments are listed best first; equal values go to the lower
// expert (or group) id, so a routing is a pure function of its inputs.
// Complexity: the GEMM is 2*tokens*hidden*experts FLOPs; scoring and selection
// O(tokens * experts) with O(top_k) work per candidate that enters the running top-k.
#include <cstdint>
#include <span>
#include <vector>

#include "models/matrix.hpp"
#include "models/model_spec.hpp"
#include "models/routing.hpp"
#include "sim/engine/random.hpp"

namespace moesim::models {

struct router_config {
  int experts = 0;
  int top_k = 0;
  router_scoring scoring = router_scoring::softmax;
  bool normalize_top_k = true;
  float routed_scaling_factor = 1.0f;
  int n_groups = 1;
  int topk_groups = 1;
};

/// The router of a model's MoE layers as its spec describes it.
[[nodiscard]] router_config router_config_for(const moe_spec& moe);
/// Throws std::invalid_argument (top_k vs experts, groups vs experts, scaling factor > 0).
void validate(const router_config& cfg);

struct route_options {
  /// Empty, or one value per expert added to the scores for selection only.
  std::span<const float> selection_bias{};
  /// Worker threads for route()/route_logits(); the tokens are cut into fixed chunks of
  /// route_chunk_tokens rows whatever the thread count, so results do not depend on it.
  int threads = 1;
  /// Whether to compute router_output::logsumexp (the z-loss needs it). For sigmoid scoring it
  /// costs a second exponential per expert; callers that only want decisions turn it off (the
  /// output's logsumexp is then zeros).
  bool logsumexp = true;
};

inline constexpr int route_chunk_tokens = 1024;

struct router_output {
  routing decisions;
  /// tokens x experts: softmax probabilities, or sigmoid values (bias never included).
  row_matrix scores;
  /// Per token, log-sum-exp of its logits (for the router z-loss).
  std::vector<float> logsumexp;
};

/// Random gate weights: Gaussian columns scaled to unit norm, so that logits of hidden states
/// with unit-variance coordinates have unit variance for every expert at any hidden size (hence
/// routing statistics comparable across math_hidden). Draws row by row,
/// O(hidden * experts) normals from `gen`.
[[nodiscard]] row_matrix make_gate_weights(int hidden, int experts, rng& gen);

/// hidden * gate with the project's fixed GEMM blocking. Throws on a size mismatch.
[[nodiscard]] row_matrix gate_logits(const row_matrix& hidden, const row_matrix& gate);

/// Full router: gate GEMM, scoring, (group-limited) top-k. `hidden` is tokens x h, `gate`
/// h x experts (experts == cfg.experts). Throws std::invalid_argument on bad sizes or config.
[[nodiscard]] router_output route(const row_matrix& hidden, const row_matrix& gate,
                                  const router_config& cfg, const route_options& opt = {});

/// The router after its GEMM: `logits` is tokens x experts (e.g. random scores for uniform
/// routing, as DeepEP's tests draw them). Same contract as route().
[[nodiscard]] router_output route_logits(const row_matrix& logits, const router_config& cfg,
                                         const route_options& opt = {});

/// Noisy top-k gating for training (Shazeer et al. 2017): logits + N(0,1) * softplus(hidden *
/// noise_gate), then routed as route_logits. One normal draw per (token, expert), row by row.
[[nodiscard]] router_output route_noisy(const row_matrix& hidden, const row_matrix& gate,
                                        const row_matrix& noise_gate, const router_config& cfg,
                                        rng& gen);

/// Expert-choice routing (Zhou et al. 2022): scores = softmax over experts; each expert takes
/// its capacity = ceil(tokens * capacity_factor / experts) best tokens (ties: lower token id),
/// so tokens receive 0..experts experts. Weights and scores are the softmax probabilities.
/// O(tokens * experts * log(capacity)).
[[nodiscard]] routing route_expert_choice(const row_matrix& logits, double capacity_factor);

/// Hash routing (Roller et al. 2021): token id -> top_k distinct experts by a fixed hash
/// (splitmix64 of id, seed and draw number); weights 1/top_k, scores 1. O(tokens * top_k).
[[nodiscard]] routing route_hash(std::span<const std::uint32_t> token_ids, int experts, int top_k,
                                 std::uint64_t seed);

/// Auxiliary-loss-free balancing (DeepSeek-V3): bias[e] += rate * sign(mean load - load[e]).
/// Throws if the sizes differ or rate < 0. O(experts).
void update_balance_bias(std::span<float> bias, std::span<const std::int64_t> load, float rate);

}  // namespace moesim::models
