#pragma once
// The routed paths of a fixed list of connections, flattened: what a caller that starts flows
// between the same pairs again and again (an EP group's all-to-all-v, layer after layer) routes
// once and hands to network::start_groups. Connection i keeps its index, so a caller passes
// per-connection byte counts in the same order.
//
// Memory: O(connections + total path length). Read-only after building; may be shared.
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
  void clear() noexcept;
  void reserve(std::size_t connections, std::size_t links);

  [[nodiscard]] std::size_t size() const noexcept { return conns_.size(); }
  [[nodiscard]] const connection& at(std::size_t i) const { return conns_[i]; }
  /// Solver link ids (= topology link ids) of connection i, in path order.
  [[nodiscard]] std::span<const link_id> links(std::size_t i) const {
    return std::span<const link_id>(links_).subspan(offsets_[i], offsets_[i + 1] - offsets_[i]);
  }
  /// Sum of the per-hop latencies of connection i's path.
  [[nodiscard]] time_ps latency(std::size_t i) const { return latency_[i]; }

 private:
  std::vector<connection> conns_;
  std::vector<link_id> links_;
  std::vector<std::size_t> offsets_{0};
  std::vector<time_ps> latency_;
  topo::path scratch_;
};

}  // namespace moesim::sim::net
