#include "models/routing_stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

namespace moesim::models {

double max_over_mean(std::span<const std::int64_t> values) noexcept {
  if (values.empty()) return 0.0;
  const auto sum = std::accumulate(values.begin(), values.end(), std::int64_t{0});
  if (sum == 0) return 0.0;
  const auto mx = *std::max_element(values.begin(), values.end());
  return static_cast<double>(mx) * static_cast<double>(values.size()) / static_cast<double>(sum);
}

double max_over_mean(std::span<const double> values) noexcept {
  if (values.empty()) return 0.0;
  const double sum = std::accumulate(values.begin(), values.end(), 0.0);
  if (sum == 0.0) return 0.0;
  return *std::max_element(values.begin(), values.end()) * static_cast<double>(values.size()) / sum;
}

double cv2(std::span<const double> values) noexcept {
  if (values.empty()) return 0.0;
  const double n = static_cast<double>(values.size());
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  if (mean == 0.0) return 0.0;
  double var = 0.0;
  for (double v : values) var += (v - mean) * (v - mean);
  return var / n / (mean * mean);
}

routing_stats compute_stats(const routing& r) {
  routing_stats s;
  s.tokens = r.tokens;
  s.experts = r.experts;
  s.assignments = r.assignments();
  s.expert_load = expert_load(r);
  s.unique_experts = static_cast<int>(
      std::count_if(s.expert_load.begin(), s.expert_load.end(), [](auto c) { return c > 0; }));
  s.load_max_over_mean = max_over_mean(std::span<const std::int64_t>(s.expert_load));
  std::vector<double> load_d(s.expert_load.begin(), s.expert_load.end());
  s.load_cv2 = cv2(load_d);
  std::vector<double> importance(static_cast<std::size_t>(r.experts), 0.0);
  for (std::size_t i = 0; i < r.expert_ids.size(); ++i) {
    importance[static_cast<std::size_t>(r.expert_ids[i])] += r.weights[i];
  }
  s.importance_cv2 = cv2(importance);
  s.switch_aux_loss = std::numeric_limits<double>::quiet_NaN();
  s.z_loss = std::numeric_limits<double>::quiet_NaN();
  return s;
}

routing_stats compute_stats(const router_output& out) {
  routing_stats s = compute_stats(out.decisions);
  const auto tokens = out.scores.rows();
  const auto experts = out.scores.cols();
  if (tokens == 0 || s.assignments == 0) {
    s.switch_aux_loss = 0.0;
    s.z_loss = 0.0;
    return s;
  }
  std::vector<double> mean_prob(static_cast<std::size_t>(experts), 0.0);
  double z = 0.0;
  for (Eigen::Index t = 0; t < tokens; ++t) {
    const float* row = out.scores.row(t).data();
    double sum = 0.0;
    for (Eigen::Index e = 0; e < experts; ++e) sum += row[e];
    const double inv = sum > 0 ? 1.0 / sum : 0.0;
    for (Eigen::Index e = 0; e < experts; ++e)
      mean_prob[static_cast<std::size_t>(e)] += row[e] * inv;
    const double lse = out.logsumexp[static_cast<std::size_t>(t)];
    z += lse * lse;
  }
  double loss = 0.0;
  for (Eigen::Index e = 0; e < experts; ++e) {
    const double f = static_cast<double>(s.expert_load[static_cast<std::size_t>(e)]) /
                     static_cast<double>(s.assignments);
    loss += f * mean_prob[static_cast<std::size_t>(e)] / static_cast<double>(tokens);
  }
  s.switch_aux_loss = static_cast<double>(experts) * loss;
  s.z_loss = z / static_cast<double>(tokens);
  return s;
}

std::vector<std::int64_t> group_load(std::span<const std::int64_t> expert_load, int per_group) {
  if (per_group <= 0 || expert_load.size() % static_cast<std::size_t>(per_group) != 0) {
    throw std::invalid_argument("group_load: " + std::to_string(per_group) +
                                " experts per group does not divide " +
                                std::to_string(expert_load.size()) + " experts");
  }
  std::vector<std::int64_t> load(expert_load.size() / static_cast<std::size_t>(per_group), 0);
  for (std::size_t e = 0; e < expert_load.size(); ++e) {
    load[e / static_cast<std::size_t>(per_group)] += expert_load[e];
  }
  return load;
}

std::vector<std::int64_t> group_load(std::span<const std::int64_t> expert_load,
                                     std::span<const int> expert_group, int groups) {
  if (expert_group.size() != expert_load.size() || groups <= 0) {
    throw std::invalid_argument("group_load: " + std::to_string(expert_group.size()) +
                                " placements for " + std::to_string(expert_load.size()) +
                                " experts (groups " + std::to_string(groups) + ")");
  }
  std::vector<std::int64_t> load(static_cast<std::size_t>(groups), 0);
  for (std::size_t e = 0; e < expert_load.size(); ++e) {
    const int g = expert_group[e];
    if (g < 0 || g >= groups) {
      throw std::invalid_argument("group_load: expert " + std::to_string(e) + " placed in group " +
                                  std::to_string(g) + " outside [0, " + std::to_string(groups) +
                                  ")");
    }
    load[static_cast<std::size_t>(g)] += expert_load[e];
  }
  return load;
}

double expected_unique_experts(int experts, int k, std::int64_t tokens) noexcept {
  const double e = experts;
  return e * (1.0 - std::pow(1.0 - static_cast<double>(k) / e, static_cast<double>(tokens)));
}

}  // namespace moesim::models
