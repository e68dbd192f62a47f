#pragma once
// The mitigation policies' side of the serving loop (sim/serve/speculation_policies.hpp has
// the pure mechanisms and their sources). speculation (speculation.hpp) calls it at each point
// of an iteration:
//  - before the ranks form their batches: grouped sets every rank's draft length to the K its
//    phase machine chose (naive, deferral, blockwise: the scenario's k, set once);
//  - after they are formed, before anything is drafted or timed: deferral decides each
//    decoding sequence's chain from its draft confidences (draw keys are fixed, so the chain is
//    known before it is drafted) and withdraws the drafts it will not verify from the
//    scheduler, which frees their KV; the target's pass is then shaped on what is left;
//  - during drafting: how many draft steps each sequence runs (deferral: up to and including
//    the step whose confidence stopped it; blockwise: none, its heads run on the target pass);
//  - after the target pass: deferral's accepted counts (a draft is accepted with probability
//    its confidence); blockwise's block sizes; grouped's utility observation.
// Ownership: keeps the acceptance model by reference (the speculation owns both).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include "sim/run/result.hpp"
#include "sim/serve/scheduler.hpp"
#include "sim/serve/speculation_policies.hpp"
#include "sim/serve/speculative_spec.hpp"

namespace moesim::sim::run {

/// The approximation a run with `spec`'s policy names (empty for none and naive). O(1).
[[nodiscard]] std::string policy_approximation(const moesim::serve::speculative_spec& spec);

class speculation_mechanism {
 public:
  /// `k`: the run's draft length (0 for none). O(k).
  speculation_mechanism(const moesim::serve::speculative_spec& spec, int k,
                        const moesim::serve::acceptance_model& acceptance, std::uint64_t seed);

  [[nodiscard]] moesim::serve::speculation_policy policy() const noexcept { return policy_; }
  /// Whether a drafter runs passes before the target's (not with blockwise).
  [[nodiscard]] bool drafter_runs() const noexcept;
  /// Proposal heads on the target's pass (blockwise: k; else 0).
  [[nodiscard]] int proposal_heads() const noexcept;

  /// Before the ranks form the next iteration. O(ranks).
  void before_next(std::span<moesim::serve::scheduler> ranks);
  /// After rank e formed its[e] (index = EP rank), before drafting. O(sequences + drafts).
  void plan(std::span<moesim::serve::iteration> its, std::span<moesim::serve::scheduler> ranks);
  /// Draft steps the drafter runs for `w` in this iteration. O(1).
  [[nodiscard]] std::int64_t draft_steps(const moesim::serve::seq_work& w) const;
  /// The accepted drafts the policy decided for `w` (deferral), or nullopt (drawn from the
  /// acceptance model). O(1).
  [[nodiscard]] std::optional<int> accepted(const moesim::serve::seq_work& w) const;
  /// A verification kept `accepted` drafts. O(1).
  void verified(int accepted);
  /// The iteration ended: `decoding` sequences decoded and emitted `emitted` tokens in
  /// `seconds` (drafting and the target's pass), with prefill work beside them or not (grouped
  /// measures decode-only iterations). O(1).
  void iterated(std::int64_t decoding, bool prefill, std::int64_t emitted, double seconds);
  /// The figures of the run's policy (result.hpp). O(k).
  [[nodiscard]] policy_figures figures(std::int64_t drafted, std::int64_t verifications) const;

 private:
  moesim::serve::speculation_policy policy_;
  int k_;
  std::optional<moesim::serve::k_controller> grouped_;
  std::optional<moesim::serve::confidence_model> confidence_;
  moesim::serve::block_tally blocks_;
  /// deferral: this iteration's chains, by request.
  std::unordered_map<std::uint64_t, moesim::serve::deferral_chain> chains_;
  int iteration_k_ = 0;  ///< grouped: the K this iteration runs at
  bool iteration_testing_ = false;
  std::vector<std::int64_t> k_iterations_;
  std::int64_t test_iterations_ = 0;
  std::int64_t draft_chances_ = 0;
  std::int64_t deferred_ = 0;
  std::int64_t cut_ = 0;
};

}  // namespace moesim::sim::run
