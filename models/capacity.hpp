#pragma once
// Expert capacity and token dropping (GShard / Switch / Tutel semantics).
//
// capacity = ceil(top_k * tokens / experts * capacity_factor) assignments per expert;
// capacity_factor 0 means dropless (no limit); a negative (or NaN) factor is an input error.
// When an expert is offered more assignments than its capacity, the ones of lowest priority are
// dropped:
//   - drop_policy::position: first choices of all tokens before second choices, and so on; within
//     one choice rank, earlier tokens first (GShard's algorithm, Switch's order for top-1);
//   - drop_policy::lowest_score: highest router score first, ties to the earlier token, then to
//     the better rank (batch-prioritised routing; Megatron's "probs" drop policy).
// A dropped assignment contributes nothing: the token keeps its other experts with their
// weights unchanged (no renormalisation) and, if all are dropped, passes through the residual
// connection alone (the MoE block outputs zero for it).
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "models/routing.hpp"

namespace moesim::models {

enum class drop_policy { lowest_score, position };

[[nodiscard]] std::string_view to_string(drop_policy p) noexcept;
/// "lowest_score" or "position"; throws std::invalid_argument otherwise.
[[nodiscard]] drop_policy parse_drop_policy(std::string_view name);

inline constexpr double dropless = 0.0;
inline constexpr std::int64_t unlimited_capacity = std::numeric_limits<std::int64_t>::max();

/// Assignments each expert accepts; unlimited_capacity when capacity_factor is 0. Throws
/// std::invalid_argument for a negative or non-finite factor or non-positive experts/top_k.
[[nodiscard]] std::int64_t expert_capacity(std::int64_t tokens, int experts, int top_k,
                                           double capacity_factor);

struct capacity_result {
  routing kept;                                  ///< the routing without dropped assignments
  std::int64_t capacity = unlimited_capacity;    ///< per expert
  std::vector<std::int64_t> dropped_per_expert;  ///< dropped assignments per expert
  std::int64_t dropped = 0;                      ///< dropped assignments in all
  int tokens_fully_dropped = 0;                  ///< tokens that had assignments and kept none
  double drop_rate = 0.0;  ///< dropped / offered assignments (0 if none offered)
};

/// Applies a per-expert capacity. O(assignments) for position, O(A log A) for lowest_score.
[[nodiscard]] capacity_result apply_capacity(const routing& r, std::int64_t capacity,
                                             drop_policy policy);

/// apply_capacity with expert_capacity(r.tokens, r.experts, top_k, capacity_factor).
[[nodiscard]] capacity_result apply_capacity_factor(const routing& r, int top_k,
                                                    double capacity_factor, drop_policy policy);

}  // namespace moesim::models
