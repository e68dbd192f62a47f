#pragma once
// Builds the interconnect graph of a whole cluster from its cluster_spec and chip_spec, and
// answers membership questions on it (which devices share an NVSwitch node, which NIC and rail
// a GPU uses).
//
// torus fabric (TPU): `slices` slices of `shape`, each a torus_slice with the chip's ICI link
//   bandwidth and hop latency on every axis, wraparound per cluster.wraparound; hosts of
//   host_shape chips (blocks, x fastest) each with one PCIe link per chip; with slices > 1 the
//   host NICs (chip.nic.chips_per_nic chips each, within a host) join one non-blocking DCN
//   switch vertex (the data-centre network is modelled as a big switch: the NICs are the
//   bottleneck, as in the scaling book's DCN figures).
// nvswitch fabric (GPU): `nodes` NVLink domains of gpus_per_node GPUs, each GPU with one port
//   link per direction to its domain's NVSwitch vertex (all its NVLinks together), a host per
//   gpus_per_host GPUs, and with nodes > 1 one NIC per chip.nic.chips_per_nic GPUs on a
//   rail-optimised fat-tree (fat_tree.hpp).
// Vertex order: all devices, then hosts, then NICs, then switches.
#include <vector>

#include "topologies/chip_spec.hpp"
#include "topologies/cluster_spec.hpp"
#include "topologies/topology.hpp"

namespace moesim::topo {

/// Validates both specs and builds the graph. Throws std::invalid_argument when they disagree
/// (e.g. a torus of 3 axes on a chip with 4 ICI links, an NVSwitch node of a chip without
/// NVLink, a chip name different from cluster.chip). O(vertices + links).
[[nodiscard]] topology build_cluster(const cluster_spec& cluster, const chip_spec& chip);

/// Devices of d's NVSwitch domain, in order. Throws if the topology has no domains.
[[nodiscard]] std::vector<device_id> node_devices(const topology& topo, device_id d);
/// NVSwitch node (domain) index of device d; throws if the topology has no domains.
[[nodiscard]] int node_of(const topology& topo, device_id d);
/// Rail of device d's NIC (GPU clusters with a fat-tree), none otherwise.
[[nodiscard]] int rail_of(const topology& topo, device_id d);
/// The NIC vertex device d sends scale-out traffic through, none if there is none.
[[nodiscard]] vertex_id nic_of(const topology& topo, device_id d);

}  // namespace moesim::topo
