#pragma once
// Policy prefetch (issue 13): context-aware expert prefetch for speculative decoding on an MoE
// whose routed experts live in host memory (`offload:`, expert_offload.hpp). Verifying k drafts
// routes k + 1 tokens per sequence, which touch more experts than one token does; with the
// experts offloaded, each expert not in the HBM cache is a host -> device fetch on the
// critical path of its layer. In a verifying iteration this policy, at the start of drafting,
// predicts for every MoE layer and EP rank the experts the verification will touch and
// preloads them (expert_offload::preload: the device's copy stream, in layer order), so the
// loads overlap drafting and the earlier layers' compute; everything else is policy naive
// (fixed k), so a comparison with naive isolates the mechanism. Predictors
// (`prefetch_from`):
//  - draft: the draft's own routing. The verification's routing is computed ahead (the
//    tokens of the iteration are known when drafting starts; iteration_routing::peek), and
//    each expert it uses on a device is predicted with probability `prefetch_accuracy`, else
//    a wrong expert of the device is (predict_experts, the project RNG stream "speculative
//    prefetch"): a draft model, MTP module or EAGLE head predicting the target's routers from
//    its own hidden states (SP-MoE, Chen et al. 2025, arXiv:2510.10302, predicts the
//    target's experts from the drafter's attention outputs);
//  - prompt: the experts the context routed to most: each device's experts of the layer
//    ranked by the token copies routed to them in the passes so far (the prompts' prefill
//    included; expert_offload::routed), the top n predicted, n the experts T uniformly routed
//    tokens touch in expectation, per_rank x (1 - (1 - top_k / experts)^T), T the iteration's
//    tokens (at least 1, at most the device's experts).
// Reported (policy_figures): experts predicted, the share the verification used (hits), the
// share of the verification's experts predicted (coverage), bytes fetched by the preloads
// (predicted experts not resident before) and of those the bytes of experts the verification
// they were loaded for did not use (wasted; a later iteration may still use them from the
// cache).
//
// Ownership: keeps the scenario, the target's offload component and its routing by reference
// (the serving instance owns all three). Complexity per verifying iteration:
// O(MoE layers x ranks x (experts per rank)^2) for the predictions plus the preloads' cache
// scans.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sim/engine/random.hpp"
#include "sim/run/expert_offload.hpp"
#include "sim/run/result.hpp"
#include "sim/run/scenario.hpp"
#include "sim/serve/scheduler.hpp"

namespace moesim::sim::run {

class iteration_routing;

/// The approximation a run of policy prefetch names. O(1).
[[nodiscard]] std::string prefetch_approximation(const moesim::serve::speculative_spec& spec);

/// The prompt predictor's n: experts of one device that `tokens` tokens routed uniformly to
/// `top_k` of `experts` touch in expectation, rounded, in [1, per_rank] (0 for no tokens). O(1).
[[nodiscard]] int expected_experts_touched(int per_rank, int experts, int top_k, double tokens);

class speculative_prefetch {
 public:
  /// `moe_layers`: the target's MoE layers in pass order (one pipeline stage).
  speculative_prefetch(const scenario& s, expert_offload& offload, iteration_routing& routing,
                       std::vector<int> moe_layers);

  /// At the start of iteration `pass` whose ranks formed `its` (index = EP rank), before
  /// drafting: when a sequence verifies drafts, predicts and preloads every MoE layer's
  /// experts on every rank. Returns the experts fetched.
  int start(std::span<const moesim::serve::iteration> its, int pass);

  /// Adds the figures to `f` (policy_figures' prefetch fields).
  void fill(policy_figures& f) const;

 private:
  const scenario& s_;
  expert_offload& offload_;
  iteration_routing& routing_;
  std::vector<int> layers_;
  moesim::serve::prefetch_source from_;
  double accuracy_;
  rng gen_;
  std::int64_t iterations_ = 0;  ///< verifying iterations that preloaded
  double predicted_ = 0;
  double hits_ = 0;   ///< predicted experts the verification used
  double needed_ = 0;  ///< experts the verification used (over layers and ranks)
  double fetched_ = 0;  ///< predicted experts the preloads fetched (not resident before)
  double wasted_ = 0;   ///< of which the verification did not use
};

}  // namespace moesim::sim::run
