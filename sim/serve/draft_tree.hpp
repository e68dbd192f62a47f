#pragma once
// Draft trees as SGLang configures EAGLE (`--speculative-num-steps`, `--speculative-eagle-topk`,
// `--speculative-num-draft-tokens`) and which of their tokens the target accepts.
//
// Shape (SGLang python/sglang/srt/speculative/eagle_utils.py, select_top_k_tokens and
// organize_draft_results): the draft runs `steps` passes. Pass 0 proposes the top_k most likely
// tokens after the last verified one; every later pass expands each of the top_k frontier
// nodes into its top_k children (top_k^2 candidates, scored by the product of the draft's
// probabilities along the path) and keeps the top_k best as the next frontier. Every candidate
// of every pass is kept with its score, top_k + (steps - 1) top_k^2 in all, and the
// draft_tokens - 1 best-scored ones are verified together with the last verified token (the
// tree's root, counted in SGLang's num_draft_tokens: top_k 1 gives a chain of steps drafts,
// num_draft_tokens = steps + 1). Here a candidate's score is its expected acceptance (its reach
// below), the draft's own probabilities being the estimate of it SGLang ranks by.
//
// Acceptance: Sequoia's positional acceptance model (Chen et al. 2024, arXiv:2402.12374, s3.1):
// the chance that a node's rank-r candidate is accepted depends only on r. Here rank 0's rate
// at depth d is the chain's conditional rate of position d (speculative_spec::acceptance), and
// rank r >= 1's is `rank_acceptance[r - 1]`, the probability that the rank-r candidate is
// accepted given ranks 0..r-1 were rejected. Verification walks down from the root: at a node
// the ranks are tried in order, the first one accepted is followed if the tree holds it (a
// candidate that was not kept cannot be accepted: the walk ends there), and the walk ends
// when no rank is accepted. The accepted length is the depth reached (at most steps); the step
// emits it + 1 tokens, as a chain does.
//
// A node's reach (the probability the walk passes through it) is its parent's times
// rate(r, d) x prod_{m<r} (1 - rate(m, d)); the expected accepted length is the sum of the
// kept nodes' reaches. Nodes are kept in order of reach (ties: the order SGLang generates
// them), so every prefix of the order is itself a tree: a sequence with fewer tokens left to
// emit than the tree's drafts verifies the first ones.
#include <cstdint>
#include <span>
#include <vector>

#include "sim/engine/random.hpp"
#include "sim/serve/acceptance.hpp"

namespace moesim::serve {

/// Draft tokens (the root excluded) SGLang's selection can choose among:
/// top_k + (steps - 1) top_k^2. O(1).
[[nodiscard]] std::uint64_t tree_capacity(std::uint32_t steps, std::uint32_t top_k) noexcept;

class draft_tree {
 public:
  struct node {
    int parent;    ///< index in nodes(), -1 for the root's children
    int depth;     ///< 1 for the root's children ... steps
    int rank;      ///< 0 .. top_k - 1 among its parent's candidates
    double reach;  ///< probability the accepted path passes through it
  };

  /// The tree of `drafts` nodes (1 .. tree_capacity) for `steps` and `top_k` >= 1, with rank 0's
  /// conditional rate by depth `depth_rate` (at least `steps` entries) and ranks 1..top_k-1's
  /// `rank_rate` (at least top_k - 1 entries), every rate in [0, 1]. Throws
  /// std::invalid_argument otherwise. O(capacity log capacity).
  draft_tree(int steps, int top_k, int drafts, std::span<const double> depth_rate,
             std::span<const double> rank_rate);

  [[nodiscard]] int steps() const noexcept { return steps_; }
  [[nodiscard]] int top_k() const noexcept { return top_k_; }
  /// Draft nodes, parents before children, in decreasing reach.
  [[nodiscard]] std::span<const node> nodes() const noexcept { return nodes_; }
  [[nodiscard]] int size() const noexcept { return static_cast<int>(nodes_.size()); }
  /// Depth of the tree of the first n nodes. O(n).
  [[nodiscard]] int depth(int n) const;
  /// Expected accepted length of the first n nodes with the rates given. O(n).
  [[nodiscard]] double expected_accepted(int n) const;

  /// Accepted length of one verification of the first n nodes, rank 0's rate at depth d being
  /// depth_rate[d] (a sequence's own, e.g. its topic's) and ranks >= 1 the tree's. Draws from
  /// `gen`. O(depth x top_k).
  [[nodiscard]] int accepted(int n, std::span<const double> depth_rate, rng& gen) const;
  /// The same for `request` at its verification step `step` (its KV length), rank 0's rates
  /// those of its topic (acceptance_model::rate), the draws keyed by (seed, request, step):
  /// deterministic whatever the batch. O(steps x top_k).
  [[nodiscard]] int accepted(const acceptance_model& a, std::uint64_t seed, std::uint64_t request,
                             std::int64_t step, int n) const;

 private:
  int steps_;
  int top_k_;
  std::vector<double> rank_rate_;
  std::vector<node> nodes_;
  std::vector<int> child_;  ///< child_[(parent + 1) * top_k + rank]: node index, or -1
};

}  // namespace moesim::serve
