#include "sim/net/faults.hpp"

#include <deque>
#include <stdexcept>

namespace moesim::sim::net {

namespace {
constexpr std::size_t cached_destinations = 64;
constexpr std::int32_t unreached = -1;

// Hops from every vertex to `dst` over links that are up, entering transit vertices only.
std::vector<std::int32_t> search(const topo::topology& t,
                                 const std::vector<std::vector<topo::link_id>>& in,
                                 topo::vertex_id dst, std::span<const std::uint8_t> down) {
  std::vector<std::int32_t> dist(static_cast<std::size_t>(t.vertex_count()), unreached);
  std::deque<topo::vertex_id> queue{dst};
  dist[static_cast<std::size_t>(dst)] = 0;
  while (!queue.empty()) {
    const topo::vertex_id v = queue.front();
    queue.pop_front();
    for (const topo::link_id l : in[static_cast<std::size_t>(v)]) {
      if (!down.empty() && down[static_cast<std::size_t>(l)] != 0) continue;
      const topo::vertex_id u = t.link(l).src;
      auto& du = dist[static_cast<std::size_t>(u)];
      if (du != unreached) continue;
      du = dist[static_cast<std::size_t>(v)] + 1;
      if (may_transit(t, u)) queue.push_back(u);
    }
  }
  return dist;
}

std::vector<std::vector<topo::link_id>> incoming(const topo::topology& t) {
  std::vector<std::vector<topo::link_id>> in(static_cast<std::size_t>(t.vertex_count()));
  for (topo::link_id l = 0; l < t.link_count(); ++l)
    in[static_cast<std::size_t>(t.link(l).dst)].push_back(l);
  return in;
}
}  // namespace

std::optional<topo::vertex_id> find_vertex(const topo::topology& t, std::string_view name) {
  for (topo::vertex_id v = 0; v < t.vertex_count(); ++v) {
    if (t.name(v) == name) return v;
  }
  return std::nullopt;
}

std::optional<topo::link_id> find_link(const topo::topology& t, topo::vertex_id from,
                                       topo::vertex_id to) {
  for (topo::link_id l = 0; l < t.link_count(); ++l) {
    if (t.link(l).src == from && t.link(l).dst == to) return l;
  }
  return std::nullopt;
}

bool may_transit(const topo::topology& t, topo::vertex_id v) noexcept {
  switch (t.vertex(v).kind) {
    case topo::vertex_kind::device:
      return t.family == topo::topology_family::torus;
    case topo::vertex_kind::host:
      return false;
    default:
      return true;
  }
}

std::optional<std::pair<topo::device_id, topo::device_id>> first_cut_pair(
    const topo::topology& t, std::span<const std::uint8_t> down) {
  const auto in = incoming(t);
  std::vector<std::uint8_t> seen(static_cast<std::size_t>(t.device_count()), 0);
  for (topo::device_id d = 0; d < t.device_count(); ++d) {
    if (seen[static_cast<std::size_t>(d)] != 0) continue;
    // Links are duplex cables, failed in both directions: reachability is symmetric, so one
    // search per group of devices that could reach each other decides every pair in it.
    const auto before = search(t, in, d, {});
    const auto after = search(t, in, d, down);
    for (topo::device_id e = 0; e < t.device_count(); ++e) {
      if (before[static_cast<std::size_t>(e)] == unreached) continue;
      seen[static_cast<std::size_t>(e)] = 1;
      if (after[static_cast<std::size_t>(e)] == unreached) return std::pair{e, d};
    }
  }
  return std::nullopt;
}

detour_router::detour_router(const topo::topology& topo) : topo_(topo), in_(incoming(topo)) {
  out_.resize(static_cast<std::size_t>(topo.vertex_count()));
  for (topo::link_id l = 0; l < topo.link_count(); ++l)
    out_[static_cast<std::size_t>(topo.link(l).src)].push_back(l);
}

const std::vector<std::int32_t>& detour_router::distances(topo::vertex_id dst,
                                                          std::span<const std::uint8_t> down) {
  auto it = dist_.find(dst);
  if (it != dist_.end()) return it->second;
  if (dist_.size() >= cached_destinations) dist_.clear();
  return dist_.emplace(dst, search(topo_, in_, dst, down)).first->second;
}

void detour_router::route(topo::device_id src, topo::device_id dst, std::uint64_t flow_id,
                          std::span<const std::uint8_t> down, topo::path& out) {
  out.clear();
  if (src == dst) return;
  const auto& dist = distances(dst, down);
  if (dist[static_cast<std::size_t>(src)] == unreached) {
    throw std::runtime_error("faults: no route is left from " + topo_.name(src) + " to " +
                             topo_.name(dst) + ": every path crosses a failed link");
  }
  std::vector<topo::link_id> choices;
  topo::vertex_id v = src;
  for (int hop = 0; v != dst; ++hop) {
    choices.clear();
    const std::int32_t want = dist[static_cast<std::size_t>(v)] - 1;
    for (const topo::link_id l : out_[static_cast<std::size_t>(v)]) {
      if (down[static_cast<std::size_t>(l)] != 0) continue;
      const topo::vertex_id w = topo_.link(l).dst;
      if (dist[static_cast<std::size_t>(w)] == want && (w == dst || may_transit(topo_, w)))
        choices.push_back(l);
    }
    // The search reached v through one of these links, so there is at least one.
    const topo::link_id pick = choices[static_cast<std::size_t>(
        topo::ecmp_hash(src, dst, flow_id, 8 + hop) % choices.size())];
    out.push_back(pick);
    v = topo_.link(pick).dst;
  }
}

}  // namespace moesim::sim::net
