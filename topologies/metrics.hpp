#pragma once
// Whole-graph figures of a topology: diameter, bisection bandwidth, Graphviz export, and a
// plain summary struct for JSON/console output.
//
// Host CPUs are endpoints, not relays: BFS and max-flow never pass *through* a host vertex
// (staging through host memory is not interconnect bandwidth). Everything else (devices, NICs,
// switches) may relay: a TPU chip forwards ICI traffic. Hop counts follow the routes
// (routing.hpp): the chips of one torus slice reach each other over ICI only, never through
// their hosts' NICs and the DCN, and a chip of another slice is 4 hops away (NIC, DCN, NIC), so
// the diameter of several slices is the larger of one slice's and 4.
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include "topologies/topology.hpp"

namespace moesim::topo {

/// Hop counts from `src` to every vertex by BFS (-1 where unreachable), reaching the chips of
/// src's torus slice over ICI links only. O(V + E).
[[nodiscard]] std::vector<std::int32_t> hop_distances(const topology& topo, device_id src);

/// Largest device-to-device hop count, by BFS from the given sources only (their
/// eccentricities). Throws std::invalid_argument if some device is unreachable. O(|sources|·(V+E)).
[[nodiscard]] std::int32_t diameter_from(const topology& topo, std::span<const device_id> sources);
/// Diameter by BFS from topo.eccentricity_sources (every device when that list is empty).
[[nodiscard]] std::int32_t diameter(const topology& topo);
/// Diameter by BFS from every device. O(N·(V+E)): for tests and small graphs.
[[nodiscard]] std::int32_t diameter_exhaustive(const topology& topo);

/// A balanced split of the devices: side[d] is 0 or 1.
struct device_cut {
  std::string name;                // e.g. "axis 1 halves", "nodes 0-15 | 16-31"
  std::vector<std::uint8_t> side;  // [device]
};

/// The balanced cuts bisection() minimises over: for torus slices, halving every axis of even
/// size (in all slices at once) and, with several slices, halving the slices; for NVSwitch
/// clusters, halving the nodes (or the GPUs of a single node); otherwise the device order
/// halved. O(candidates·N).
[[nodiscard]] std::vector<device_cut> candidate_cuts(const topology& topo);

/// Maximum flow in bytes/s from all side-0 devices to all side-1 devices (Boost's
/// Boykov-Kolmogorov max-flow on the link capacities, hosts excluded; capacities are rounded
/// to whole bytes/s). Equals the capacity of the minimum cut separating the two sides.
[[nodiscard]] double max_flow_bytes_per_s(const topology& topo, std::span<const std::uint8_t> side);

struct bisection_result {
  double bytes_per_s = 0;  // per direction, side 0 -> side 1 of the minimising cut
  std::string cut;         // name of that cut
};
/// Minimum over candidate_cuts() of max_flow_bytes_per_s(). 0 for a single device.
[[nodiscard]] bisection_result bisection(const topology& topo);

/// Graphviz "digraph" through boost::write_graphviz: one node per vertex labelled with
/// topology::name(), one edge per directed link labelled "<kind> <GB/s>".
void write_graphviz(std::ostream& out, const topology& topo);

/// Plain figures for the `moesim topo` command (JSON or console).
struct topology_summary {
  std::string label;
  std::int32_t devices = 0;
  std::int32_t vertices = 0;
  std::int32_t links = 0;  // directed links
  std::int32_t hosts = 0;
  std::int32_t nics = 0;
  std::int32_t switches = 0;  // NVSwitch, leaf, spine, core and DCN vertices
  std::int32_t diameter_hops = 0;
  double bisection_bytes_per_s = 0;
  std::string bisection_cut;
};
/// Computes every field (diameter() and bisection()).
[[nodiscard]] topology_summary summarize(const topology& topo);

}  // namespace moesim::topo
