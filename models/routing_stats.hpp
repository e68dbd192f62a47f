#pragma once
// Statistics and auxiliary losses of one batch's routing, as the papers define them:
// - load: assignments per expert; load_max_over_mean = max / mean over experts (1 = balanced);
// - load_cv2, importance_cv2: squared coefficient of variation (variance / mean^2, population
//   variance) of per-expert load and of per-expert summed combine weight (Shazeer et al. 2017);
// - switch_aux_loss = experts * sum_e f_e * P_e, f_e = load_e / assignments, P_e = mean over tokens
//   of the token's scores normalised to sum 1 (softmax probabilities as they are; sigmoid scores
//   divided by their sum, DeepSeek-V3's sequence-wise form). 1 when balanced; multiply by the
//   loss coefficient (e.g. 0.01) yourself. Fedus et al. 2021, eq. 4;
// - z_loss = mean over tokens of logsumexp(logits)^2 (ST-MoE, Zoph et al. 2022);
// - unique_experts: experts with at least one assignment.
// Losses need the router's scores; from a bare routing (a trace, expert choice) they are NaN.
// All O(tokens * experts) at most.
#include <cstdint>
#include <span>
#include <vector>

#include "models/router.hpp"
#include "models/routing.hpp"

namespace moesim::models {

struct routing_stats {
  int tokens = 0;
  int experts = 0;
  std::int64_t assignments = 0;
  std::vector<std::int64_t> expert_load;
  int unique_experts = 0;
  double load_max_over_mean = 0.0;
  double load_cv2 = 0.0;
  double importance_cv2 = 0.0;
  double switch_aux_loss = 0.0;
  double z_loss = 0.0;
};

[[nodiscard]] routing_stats compute_stats(const routing& r);
[[nodiscard]] routing_stats compute_stats(const router_output& out);

/// max / mean of `values` (0 if they sum to 0). O(n).
[[nodiscard]] double max_over_mean(std::span<const std::int64_t> values) noexcept;
[[nodiscard]] double max_over_mean(std::span<const double> values) noexcept;
/// Population variance / mean^2 (0 if the mean is 0). O(n).
[[nodiscard]] double cv2(std::span<const double> values) noexcept;

/// Load per group of contiguous experts: group g holds experts [g*per_group, (g+1)*per_group),
/// the placement of expert parallelism without rebalancing (rank load at EP = experts/per_group).
/// Throws if per_group does not divide the number of experts.
[[nodiscard]] std::vector<std::int64_t> group_load(std::span<const std::int64_t> expert_load,
                                                   int per_group);
/// Load per group under an arbitrary placement expert -> group in [0, groups).
[[nodiscard]] std::vector<std::int64_t> group_load(std::span<const std::int64_t> expert_load,
                                                   std::span<const int> expert_group, int groups);

/// Expected distinct experts touched by `tokens` independent uniform top-k choices:
/// experts * (1 - (1 - k/experts)^tokens).
[[nodiscard]] double expected_unique_experts(int experts, int k, std::int64_t tokens) noexcept;

}  // namespace moesim::models
