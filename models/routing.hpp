#pragma once
// The routing decisions of one batch through one MoE layer: for each token, the experts it is
// sent to with a combine weight and a router score. Produced by the routers (router.hpp), thinned
// by capacity (capacity.hpp), read back from traces (routing_trace.hpp), consumed by the experts
// (experts.hpp), statistics (routing_stats.hpp) and batch scaling (batch_scaling.hpp).
//
// Layout: compressed rows. Token t owns assignments [offsets[t], offsets[t+1]) of expert_ids,
// weights and scores, in the router's order of preference (best first). A token may own fewer
// than top_k assignments (dropped by capacity) or more (expert-choice routing), or none.
#include <cstdint>
#include <span>
#include <vector>

namespace moesim::models {

using token_index = std::int32_t;
using expert_index = std::int32_t;

struct routing {
  int tokens = 0;
  int experts = 0;
  std::vector<std::int32_t> offsets{0};  ///< tokens + 1 entries, non-decreasing, offsets[0] == 0
  std::vector<expert_index> expert_ids;  ///< per assignment, in [0, experts), distinct per token
  std::vector<float> weights;            ///< combine weight per assignment
  std::vector<float> scores;  ///< router score per assignment (softmax probability or sigmoid)

  [[nodiscard]] std::int64_t assignments() const noexcept {
    return static_cast<std::int64_t>(expert_ids.size());
  }
  [[nodiscard]] int count(int token) const noexcept {
    return offsets[static_cast<std::size_t>(token) + 1] - offsets[static_cast<std::size_t>(token)];
  }
  [[nodiscard]] std::span<const expert_index> experts_of(int token) const noexcept {
    const auto b = static_cast<std::size_t>(offsets[static_cast<std::size_t>(token)]);
    return {expert_ids.data() + b, static_cast<std::size_t>(count(token))};
  }
};

/// A routing of `tokens` tokens with exactly `k` slots each, zero-filled: the routers' output
/// buffer. O(tokens * k) memory.
[[nodiscard]] routing make_fixed_k_routing(int tokens, int experts, int k);

/// Throws std::invalid_argument if the arrays disagree in size, offsets are not a valid
/// partition, an expert id is out of range or repeated within a token. O(assignments).
void validate(const routing& r);

/// Assignments per expert (size experts). O(assignments).
[[nodiscard]] std::vector<std::int64_t> expert_load(const routing& r);

/// Number of distinct experts with at least one assignment. O(assignments + experts).
[[nodiscard]] int unique_experts(const routing& r);

/// The tokens [first, first + count) of `r` as a routing of their own.
[[nodiscard]] routing slice_tokens(const routing& r, int first, int count);

}  // namespace moesim::models
