#pragma once
// N-dimensional torus / mesh slices (TPU ICI) and per-axis queries on them.
//
// A slice with dims (X, Y, Z, ...) has devices local = x + X*(y + Y*z ...), x fastest. Along
// every axis of size k >= 2 each device is cabled to its +1 neighbour; an axis that wraps also
// cables k-1 back to 0 (for k = 2 that is a second, parallel cable, as on real hardware where
// both ports of the axis are used). Cables per axis: (N/k)·(k-1+wrap). Every cable is a duplex
// pair of directed ici links with the axis's bandwidth and latency.
#include <cstdint>
#include <vector>

#include "topologies/cluster_spec.hpp"
#include "topologies/topology.hpp"

namespace moesim::topo {

struct torus_spec {
  std::vector<int> dims;                      // axis sizes, x first, each >= 1
  std::vector<bool> wraps;                    // per axis; ignored for size-1 axes
  std::vector<double> axis_bytes_per_s;       // per axis, per direction, per link
  std::vector<std::int64_t> axis_latency_ps;  // per axis, one hop
};

/// Per-axis wraparound of `dims` under `rule` (TPU generations: see wrap_rule). O(axes).
[[nodiscard]] std::vector<bool> wraparound(const wrap_rule& rule, const std::vector<int>& dims);

/// Appends one slice (its devices and ICI links) to `topo` and returns the slice index. Must be
/// called before any non-device vertex is added. Throws std::invalid_argument on inconsistent
/// vector sizes, non-positive sizes/bandwidths or negative latencies. O(N·axes).
int add_torus_slice(topology& topo, const torus_spec& spec);

/// A topology holding just one torus slice (no hosts): the generic N-D torus/mesh builder.
[[nodiscard]] topology build_torus(const torus_spec& spec);

/// Hops of the shortest path along ICI between two devices of the same slice
/// (sum over axes of min(|d|, k-|d|) on wrapping axes, |d| otherwise). O(axes).
[[nodiscard]] int torus_distance(const torus_slice& slice, std::int32_t local_a,
                                 std::int32_t local_b);

/// The devices of d's slice that share all of d's coordinates except `axis`, ordered by their
/// coordinate on `axis` (0..k-1); d itself included. The group a per-axis collective runs over.
/// Throws std::invalid_argument if d is not in a torus slice or axis is out of range. O(k·axes).
[[nodiscard]] std::vector<device_id> devices_along_axis(const topology& topo, device_id d,
                                                        int axis);

/// Coordinates of device d inside its slice (x first). Throws if d is not in a torus slice.
[[nodiscard]] std::vector<int> device_coords(const topology& topo, device_id d);

}  // namespace moesim::topo
