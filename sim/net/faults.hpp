#pragma once
// Link faults in the network: how users name a link, and the router that avoids failed links.
//
// Naming: a link is the cable between two vertices named as topology::name prints them
// ("dev12", "leaf4", "spine2", "nic5", "dcn0"; `moesim topo --dot` shows them). A fault hits
// both directions of the cable. Where several parallel cables join the same two vertices (a
// fat-tree spine's downlinks to one leaf), the lowest-numbered one is meant.
//
// Detours: a flow whose structural route (topologies/routing.hpp) crosses a failed link takes a
// shortest path (fewest hops) over the links still up instead: breadth-first search from the
// destination over the topology's links, then a walk from the source that picks among the
// equal-cost next links by the ECMP hash of (src, dst, flow id, hop), so flows spread over
// every remaining shortest path (the other spines of a fat-tree tier; the other axes of a
// torus, or the other way round a ring when no shorter path is left). Transit: torus chips
// forward (ICI routes through chips), GPUs and hosts do not (a GPU is only a source or a sink);
// NICs and switches do. A pair with no path left is an error naming both ends.
//
// Cost: O(V + E) per destination searched (cached for up to 64 destinations until the set of
// failed links changes), O(path · degree) per detour walk. Ownership: keeps a reference to the
// topology, which must outlive it. Not thread-safe.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "topologies/routing.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::net {

/// The vertex topology::name calls `name`, or nullopt. O(V) (names are not indexed).
[[nodiscard]] std::optional<topo::vertex_id> find_vertex(const topo::topology& t,
                                                         std::string_view name);
/// The lowest-numbered link from `from` to `to`, or nullopt when no cable joins them. O(links).
[[nodiscard]] std::optional<topo::link_id> find_link(const topo::topology& t, topo::vertex_id from,
                                                     topo::vertex_id to);

/// Whether vertex v may forward traffic (file comment).
[[nodiscard]] bool may_transit(const topo::topology& t, topo::vertex_id v) noexcept;

/// Two devices that could reach each other over all links but not over the links with
/// down[l] != 0, or nullopt when every pair that had a route still has one. One search from each
/// device of every connected group: O(groups · (V + E)).
[[nodiscard]] std::optional<std::pair<topo::device_id, topo::device_id>> first_cut_pair(
    const topo::topology& t, std::span<const std::uint8_t> down);

class detour_router {
 public:
  explicit detour_router(const topo::topology& topo);

  /// The detour from src to dst (file comment) avoiding links with down[l] != 0, into `out`
  /// (cleared first). Throws std::runtime_error naming both devices when none is left.
  void route(topo::device_id src, topo::device_id dst, std::uint64_t flow_id,
             std::span<const std::uint8_t> down, topo::path& out);
  /// Forgets cached searches: call whenever the set of failed links changes.
  void invalidate() noexcept { dist_.clear(); }

 private:
  const std::vector<std::int32_t>& distances(topo::vertex_id dst,
                                             std::span<const std::uint8_t> down);
  const topo::topology& topo_;
  std::vector<std::vector<topo::link_id>> out_;  ///< [vertex]: links leaving it, ascending ids
  std::vector<std::vector<topo::link_id>> in_;   ///< [vertex]: links entering it, ascending ids
  std::map<topo::vertex_id, std::vector<std::int32_t>> dist_;  ///< hops to a destination
};

}  // namespace moesim::sim::net
