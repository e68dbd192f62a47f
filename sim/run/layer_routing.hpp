#pragma once
// One pass's routing through one MoE layer, as routing_sampler (sim/run/routing_sampler.hpp)
// produces it and the exchange, placement, offload and tallies read it. Apart from the sampler
// so that those readers do not parse the router's Eigen maths.
#include <cstdint>
#include <vector>

#include "models/capacity.hpp"
#include "sim/engine/random.hpp"

namespace moesim::sim::run {

struct layer_routing {
  int sources = 0;
  int experts = 0;
  /// copies[src * experts + e]: (token, expert) assignments from source device src to expert e
  /// in the full batch, after capacity.
  std::vector<std::int64_t> copies;
  /// expert_load[e]: the copies to expert e summed over the sources.
  std::vector<std::int64_t> expert_load;
  /// With moe.exchange per_rank or hierarchical: rank_tokens[src * sources + r]: tokens of
  /// source src with at least one expert on EP rank r (experts / sources per rank, in order),
  /// after capacity. Empty otherwise.
  std::vector<std::int64_t> rank_tokens;
  /// With moe.exchange hierarchical: node_tokens[src * nodes + n]: tokens of source src with at
  /// least one expert on node n (the sampler's rank_nodes). Empty otherwise.
  std::vector<std::int64_t> node_tokens;
  std::vector<std::int64_t> dropped_per_expert;  ///< full batch
  double unique_experts = 0;                     ///< distinct experts touched by the full batch
  double drop_rate = 0;
  bool scaled = false;  ///< counts were scaled from a smaller sample
};

/// The router's decisions on one pass's sample of one layer, before they are counted for the
/// pass's batch: the costly half of routing_sampler::route (gate maths, top-k, capacity).
struct sampled_decisions {
  int group = 0;
  int pass = 0;
  int layer = 0;
  int sample = 0;               ///< sampled tokens decided
  models::capacity_result cap;  ///< the decisions after the sample's own capacity
  rng gen{0};                   ///< the pass's stream after the decisions: the counting draws
  /// Token choice under a capacity factor: the decisions before capacity, and their assignments
  /// in the drop policy's priority order (models::priority_order), from which count() drops
  /// what a larger batch than the sample would. Empty otherwise (nothing drops).
  models::routing offered;
  std::vector<std::int32_t> priority;
};

}  // namespace moesim::sim::run
