#pragma once
// The routed paths of a fixed list of connections, flattened: what a caller that starts flows
// between the same pairs again and again (an EP group's all-to-all-v, layer after layer) routes
// once and hands to network::start_groups. Connection i keeps its index, so a caller passes
// per-connection byte counts in the same order.
//
// Memory: O(connections + total path length), twice that once index_links() has run.
// Read-only after building (and indexing); may be shared.
#include <cstdint>
#include <span>
#include <vector>

#include "sim/engine/time.hpp"
#include "sim/net/maxmin.hpp"
#include "topologies/routing.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::net {

/// A directed connection; `tag` is its ECMP flow id (the same tag keeps the same path).
struct connection {
  topo::device_id src = 0;
  topo::device_id dst = 0;
  std::uint64_t tag = 0;
};

class route_set {
 public:
  /// Routes `c` with `router` (ECMP by its tag; an empty path when src == dst) and appends it.
  /// Throws what the router throws for devices it cannot join. O(path).
  void add(const topo::topology& topo, const topo::router& router, const connection& c);
  /// Appends `c` over the given path (e.g. a device's PCIe link to its host, which the router
  /// does not join: c.src or c.dst may then name no device, but they must differ). O(path).
  void add_path(const topo::topology& topo, const connection& c, std::span<const link_id> path);
  void clear() noexcept;
  void reserve(std::size_t connections, std::size_t links);
  /// Builds the link-major view below, once the set is complete (add() and clear() drop it):
  /// the analytical model then sums each link's load in registers rather than scattering every
  /// path's bytes over its links. O(total path length · log).
  void index_links();

  [[nodiscard]] std::size_t size() const noexcept { return conns_.size(); }
  [[nodiscard]] const connection& at(std::size_t i) const { return conns_[i]; }
  /// Solver link ids (= topology link ids) of connection i, in path order.
  [[nodiscard]] std::span<const link_id> links(std::size_t i) const {
    return std::span<const link_id>(links_).subspan(offsets_[i], offsets_[i + 1] - offsets_[i]);
  }
  /// Sum of the per-hop latencies of connection i's path.
  [[nodiscard]] time_ps latency(std::size_t i) const { return latency_[i]; }

  /// Whether index_links() has run since the last change.
  [[nodiscard]] bool indexed() const noexcept { return indexed_; }
  /// With indexed(): the distinct links the paths use, the most crossed first (then by id).
  [[nodiscard]] std::span<const link_id> used_links() const { return used_; }
  /// With indexed(): the connections whose paths cross used_links()[k], ascending.
  [[nodiscard]] std::span<const std::uint32_t> crossing(std::size_t k) const {
    return std::span<const std::uint32_t>(crossing_).subspan(crossing_at_[k],
                                                             crossing_at_[k + 1] - crossing_at_[k]);
  }

 private:
  std::vector<connection> conns_;
  std::vector<link_id> links_;
  std::vector<std::size_t> offsets_{0};
  std::vector<time_ps> latency_;
  topo::path scratch_;
  bool indexed_ = false;
  std::vector<link_id> used_;
  std::vector<std::size_t> crossing_at_;
  std::vector<std::uint32_t> crossing_;
};

}  // namespace moesim::sim::net
