#pragma once
// The torus (TPU ICI) algorithm of collectives.hpp for all-gather, reduce-scatter and
// all-reduce, and the test that decides where it applies: groups that are whole sub-tori.
//
// Over the axes A of a sub-torus (m = |A| axes of size >= 2, N ranks per group), the per-rank
// data is split into m equal parts that run at once. Part p reduce-scatters over the axes in the
// rotated order A[p], A[p+1], ..., A[p-1] and all-gathers back in the reverse order, so at every
// stage the parts sit on different axes and all 2m ICI links of a chip carry data together. On
// one axis a part runs a ring: bidirectional on a wrapping axis (half of every chunk each way,
// flow ids 0 and 1), else two opposite chains in which only the chips already holding data send
// (the bandwidth term doubles). Bandwidth-bound, with W the bidirectional per-link bandwidth and
// V the per-rank buffer of the nccl-tests convention (the book's array size), on equal axes:
//   reduce-scatter = all-gather = (1 - 1/N) V / (m W),   all-reduce = twice that,
// the multi-axis cost of Austin et al., "How to Scale Your Model", sharding.md ("when we gather
// over multiple axes ... this increases the available bandwidth by a factor of n_axes":
// T = max(T_min * sum|X_i| / 2, V / (W n_axes)); all-reduce = reduce-scatter + all-gather, 2x),
// whose (Axis - 1)/Axis form is the (1 - 1/N) here. XLA's own schedule is not published; this is
// the schedule that reaches the book's bound with per-axis bidirectional rings (the book's
// bidirectional all-gather, with a wraparound on the axis). On axes of different sizes
// the part on the longest axis finishes each stage last (v5p 4x4x8: 1.16x the bound; 16x24x24:
// 1.06x); the parts are split equally, not tuned.
// Phases: one per stage, all parts together (a barrier per stage). A stage's ring steps are
// pipelined into its phase: every link carries what its X - 1 steps would, which on a ring and
// on a chain takes as long as the steps one by one (each step's busiest link carries one shard),
// and the phase pays X - 1 hops of latency (collective_phase::hops): sum over A of (k_a - 1)
// hops per reduce-scatter, as the steps would.
//
// Internal to sim/net (collectives.cpp); exposed for its tests. Complexity: planning
// O(flows) = O(m^2 * groups * N) (two flows per chip, part and stage); sub_torus_axes
// O(ranks * axes + ranks log ranks).
#include <optional>
#include <span>
#include <vector>

#include "sim/net/collectives.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::net::detail {

/// The axes (increasing, each of size >= 2) along which every group is a whole sub-torus of one
/// slice: its members share every other coordinate and take each combination of coordinates on
/// these axes exactly once. All groups must span the same axes. nullopt when the topology is not
/// a torus, a group is not such a sub-torus (a member out of range, twice, or in another slice;
/// a partial axis), the groups' axes differ, or a group spans no axis (a single chip).
[[nodiscard]] std::optional<std::vector<int>> sub_torus_axes(
    const topo::topology& topo, std::span<const std::vector<topo::device_id>> groups);

/// Appends the algorithm's phases (file comment) for every group at once, from phase 0. `axes`
/// are axes of the groups' sub-tori (size-1 axes are skipped; sub_torus_axes gives them);
/// `bytes` is S of collectives.hpp. op must not be all-to-all (asserted).
void plan_torus_reduction(collective_plan& plan, const topo::topology& topo,
                          std::span<const std::vector<topo::device_id>> groups,
                          std::span<const int> axes, collective_op op, double bytes);

}  // namespace moesim::sim::net::detail
