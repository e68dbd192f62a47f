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
#include <span>
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
  routing kept;                                ///< the routing without dropped assignments
  std::int64_t capacity = unlimited_capacity;  ///< per expert (apply_capacities: the largest)
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

/// r's assignment indices (positions in r.expert_ids), highest priority (kept first) first,
/// in `policy`'s order. O(assignments) for position, O(A log A) for lowest_score.
[[nodiscard]] std::vector<std::int32_t> priority_order(const routing& r, drop_policy policy);

/// Per-expert capacities: expert e keeps the first capacity[e] of its assignments in `order`
/// (priority_order(r, policy)) and drops the rest. apply_capacity(r, c, p) equals
/// apply_capacities(r, priority_order(r, p), c for every expert) with .capacity = c. Throws
/// std::invalid_argument unless capacity has r.experts entries, each >= 0, and `order` is a
/// permutation's length (r.assignments()). O(assignments).
[[nodiscard]] capacity_result apply_capacities(const routing& r, std::span<const std::int32_t> order,
                                               std::span<const std::int64_t> capacity);

// --- Drops of a batch estimated from a sample of its tokens -------------------------------
// A router run on S sampled tokens of an N-token batch sees expert e take n_e of the S tokens'
// assignments. Scaling n_e by N / S and comparing it with the batch's capacity C overstates the
// batch's drops: n_e * N / S varies N / S times more than the batch's own count (binomial), and
// the overflow max(0, X - C) is convex, so its mean grows with the variance (Jensen). The
// estimate below separates the experts' true load spread (the router's skew) from the sample's
// binomial noise, as empirical Bayes does:
//   m = mean n_e, V = variance of n_e over the experts, noise s2 = m (1 - m / S) (binomial),
//   signal t2 = max(0, V - s2), shrinkage w = t2 / (t2 + s2),
//   each expert's load estimate  n_e' = m + w (n_e - m)      (posterior mean of S q_e),
//   its remaining uncertainty    w s2                        (posterior variance),
// and the batch's count of expert e is taken as normal with mean N/S n_e' and variance
// N q (1 - q) (q = n_e' / S: the batch's own binomial draw) + (N/S)^2 w s2. The expected drops
// are expected_overflow of that count over C. With S == N this is not used: the batch's real
// counts are known (apply_capacity).

/// E[max(0, Y - capacity)] for Y ~ Normal(mean, variance); variance 0: max(0, mean - capacity).
/// Throws std::invalid_argument for a negative or non-finite variance. O(1).
[[nodiscard]] double expected_overflow(double mean, double variance, double capacity);

/// Expected assignments each expert drops in a batch of `batch_tokens` tokens with `capacity`
/// per expert, from the assignments `sample_load[e]` each expert took of `sample_tokens`
/// sampled tokens (the estimate above). Needs sample_tokens > 0, batch_tokens >= sample_tokens,
/// each load in [0, sample_tokens] (a token takes an expert at most once), else
/// std::invalid_argument. Fewer than two experts: no shrinkage (w = 1). O(experts).
[[nodiscard]] std::vector<double> expected_batch_drops(std::span<const std::int64_t> sample_load,
                                                       std::int64_t sample_tokens,
                                                       std::int64_t batch_tokens,
                                                       std::int64_t capacity);

}  // namespace moesim::models
