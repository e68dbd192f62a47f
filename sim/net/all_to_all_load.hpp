#pragma once
// The analytical network model (network.hpp) applied to a uniform all-to-all: every ordered pair
// of distinct ranks sends the same `bytes_per_pair`, one flow per pair (tag 0), routed by
// topo::router. The answer is what start_batch would give for those n(n-1) flows under
// timing_model::analytical, without ever holding them:
//   - link_bytes: the bytes every link carries (link_load);
//   - finish_ps: the latest flow finish, max over flows of
//       ps_from_seconds(max over the flow's links of bytes / capacity) + the flow's path latency;
//   - max_latency_ps: the largest path latency of a flow (the phase's wire latency).
// Two ways, which agree to rounding (tests/net/all_to_all_load_test.cpp):
//   - streamed: every pair is routed twice on the fly (once to charge the links, once to time
//     the flow). O(n^2 · path) time, O(links) memory: the 9216-chip Ironwood pod's 85M flows
//     never exist as records.
//   - on_torus: the ranks are exactly the devices of one torus slice (in any order). Dimension-
//     order routing moves a flow along axis a with the coordinates of the axes before a already
//     the destination's and those after a still the source's, so the link from coordinate i
//     towards +-1 on axis a, at any fixed other coordinates, is crossed by (N / k_a) flows for
//     every 1-D pair (s, t) of that axis whose 1-D route crosses i in that direction (the free
//     coordinates: the source's before a, the destination's after a; the router's direction on
//     axis a, ties included, depends on s, t and the flow id only). Every link load is
//     therefore (N / k_a) x a 1-D crossing count x bytes_per_pair, with or without wraparound,
//     and a flow's worst link and latency combine per axis:
//       finish = max over axes a of [ max over 1-D pairs p of (ps(W_a(p)) + L_a(p))
//                                     + sum over other axes b of max over p of L_b(p) ],
//     W_a(p) the worst bytes / capacity on p's 1-D segment, L_a(p) its latency.
//     O(N · axes + sum over axes of k_a^3) time, O(links + k_a^3) memory: milliseconds for the
//     Ironwood pod. It relies on what the torus builder guarantees: per-axis bandwidth and
//     latency are the same for every link of an axis (capacities are taken per (axis, position,
//     direction) from one line of the slice).
// Summation order differs between the two (streamed sums pair by pair; on_torus multiplies a
// count once), so link bytes agree to ~1e-12 relative and finish_ps to a picosecond.
#include <cstdint>
#include <optional>
#include <span>

#include "sim/engine/time.hpp"
#include "sim/net/maxmin_load.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::net {

namespace detail {
/// The solver's link for a topology link: the ids are the same numbers (the network adds the
/// topology's links to the solver in id order), so this is a cast, in one place.
inline link_id to_solver(topo::link_id l) {
  return static_cast<link_id>(static_cast<std::uint32_t>(l));
}
}  // namespace detail

struct all_to_all_estimate {
  link_load link_bytes;        ///< bytes per link (capacities as given)
  time_ps finish_ps = 0;       ///< latest flow finish, 0 with fewer than 2 ranks
  time_ps max_latency_ps = 0;  ///< largest path latency among the flows
};

/// The torus slice whose devices are exactly `ranks` (each once, any order), or nullopt.
/// O(ranks + devices of the slice).
[[nodiscard]] std::optional<int> whole_torus_slice(const topo::topology& topo,
                                                   std::span<const topo::device_id> ranks);

/// Streams every ordered pair of distinct `ranks` (sources in order, then destinations in order).
/// `capacity_bytes_per_s` has one entry per topology link. Throws std::invalid_argument on a
/// capacity count that does not match, devices out of range, or bytes_per_pair < 0.
[[nodiscard]] all_to_all_estimate all_to_all_streamed(const topo::topology& topo,
                                                      std::span<const double> capacity_bytes_per_s,
                                                      std::span<const topo::device_id> ranks,
                                                      double bytes_per_pair);

/// The same for all devices of torus slice `slice`, by symmetry (see the file comment). Throws
/// std::invalid_argument as all_to_all_streamed, or when `slice` is not a slice of `topo`.
[[nodiscard]] all_to_all_estimate all_to_all_on_torus(const topo::topology& topo,
                                                      std::span<const double> capacity_bytes_per_s,
                                                      int slice, double bytes_per_pair);

/// max_latency_ps of all_to_all_on_torus alone (no capacities needed). O(sum k_a^3).
[[nodiscard]] time_ps all_to_all_max_latency_on_torus(const topo::topology& topo, int slice);

}  // namespace moesim::sim::net
