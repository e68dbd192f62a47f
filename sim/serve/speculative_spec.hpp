#pragma once
// Speculative decoding as a serving scenario asks for it (`workload.serve.speculative`): who
// drafts, how many tokens a chain drafts, how often the target accepts them, and the policy
// that decides what is verified. Plain data with defaults; sim/io reads and range-checks it
// (file:line:col errors) and resolves a draft model's preset into `draft`.
//
// Acceptance is a per-position vector. Entry i is the probability that draft position i is
// accepted given that positions 0..i-1 were (the conditional reading), which is what the
// sampler draws. Serving engines usually report the marginal reading instead: vLLM's
// "Per-position acceptance rate" is num_accepted_tokens_per_pos[i] / num_drafts
// (vllm/v1/spec_decode/metrics.py), and a position counts only when every earlier one was
// accepted, so it is the product of the conditionals up to i. `reading` says which one the
// scenario's numbers are; marginal numbers are converted (c_0 = m_0, c_i = m_i / m_{i-1}).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/model_spec.hpp"

namespace moesim::serve {

/// Who proposes the drafts.
///  - draft_model: a small dense model (a preset) decoding K tokens on the same devices, its
///    weights and KV cache beside the target's;
///  - mtp: the target's own multi-token-prediction modules (DeepSeek-V3 s2.2), one MoE block
///    each, run K times (SGLang runs DeepSeek-V3's one module for every step);
///  - eagle: an EAGLE-style draft head, one decoder layer at the target's hidden size sharing
///    the target's embedding and output head (Li et al. 2024, arXiv:2401.15077, s3);
///  - ngram: prompt lookup, no draft compute.
enum class drafter_kind { draft_model, mtp, eagle, ngram };

/// What the serving loop does with the drafts. `none` is plain decoding (drafts neither made
/// nor verified), `naive` verifies a fixed K every step. Mitigations (sim/serve/
/// speculation_policies.hpp has the mechanisms of the first three):
///  - grouped: K chosen per iteration by measured utility, Cascade's test and set phases;
///  - deferral: a chain stops at the first draft whose confidence is below `threshold`, and a
///    sequence whose first draft is below it does not speculate this step;
///  - blockwise: blockwise parallel decoding, k proposal heads on the target's last hidden
///    state (no drafter passes), the block verified in the next pass;
///  - divided: a fixed K with the tokens of replicated experts split over their copies
///    (`replicas`, divided rollout);
///  - prefetch: a fixed K, with the experts the verification is predicted to touch loaded from
///    host memory into the HBM expert cache while the drafter runs (`prefetch_from`; needs
///    `offload:`, sim/run/expert_prefetch.hpp).
enum class speculation_policy { none, naive, grouped, deferral, blockwise, divided, prefetch };

/// Policy prefetch's predictor of the experts a verification touches:
///  - draft: the draft's own routing (the verify tokens' computed routing, each expert the
///    verification uses predicted with probability `prefetch_accuracy`, else a wrong one);
///  - prompt: the experts the context routed to most (context-aware), per MoE layer and device.
enum class prefetch_source { draft, prompt };

/// Extra copies of one routed expert on other EP ranks of every EP group (policy divided). Its
/// home stays where the contiguous split puts it (expert / (experts / ep)); the placement issue
/// will generate these lists. sim/run/expert_placement.hpp says which copy serves whom.
struct expert_replica {
  std::vector<int> layers;  ///< MoE layers holding the copies; empty: every MoE layer
  int expert = 0;
  std::vector<int> ranks;  ///< EP ranks holding an extra copy (not the home, each once)
};

/// How the acceptance vector's numbers were measured (see the file comment).
enum class acceptance_reading { conditional, marginal };

/// A draft tree as SGLang configures EAGLE (sim/serve/draft_tree.hpp says how it is built and
/// accepted): `steps` draft passes (--speculative-num-steps), `top_k` candidates a node keeps per
/// pass (--speculative-eagle-topk), `draft_tokens` tokens verified per sequence, the last
/// verified token included (--speculative-num-draft-tokens: draft_tokens - 1 drafts, at most
/// top_k + (steps - 1) top_k^2). `rank_acceptance[r - 1]`: the probability that a node's
/// rank-r candidate (r >= 1) is accepted given ranks 0..r-1 were rejected (Sequoia's positional
/// acceptance, Chen et al. 2024, arXiv:2402.12374); rank 0's is the chain's per-position rate.
struct draft_tree_spec {
  std::uint32_t steps = 1;
  std::uint32_t top_k = 1;
  std::uint32_t draft_tokens = 2;
  std::vector<double> rank_acceptance;  ///< at least top_k - 1 entries
};

struct speculative_spec {
  drafter_kind drafter = drafter_kind::draft_model;
  std::string draft_model;  ///< draft_model: the model preset's name
  std::uint32_t k = 1;      ///< draft tokens per chain
  /// Per-position acceptance as written (`reading`), at most k entries (with a grid, at most
  /// its longest draft length); positions past its end repeat its last conditional rate.
  std::vector<double> acceptance;
  acceptance_reading reading = acceptance_reading::conditional;
  std::string acceptance_source;  ///< where the numbers come from (required)
  /// How much a sequence's topic moves its acceptance, in [0, 1] (sim/serve/acceptance.hpp).
  double topic_spread = 0;
  speculation_policy policy = speculation_policy::naive;
  /// A draft tree instead of a chain of k: its draft_tokens - 1 drafts are what a sequence
  /// verifies (k is then draft_tokens - 1, the acceptance vector's positions its depths).
  std::optional<draft_tree_spec> tree;
  /// grouped: iterations each candidate K (0..k) runs in a test phase, and iterations the best
  /// one then runs (the set phase) before the next test phase.
  std::uint32_t test_iterations = 2;
  std::uint32_t set_iterations = 64;
  /// deferral: the confidence below which a chain stops drafting (required with deferral), and
  /// the concentration of the Beta distribution confidences are drawn from around their
  /// position's acceptance rate (sim/serve/speculation_policies.hpp).
  double threshold = 0;
  double confidence_concentration = 8;
  /// The grid a run evaluates besides the scenario as written (empty: none): every batch size
  /// with `none` once and every other policy at every draft length, each a closed loop of
  /// `batch` requests decoding together (sim/run/speculative_grid.hpp).
  std::vector<std::uint32_t> batch_sizes;
  std::vector<std::uint32_t> draft_lengths;
  std::vector<speculation_policy> policies;
  /// Policy divided: extra copies of hot experts; their weights join each device's memory plan
  /// when the scenario or its grid runs divided.
  std::vector<expert_replica> replicas;
  /// Policy prefetch: the predictor, and (draft) the probability each expert the verification
  /// uses is predicted (required with draft).
  prefetch_source prefetch_from = prefetch_source::draft;
  double prefetch_accuracy = 0;
  /// Resolved by the loader: the drafter's model (draft_model: the preset; eagle: the one-layer
  /// head; mtp: one MTP module as a one-layer model); empty for ngram.
  std::shared_ptr<const models::model_spec> draft;
};

/// The conditional acceptance of positions 0..k-1 from `spec` (converted from the marginal
/// reading, extended with the last entry). Throws std::invalid_argument for an empty vector,
/// entries outside [0, 1], or a marginal vector that rises (a later position cannot be
/// accepted more often than an earlier one). O(k).
[[nodiscard]] std::vector<double> conditional_acceptance(const speculative_spec& spec);

/// Whether `spec` runs policy `p`, as its policy or in its grid. O(policies).
[[nodiscard]] inline bool runs_policy(const speculative_spec& spec, speculation_policy p) {
  return spec.policy == p ||
         std::find(spec.policies.begin(), spec.policies.end(), p) != spec.policies.end();
}

[[nodiscard]] const char* to_string(drafter_kind k) noexcept;
[[nodiscard]] const char* to_string(speculation_policy p) noexcept;
[[nodiscard]] const char* to_string(prefetch_source p) noexcept;

}  // namespace moesim::serve
