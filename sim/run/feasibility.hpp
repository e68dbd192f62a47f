#pragma once
// Checks that a scenario's layout can run before anything is simulated, and explains a
// refusal with the numbers that disagree ("parallelism: ep 6 does not divide the 8 experts of
// mixtral-8x7b"). Throws std::invalid_argument; the loader adds the file location.
//
// Memory: every device's plan (sim/cluster/memory.hpp) must fit its chip's hbm_bytes; a layout
// that does not is refused with the device, its total, the HBM and its largest items:
//   memory: device 0 needs 96.4 GiB > 74.5 GiB HBM of h100 (routed expert weights 76.1 GiB,
//   attention weights 10.6 GiB, KV cache 4.29 GiB, and 8 more 5.35 GiB)
// ("device 8 (pipeline stage 1 of 4) needs ..." when pp > 1).
#include <vector>

#include "sim/cluster/memory.hpp"
#include "sim/run/layout.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::sim::run {

/// Devices of the cluster as the scenario describes it (before building any graph).
[[nodiscard]] long long cluster_devices(const topo::cluster_spec& c) noexcept;

/// Layout checks (device count, ep | experts, tp | heads, pp*vp | layers, order), then memory;
/// a disaggregated serving scenario: check_disaggregation (serve_instances.hpp).
void check_feasible(const scenario& s);

/// Where the ranks of an EP group sit for a hierarchical exchange: node[r] is EP rank r's node
/// (numbered in order of first appearance), position[r] its index among the group's ranks on
/// that node. The same for every EP group; each node holds `per_node` ranks.
struct ep_nodes {
  std::vector<int> node;
  std::vector<int> position;
  int nodes = 0;
  int per_node = 0;
};
/// Throws std::invalid_argument unless the cluster is made of NVSwitch nodes and every EP group
/// spreads its ranks over nodes alike, the same number on each. O(devices).
[[nodiscard]] ep_nodes ep_nodes_of(const scenario& s, const layout& l);

/// Pipeline stage of `device` (0-based) under p.order (axes innermost first). The order must
/// name tp, ep, dp and pp once each (check_feasible refuses others); O(1).
[[nodiscard]] int pipeline_stage_of(const parallel_config& p, long long device);

/// The paged KV cache of a serving device: what is left of its HBM after `other_bytes`
/// (weights and buffers), times scheduler.kv_memory_fraction, in blocks of
/// scheduler.block_tokens tokens. bytes_per_token: one token's KV over every layer on the
/// device (TP splits KV heads, never MLA's latent). Kind serve only.
struct serve_kv_pool {
  double bytes = 0;
  double bytes_per_token = 0;
  std::int64_t blocks = 0;
};
[[nodiscard]] serve_kv_pool serve_kv_pool_of(const scenario& s, double other_bytes);

/// HBM a serving device of `s` holds besides its KV pool: weights and buffers of the fullest
/// stage (stage_memory_plans without the "KV cache pool"). The layout must have passed the
/// layout checks of check_feasible. O(layers + pp).
[[nodiscard]] double serving_weights_and_buffers(const scenario& s);

/// The memory plan of each pipeline stage (index = stage), every device of a stage holding the
/// same; plan.device is the stage's lowest device index. Serving plans end with the "KV cache
/// pool" the HBM left over gives (serve_kv_pool_of). The layout must have passed the layout
/// checks of check_feasible. O(layers + pp).
[[nodiscard]] std::vector<cluster::memory_plan> stage_memory_plans(const scenario& s);

}  // namespace moesim::sim::run
