#include "topologies/fat_tree.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace moesim::topo {

namespace {

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("fat-tree: " + message);
}

/// Largest divisor m of n with m <= limit (>= 1 when limit >= 1).
int largest_divisor_at_most(int n, int limit) {
  for (int m = std::min(n, limit); m >= 1; --m)
    if (n % m == 0) return m;
  return 0;
}

}  // namespace

leaf_position position_of_leaf(const fat_tree& tree, int leaf) {
  const int unit = leaf / tree.rails;
  const int rail = leaf % tree.rails;
  return {unit / tree.units_per_pod, (unit % tree.units_per_pod) * tree.rails + rail};
}

void add_fat_tree(topology& topo, const fat_tree_spec& spec,
                  const std::vector<std::vector<vertex_id>>& node_nics, double nic_bytes_per_s) {
  const int nodes = static_cast<int>(node_nics.size());
  if (nodes < 1) fail("needs at least one node");
  const int nics_per_node = static_cast<int>(node_nics.front().size());
  const int rails = spec.rails;
  const int radix = spec.switch_radix;
  if (rails < 1 || nics_per_node % rails != 0)
    fail("rails " + std::to_string(rails) + " must divide the " + std::to_string(nics_per_node) +
         " NICs per node");
  const int S = spec.nodes_per_unit;
  const int down = S * (nics_per_node / rails);
  const double up_exact = down / spec.oversubscription;
  const int U = static_cast<int>(std::lround(up_exact));
  if (U < 1 || std::abs(up_exact - U) > 1e-9)
    fail("leaf downlinks " + std::to_string(down) + " / oversubscription " +
         std::to_string(spec.oversubscription) + " is not a whole number of uplinks");
  if (down + U > radix)
    fail("a leaf needs " + std::to_string(down) + " down + " + std::to_string(U) +
         " up ports but the switch radix is " + std::to_string(radix));

  fat_tree& t = topo.tree;
  t = fat_tree{};
  t.rails = rails;
  t.nodes_per_unit = S;
  t.units = (nodes + S - 1) / S;
  const int L = t.units * rails;
  t.tiers = spec.tiers != 0 ? spec.tiers : (L <= radix ? 2 : 3);

  int m = 0;  // parallel cables leaf <-> spine
  int spine_up = 0;
  if (t.tiers == 2) {
    if (L > radix)
      fail(std::to_string(L) + " leaves do not fit under 2 tiers of radix " +
           std::to_string(radix));
    t.units_per_pod = t.units;
    t.pods = 1;
    m = largest_divisor_at_most(U, radix / L);
  } else {
    const int spine_down_ports = radix / 2;
    if (rails > spine_down_ports)
      fail(std::to_string(rails) + " rails exceed the " + std::to_string(spine_down_ports) +
           " spine down ports of a 3-tier fabric");
    t.units_per_pod = std::min(t.units, spine_down_ports / rails);
    t.pods = (t.units + t.units_per_pod - 1) / t.units_per_pod;
    m = largest_divisor_at_most(U, spine_down_ports / (t.units_per_pod * rails));
  }
  t.spines_per_pod = U / m;
  const int leaves_per_pod = t.units_per_pod * rails;
  spine_up = leaves_per_pod * m;

  // Leaves and NIC <-> leaf cables.
  for (int l = 0; l < L; ++l) t.leaves.push_back(topo.add_vertex(vertex_kind::leaf));
  for (int n = 0; n < nodes; ++n) {
    const int unit = n / S;
    for (int j = 0; j < nics_per_node; ++j) {
      const vertex_id nic = node_nics[static_cast<std::size_t>(n)][static_cast<std::size_t>(j)];
      const int leaf = unit * rails + j % rails;
      const link_id up =
          topo.add_duplex_link(nic, t.leaves[static_cast<std::size_t>(leaf)], link_kind::ib,
                               nic_bytes_per_s, spec.switch_latency_ps, 0);
      nic_attachment& att = topo.nics[static_cast<std::size_t>(topo.vertex(nic).index)];
      att.up = up;
      att.down = up + 1;
      att.leaf = leaf;
    }
  }

  // Spines and leaf <-> spine cables (every leaf of a pod to every spine of that pod).
  const int spines = t.pods * t.spines_per_pod;
  for (int s = 0; s < spines; ++s) t.spines.push_back(topo.add_vertex(vertex_kind::spine));
  t.leaf_up.assign(static_cast<std::size_t>(L), {});
  t.spine_down.assign(static_cast<std::size_t>(spines),
                      std::vector<std::vector<link_id>>(static_cast<std::size_t>(leaves_per_pod)));
  for (int l = 0; l < L; ++l) {
    const leaf_position pos = position_of_leaf(t, l);
    for (int j = 0; j < t.spines_per_pod; ++j) {
      const int s = pos.pod * t.spines_per_pod + j;
      for (int c = 0; c < m; ++c) {
        const link_id up = topo.add_duplex_link(
            t.leaves[static_cast<std::size_t>(l)], t.spines[static_cast<std::size_t>(s)],
            link_kind::ib, spec.link_bytes_per_s, spec.switch_latency_ps);
        t.leaf_up[static_cast<std::size_t>(l)].push_back(up);
        t.spine_down[static_cast<std::size_t>(s)][static_cast<std::size_t>(pos.local)].push_back(
            up + 1);
      }
    }
  }
  if (t.tiers == 2) return;

  // Cores: group g serves spines j with j % G == g; each such spine has one cable to every core
  // of its group.
  int groups = 0;
  for (int g = 1; g <= t.spines_per_pod; ++g)
    if (t.spines_per_pod % g == 0 && t.pods * (t.spines_per_pod / g) <= radix) {
      groups = g;
      break;
    }
  if (groups == 0)
    fail(std::to_string(t.pods) + " pods exceed what radix-" + std::to_string(radix) +
         " core switches can join");
  const int cores = groups * spine_up;
  for (int c = 0; c < cores; ++c) t.cores.push_back(topo.add_vertex(vertex_kind::core));
  t.spine_up.assign(static_cast<std::size_t>(spines), {});
  t.core_down.assign(static_cast<std::size_t>(cores),
                     std::vector<std::vector<link_id>>(static_cast<std::size_t>(t.pods)));
  for (int s = 0; s < spines; ++s) {
    const int pod = s / t.spines_per_pod;
    const int g = (s % t.spines_per_pod) % groups;
    for (int i = 0; i < spine_up; ++i) {
      const int c = g * spine_up + i;
      const link_id up = topo.add_duplex_link(t.spines[static_cast<std::size_t>(s)],
                                              t.cores[static_cast<std::size_t>(c)], link_kind::ib,
                                              spec.link_bytes_per_s, spec.switch_latency_ps);
      t.spine_up[static_cast<std::size_t>(s)].push_back(up);
      t.core_down[static_cast<std::size_t>(c)][static_cast<std::size_t>(pod)].push_back(up + 1);
    }
  }
}

}  // namespace moesim::topo
