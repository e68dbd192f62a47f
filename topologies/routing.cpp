#include "topologies/routing.hpp"

#include <cassert>
#include <stdexcept>
#include <string>

#include "topologies/fat_tree.hpp"

namespace moesim::topo {

std::uint64_t ecmp_hash(device_id src, device_id dst, std::uint64_t flow_id, int tier) noexcept {
  std::uint64_t x = static_cast<std::uint64_t>(static_cast<std::uint32_t>(src)) |
                    (static_cast<std::uint64_t>(static_cast<std::uint32_t>(dst)) << 32);
  x ^= flow_id * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(tier) * 0xd1b54a32d192ed03ULL;
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

namespace {

link_id pick(const std::vector<link_id>& choices, std::uint64_t hash) {
  assert(!choices.empty());
  return choices[static_cast<std::size_t>(hash % choices.size())];
}

}  // namespace

path router::route(device_id src, device_id dst, std::uint64_t flow_id) const {
  path out;
  route_into(src, dst, flow_id, out);
  return out;
}

void router::route_into(device_id src, device_id dst, std::uint64_t flow_id, path& out) const {
  out.clear();
  const std::int32_t n = topo_.device_count();
  if (src < 0 || src >= n || dst < 0 || dst >= n)
    throw std::invalid_argument("route: devices " + std::to_string(src) + " -> " +
                                std::to_string(dst) + " out of range [0, " + std::to_string(n) +
                                ")");
  if (src == dst) return;
  const device_attachment& s = topo_.devices[static_cast<std::size_t>(src)];
  const device_attachment& d = topo_.devices[static_cast<std::size_t>(dst)];
  if (topo_.family == topology_family::torus && s.group == d.group) {
    torus_route(topo_.slices[static_cast<std::size_t>(s.group)], s.local, d.local, flow_id, out);
    return;
  }
  if (topo_.family == topology_family::switched && s.group == d.group) {
    const switch_domain& dom = topo_.domains[static_cast<std::size_t>(s.group)];
    out.push_back(dom.up[static_cast<std::size_t>(s.local)]);
    out.push_back(dom.down[static_cast<std::size_t>(d.local)]);
    return;
  }
  if (s.nic == none || d.nic == none)
    throw std::invalid_argument("route: no scale-out network joins device " + std::to_string(src) +
                                " and device " + std::to_string(dst));
  out.push_back(s.to_nic);
  if (s.nic != d.nic) {
    const nic_attachment& sn = topo_.nics[static_cast<std::size_t>(topo_.vertex(s.nic).index)];
    const nic_attachment& dn = topo_.nics[static_cast<std::size_t>(topo_.vertex(d.nic).index)];
    out.push_back(sn.up);
    if (topo_.family == topology_family::switched) fat_tree_route(src, dst, flow_id, out);
    out.push_back(dn.down);
  }
  out.push_back(d.from_nic);
}

void router::torus_route(const torus_slice& slice, std::int32_t a, std::int32_t b,
                         std::uint64_t flow_id, path& out) const {
  std::int32_t cur = a;
  std::int32_t stride = 1;
  for (std::size_t axis = 0; axis < slice.dims.size(); ++axis) {
    const int k = slice.dims[axis];
    const int from = (a / stride) % k;
    const int to = (b / stride) % k;
    if (from != to) {
      int steps = 0;
      bool negative = false;
      if (slice.wraps[axis]) {
        const int forward = ((to - from) % k + k) % k;
        // A tie (forward == k/2) goes + when (source coordinate + flow id) is even (routing.hpp).
        negative = forward > k - forward ||
                   (forward == k - forward && ((static_cast<std::uint64_t>(from) + flow_id) & 1));
        steps = negative ? k - forward : forward;
      } else {
        negative = to < from;
        steps = negative ? from - to : to - from;
      }
      int x = from;
      for (int i = 0; i < steps; ++i) {
        const link_id l = slice.neighbour_link(cur, static_cast<int>(axis), negative);
        assert(l != none);
        out.push_back(l);
        const int next = negative ? (x == 0 ? k - 1 : x - 1) : (x == k - 1 ? 0 : x + 1);
        cur += (next - x) * stride;
        x = next;
      }
    }
    stride *= k;
  }
  assert(cur == b);
}

void router::fat_tree_route(device_id src, device_id dst, std::uint64_t flow_id, path& out) const {
  const fat_tree& t = topo_.tree;
  const auto leaf_of = [&](device_id dev) {
    const vertex_id nic = topo_.devices[static_cast<std::size_t>(dev)].nic;
    return topo_.nics[static_cast<std::size_t>(topo_.vertex(nic).index)].leaf;
  };
  const int ls = leaf_of(src);
  const int ld = leaf_of(dst);
  if (ls == ld) return;
  const leaf_position ps = position_of_leaf(t, ls);
  const leaf_position pd = position_of_leaf(t, ld);
  const link_id up = pick(t.leaf_up[static_cast<std::size_t>(ls)], ecmp_hash(src, dst, flow_id, 1));
  out.push_back(up);
  const int spine = topo_.vertex(topo_.link(up).dst).index;
  int down_spine = spine;
  if (ps.pod != pd.pod) {
    const link_id to_core =
        pick(t.spine_up[static_cast<std::size_t>(spine)], ecmp_hash(src, dst, flow_id, 2));
    out.push_back(to_core);
    const int core = topo_.vertex(topo_.link(to_core).dst).index;
    const link_id to_spine =
        pick(t.core_down[static_cast<std::size_t>(core)][static_cast<std::size_t>(pd.pod)],
             ecmp_hash(src, dst, flow_id, 3));
    out.push_back(to_spine);
    down_spine = topo_.vertex(topo_.link(to_spine).dst).index;
  }
  out.push_back(
      pick(t.spine_down[static_cast<std::size_t>(down_spine)][static_cast<std::size_t>(pd.local)],
           ecmp_hash(src, dst, flow_id, 4)));
}

link_id router::to_host(device_id d) const {
  if (d < 0 || d >= topo_.device_count())
    throw std::invalid_argument("to_host: device " + std::to_string(d) + " out of range");
  return topo_.devices[static_cast<std::size_t>(d)].to_host;
}

link_id router::from_host(device_id d) const {
  if (d < 0 || d >= topo_.device_count())
    throw std::invalid_argument("from_host: device " + std::to_string(d) + " out of range");
  return topo_.devices[static_cast<std::size_t>(d)].from_host;
}

std::span<const link_id> path_cache::get(device_id src, device_id dst, std::uint64_t flow_id) {
  const key k{src, dst, flow_id};
  auto it = paths_.find(k);
  if (it == paths_.end()) it = paths_.emplace(k, router_.route(src, dst, flow_id)).first;
  return it->second;
}

}  // namespace moesim::topo
