#include "sim/net/route_set.hpp"

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
}

void route_set::clear() noexcept {
  conns_.clear();
  links_.clear();
  offsets_.assign(1, 0);
  latency_.clear();
}

void route_set::reserve(std::size_t connections, std::size_t links) {
  conns_.reserve(connections);
  offsets_.reserve(connections + 1);
  latency_.reserve(connections);
  links_.reserve(links);
}

}  // namespace moesim::sim::net
