#pragma once
// Expert placement as a pure component: given each logical expert's load per MoE layer, decide
// which physical slot (and so which device) holds which expert, and how many copies the hot ones
// get. No time, no network, no scenario: sim/run asks it and turns the answer into exchange
// traffic, per-device loads and weight moves; `moesim place` prints it.
//
// Layout of an answer (DeepSeek EPLB's, deepseek-ai/EPLB eplb.py, so its README vector reads
// the same): `physical_experts` slots per layer, numbered device-major, slot s on device
// s / (physical_experts / devices); devices node-major, device d on node d / (devices / nodes).
//   phy2log[l][s]   logical expert held by slot s of layer l
//   logcnt[l][e]    copies of expert e in layer l (>= 1; sums to physical_experts)
//   log2phy[l][e]   the slots holding e, ascending, padded with -1 to the most copies of any
//                   expert in any layer (eplb.py orders them by replica rank instead: the same
//                   slots, maybe in another order)
//   device_load[l][d]  the load device d computes when each expert's load splits evenly over
//                      its copies: sum over its slots of load[l][e] / logcnt[l][e]
//
// Strategies (all deterministic; `random` from problem::seed through the project RNG):
//   contiguous      no replicas (physical == experts): expert e on device e / (experts/devices)
//   round_robin     no replicas: expert e on device e % devices
//   random          no replicas: a seeded shuffle of the contiguous layout
//   load_aware      replicas to the largest load/copies first, then copies largest first onto
//                   the least-loaded device that has a free slot
//   eplb            DeepSeek's: hierarchical (groups to nodes, replicas within a node, slots to
//                   GPUs) when groups % nodes == 0, else global; ties as torch.sort descending
//                   (stable) and the lowest pack index
//   topology_aware  load_aware's replicas, then the copies' co-activation graph (experts the
//                   same tokens pick together) partitioned onto nodes (METIS k-way, vertex
//                   weights = load and 1, edge weight = co-activations, fixed seed) to cut
//                   cross-node co-activation, part sizes repaired to the node's slots
//                   (topology.cpp), then each node's copies balanced over its devices. One
//                   node: load_aware; no co-activation: loads alone.
// contiguous, round_robin and random refuse physical_experts != experts (no replicas).
#include <cstdint>
#include <string_view>
#include <vector>

namespace moesim::place {

enum class strategy { contiguous, round_robin, random, load_aware, eplb, topology_aware };

/// "contiguous", "round_robin", ... ; parse_strategy throws std::invalid_argument otherwise.
[[nodiscard]] std::string_view to_string(strategy s) noexcept;
[[nodiscard]] strategy parse_strategy(std::string_view name);
/// Every strategy's name, in enum order (for error messages and suggestions).
[[nodiscard]] const std::vector<std::string_view>& strategy_names();
/// Whether `s` may give hot experts more than one copy (physical_experts > experts).
[[nodiscard]] bool has_replicas(strategy s) noexcept;

struct problem {
  /// loads[l][e] >= 0: tokens (or any load measure) routed to logical expert e in layer l over
  /// the window the placement is for. Every row has the same length (the experts).
  std::vector<std::vector<double>> loads;
  int physical_experts = 0;  ///< slots per layer: >= experts, a multiple of devices
  int groups = 1;            ///< expert groups (node-limited routing); divides experts
  int nodes = 1;             ///< divides devices
  int devices = 1;
  std::uint64_t seed = 0;  ///< strategy random
  /// topology_aware only: coactivation[l] is experts x experts row-major, symmetric, the number
  /// of tokens that picked both experts (diagonal ignored). Empty: the loads alone decide.
  std::vector<std::vector<double>> coactivation;
};

struct placement {
  std::vector<std::vector<int>> phy2log;
  std::vector<std::vector<std::vector<int>>> log2phy;
  std::vector<std::vector<int>> logcnt;
  std::vector<std::vector<double>> device_load;
};

/// The checks place() makes first, alone (throws std::invalid_argument as below).
void check(strategy s, const problem& p);

/// Checks `p` (throws std::invalid_argument naming the numbers: ragged or empty loads, negative
/// or non-finite loads, slots fewer than experts or not a multiple of devices, devices not a
/// multiple of nodes, groups not dividing experts, replicas asked of a strategy without them),
/// then places. O(layers x slots x devices) for every strategy but topology_aware (METIS, and a
/// repair of O(experts x nodes) a move).
[[nodiscard]] placement place(strategy s, const problem& p);

/// `next` with its devices relabelled to keep what `previous` holds, so a rebalance moves only
/// what must move (a strategy run again on drifted loads may put the same expert sets on other
/// devices). Per layer: next's nodes are matched to previous's nodes, then within each matched
/// pair next's devices to previous's devices, each greedily by the most expert copies in common
/// (ties to the lower next index, then the lower previous index); a device's slots move as a
/// block, in their order. Every device keeps its set of experts and so its load, and every
/// node its set of devices: max/mean and the groups a node holds are unchanged. Both
/// placements are of `p`'s shape (the problem `next` was placed on).
/// O(layers x (nodes^2 x experts + devices^2 x slots / nodes)).
[[nodiscard]] placement keep_in_place(const problem& p, const placement& previous,
                                      const placement& next);

/// Max over mean of one layer's device_load (1 = perfectly even; 0 for an all-zero layer).
[[nodiscard]] double max_over_mean(const std::vector<double>& device_load);

/// The co-activation that crosses nodes, topology_aware's objective: the sum over layers and
/// expert pairs i < j of coactivation[l][i * experts + j] when no node holds a copy of both i and
/// j (a token that picks both must reach two nodes). 0 when p.coactivation is empty. `x` is
/// place(..., p)'s answer. O(layers x experts^2 x nodes).
[[nodiscard]] double cross_node_coactivation(const problem& p, const placement& x);

}  // namespace moesim::place
