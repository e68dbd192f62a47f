#pragma once
// What the routings a run took add up to: per-expert loads and drops, per-layer drop rate,
// distinct experts and rank imbalance, for the metrics. Drivers record each forward routing
// once; O(sources x experts) per routing.
#include <map>
#include <vector>

#include "sim/run/result.hpp"
#include "sim/run/layer_routing.hpp"

namespace moesim::sim::run {

class routing_tally {
 public:
  routing_tally(int experts, int ep);

  /// One forward pass's routing of `layer` over an EP group of ep ranks.
  void record(int layer, const layer_routing& lr);

  [[nodiscard]] int routed_layers() const noexcept { return routed_layers_; }
  [[nodiscard]] bool scaled() const noexcept { return scaled_; }

  /// Fills the routing figures of `r`: averages over the recorded routings, per-layer averages
  /// over `passes_per_layer` routings each, per-expert figures per step (`steps_x_replicas`
  /// steps of every simulated replica). No-op when nothing was routed.
  void fill(run_result& r, double passes_per_layer, double steps_x_replicas) const;

 private:
  int ep_;
  int routed_layers_ = 0;
  std::vector<expert_load> experts_;
  std::map<int, layer_stats> layer_sums_;
  double unique_sum_ = 0;
  double drop_sum_ = 0;
  double imbalance_sum_ = 0;
  bool scaled_ = false;
};

}  // namespace moesim::sim::run
