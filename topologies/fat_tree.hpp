#pragma once
// Rail-optimised InfiniBand / RoCE fat-trees in the style of the NVIDIA DGX SuperPOD reference
// architectures: scalable units (SUs) of `nodes_per_unit` nodes; in every SU one leaf switch per
// rail, and NIC j of every node of the SU on the leaf of rail j % rails.
//
// Wiring (radix R ports per switch, leaf with D downlinks and U = D / oversubscription uplinks):
// - 2 tiers (the default while leaves <= R): every leaf is wired to every spine with m parallel
//   cables, m the largest divisor of U with leaves·m <= R, so U / m spines. This reproduces the
//   SuperPOD H100/B200 tables: 2 SU -> 16 leaves, 8 spines; 4 SU -> 32, 16; 8 SU -> 64, 32.
// - 3 tiers: spines use R/2 ports down and R/2 up; a pod is the largest group of SUs whose
//   leaves fit under R/2 spine ports (4 SUs at R = 64, 8 rails); spine j of every pod is wired
//   once to each of the U_s cores of core group j % G, G the smallest divisor of spines/pod with
//   pods·(spines/pod)/G <= R. 16 SU -> 128 leaves, 128 spines, 64 cores, as in the SuperPOD table.
// A partial last SU keeps its full leaves and uplinks (SuperPOD builds whole SUs).
// Link latency is that of the element a link enters: switch_latency_ps into a switch, 0 into a
// NIC (the NIC's own latency sits on its device legs).
#include <vector>

#include "topologies/cluster_spec.hpp"
#include "topologies/topology.hpp"

namespace moesim::topo {

/// Wires the NICs in `node_nics` (node-major; node_nics[n][j] is NIC j of node n, already in
/// `topo.nics`) into a fat-tree and fills `topo.tree` and the NICs' up/down links.
/// nic_bytes_per_s is the NIC <-> leaf link speed. Throws std::invalid_argument when the
/// radix cannot hold the requested tiers, or the rails / oversubscription do not divide.
/// O(links).
void add_fat_tree(topology& topo, const fat_tree_spec& spec,
                  const std::vector<std::vector<vertex_id>>& node_nics, double nic_bytes_per_s);

/// Index of the pod and of the leaf inside its pod, for a leaf index. O(1).
struct leaf_position {
  int pod = 0;
  int local = 0;
};
[[nodiscard]] leaf_position position_of_leaf(const fat_tree& tree, int leaf);

}  // namespace moesim::topo
