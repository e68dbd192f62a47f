#include "sim/net/route_set.hpp"

#include <algorithm>
#include <utility>

namespace moesim::sim::net {

void route_set::add(const topo::topology& topo, const topo::router& router, const connection& c) {
  router.route_into(c.src, c.dst, c.tag, scratch_);
  time_ps latency = 0;
  for (const auto l : scratch_) {
    links_.push_back(static_cast<link_id>(static_cast<std::uint32_t>(l)));
    latency += topo.link(l).latency_ps;
  }
  conns_.push_back(c);
  offsets_.push_back(links_.size());
  latency_.push_back(latency);
  indexed_ = false;
}

void route_set::add_path(const topo::topology& topo, const connection& c,
                         std::span<const link_id> path) {
  time_ps latency = 0;
  for (const link_id l : path) {
    links_.push_back(l);
    latency += topo.link(static_cast<topo::link_id>(l)).latency_ps;
  }
  conns_.push_back(c);
  offsets_.push_back(links_.size());
  latency_.push_back(latency);
  indexed_ = false;
}

void route_set::clear() noexcept {
  conns_.clear();
  links_.clear();
  offsets_.assign(1, 0);
  latency_.clear();
  indexed_ = false;
}

void route_set::reserve(std::size_t connections, std::size_t links) {
  conns_.reserve(connections);
  offsets_.reserve(connections + 1);
  latency_.reserve(connections);
  links_.reserve(links);
}

}  // namespace moesim::sim::net

namespace moesim::sim::net {

void route_set::index_links() {
  // (link, connection) for every hop, sorted by link then connection.
  std::vector<std::pair<link_id, std::uint32_t>> hops;
  hops.reserve(links_.size());
  for (std::size_t i = 0; i < conns_.size(); ++i) {
    for (const link_id l : links(i)) hops.emplace_back(l, static_cast<std::uint32_t>(i));
  }
  std::sort(hops.begin(), hops.end());
  used_.clear();
  crossing_.clear();
  crossing_at_.assign(1, 0);
  crossing_.reserve(hops.size());
  for (std::size_t h = 0; h < hops.size(); ++h) {
    if (h == 0 || hops[h].first != hops[h - 1].first) {
      if (h > 0) crossing_at_.push_back(crossing_.size());
      used_.push_back(hops[h].first);
    }
    crossing_.push_back(hops[h].second);
  }
  if (!hops.empty()) crossing_at_.push_back(crossing_.size());
  // Links by how many connections cross them (then by id), so that neighbours are of similar
  // length for a caller summing several at once.
  std::vector<std::size_t> order(used_.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const std::size_t na = crossing_at_[a + 1] - crossing_at_[a];
    const std::size_t nb = crossing_at_[b + 1] - crossing_at_[b];
    return na != nb ? na > nb : used_[a] < used_[b];
  });
  std::vector<link_id> used;
  std::vector<std::size_t> at{0};
  std::vector<std::uint32_t> crossing;
  used.reserve(used_.size());
  at.reserve(used_.size() + 1);
  crossing.reserve(crossing_.size());
  for (const std::size_t k : order) {
    used.push_back(used_[k]);
    crossing.insert(crossing.end(),
                    crossing_.begin() + static_cast<std::ptrdiff_t>(crossing_at_[k]),
                    crossing_.begin() + static_cast<std::ptrdiff_t>(crossing_at_[k + 1]));
    at.push_back(crossing.size());
  }
  used_ = std::move(used);
  crossing_at_ = std::move(at);
  crossing_ = std::move(crossing);
  indexed_ = true;
}

}  // namespace moesim::sim::net
