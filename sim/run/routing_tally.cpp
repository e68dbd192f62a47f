#include "sim/run/routing_tally.hpp"

#include <algorithm>

namespace moesim::sim::run {

routing_tally::routing_tally(int experts, int ep)
    : ep_(ep), experts_(static_cast<std::size_t>(experts)) {}

void routing_tally::record(int layer, const layer_routing& lr) {
  ++routed_layers_;
  layer_stats& ls = layer_sums_[layer];
  ls.layer = layer;
  ls.drop_rate += lr.drop_rate;
  ls.unique_experts += lr.unique_experts;
  unique_sum_ += lr.unique_experts;
  drop_sum_ += lr.drop_rate;
  scaled_ = scaled_ || lr.scaled;
  // Each expert's whole-number total (exact in any order, well under 2^53) gives the same
  // doubles as adding copy by copy.
  std::vector<double> per_rank(static_cast<std::size_t>(ep_), 0.0);
  const int per = lr.experts / ep_;
  ls.expert_tokens.resize(static_cast<std::size_t>(lr.experts), 0.0);
  ls.rank_tokens.resize(static_cast<std::size_t>(ep_), 0.0);
  for (int e = 0; e < lr.experts; ++e) {
    const auto n = static_cast<double>(lr.expert_load[static_cast<std::size_t>(e)]);
    per_rank[static_cast<std::size_t>(e / per)] += n;
    experts_[static_cast<std::size_t>(e)].tokens += n;
    ls.expert_tokens[static_cast<std::size_t>(e)] += n;
  }
  for (std::size_t k = 0; k < per_rank.size(); ++k) ls.rank_tokens[k] += per_rank[k];
  for (int e = 0; e < lr.experts; ++e) {
    experts_[static_cast<std::size_t>(e)].dropped +=
        static_cast<double>(lr.dropped_per_expert[static_cast<std::size_t>(e)]);
  }
  double mx = 0;
  double sum = 0;
  for (double v : per_rank) {
    mx = std::max(mx, v);
    sum += v;
  }
  if (sum > 0) {
    imbalance_sum_ += mx / (sum / ep_);
    ls.load_max_over_mean += mx / (sum / ep_);
  }
}

void routing_tally::fill(run_result& r, double passes_per_layer, double steps_x_replicas) const {
  if (routed_layers_ == 0) return;
  const double n = routed_layers_;
  r.load_max_over_mean = imbalance_sum_ / n;
  r.unique_experts = unique_sum_ / n;
  r.drop_rate = drop_sum_ / n;
  r.experts = experts_;
  for (auto [layer, ls] : layer_sums_) {
    ls.drop_rate /= passes_per_layer;
    ls.unique_experts /= passes_per_layer;
    ls.load_max_over_mean /= passes_per_layer;
    for (double& v : ls.expert_tokens) v /= passes_per_layer;
    for (double& v : ls.rank_tokens) v /= passes_per_layer;
    r.layers.push_back(ls);
  }
  const double per_step_layer = n / steps_x_replicas;
  for (auto& e : r.experts) {
    e.tokens /= per_step_layer;
    e.dropped /= per_step_layer;
  }
}

}  // namespace moesim::sim::run
