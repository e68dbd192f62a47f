// Over 600 lines (about 750): this file turns every collective and the expert exchanges into
// flow plans, and they all build on the same private helpers (groups by node, ring orders, phase
// and flow bookkeeping); the protocol cost model and the timing of a plan already live apart
// (protocol.cpp, collective_run.cpp). The next split, if it grows: the expert exchanges
// (plan_all_to_all_v, plan_expert_exchange and their two-stage helpers) into their own file over
// a detail header of those helpers.
#include "sim/net/collectives.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>

#include "sim/net/all_to_all_load.hpp"
#include "sim/net/torus_plan.hpp"
#include "topologies/routing.hpp"

namespace moesim::sim::net {

namespace {

using topo::device_id;
using group_list = std::vector<std::vector<device_id>>;

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument(what);
}

constexpr std::string_view op_names[] = {"all-reduce", "all-gather", "reduce-scatter",
                                         "all-to-all"};
constexpr std::string_view algorithm_names[] = {"auto",   "ring",         "tree", "nvls",
                                                "direct", "hierarchical", "torus"};

const topo::device_attachment& at(const topo::topology& topo, device_id d) {
  return topo.devices[static_cast<std::size_t>(d)];
}

collective_phase& phase_at(collective_plan& plan, std::size_t i) {
  if (plan.phases.size() <= i) plan.phases.resize(i + 1);
  return plan.phases[i];
}

void add_flow(collective_plan& plan, std::size_t phase, device_id src, device_id dst, double bytes,
              std::uint64_t tag = 0) {
  if (src == dst || bytes <= 0) return;
  phase_at(plan, phase).flows.push_back({src, dst, bytes, tag});
}

// Members of `group` per NVSwitch domain (or torus slice), in order of first appearance.
group_list by_node(const topo::topology& topo, std::span<const device_id> group) {
  std::map<int, std::size_t> index;
  group_list out;
  for (device_id d : group) {
    const auto [it, fresh] = index.emplace(at(topo, d).group, out.size());
    if (fresh) out.emplace_back();
    out[it->second].push_back(d);
  }
  return out;
}

bool uniform(const group_list& nodes) {
  return std::all_of(nodes.begin(), nodes.end(),
                     [&](const auto& m) { return m.size() == nodes.front().size(); });
}

// The rings (channels) of a group; see the file comment of collectives.hpp.
group_list ring_orders(const topo::topology& topo, std::span<const device_id> group) {
  const group_list nodes = by_node(topo, group);
  if (topo.family != topo::topology_family::switched || nodes.size() < 2 || !uniform(nodes)) {
    return {std::vector<device_id>(group.begin(), group.end())};
  }
  const std::size_t L = nodes.front().size();
  std::vector<topo::vertex_id> nics;
  for (device_id d : nodes.front()) {
    if (std::find(nics.begin(), nics.end(), at(topo, d).nic) == nics.end()) {
      nics.push_back(at(topo, d).nic);
    }
  }
  std::size_t channels = std::max<std::size_t>(1, nics.size());
  if (L % channels != 0) channels = 1;
  const std::size_t stride = L / channels;
  group_list out;
  for (std::size_t c = 0; c < channels; ++c) {
    std::vector<device_id> order;
    for (std::size_t k = 0; k < nodes.size(); ++k) {
      const auto& m = nodes[k];
      const std::size_t e = (stride * (c + k)) % L;
      const std::size_t x = (stride * (c + k + 1)) % L;
      order.push_back(m[e]);
      for (std::size_t i = 1; i < L; ++i) {
        const std::size_t p = (e + i) % L;
        if (p != x || e == x) order.push_back(m[p]);
      }
      if (e != x) order.push_back(m[x]);
    }
    out.push_back(std::move(order));
  }
  return out;
}

// Ring reduce-scatter / all-gather steps (`steps` = n-1) or all-reduce (2(n-1)) over `orders`,
// each flow carrying `chunk` bytes, from phase `base`.
void ring_steps(collective_plan& plan, const group_list& orders, int steps, double chunk,
                std::size_t base) {
  for (std::size_t c = 0; c < orders.size(); ++c) {
    const auto& o = orders[c];
    const std::size_t n = o.size();
    for (int s = 0; s < steps; ++s) {
      for (std::size_t i = 0; i < n; ++i) {
        add_flow(plan, base + static_cast<std::size_t>(s), o[i], o[(i + 1) % n], chunk, c);
      }
    }
  }
}

int ring_step_count(collective_op op, int n) {
  return op == collective_op::all_reduce ? 2 * (n - 1) : n - 1;
}

void plan_ring(collective_plan& plan, const topo::topology& topo, const group_list& groups,
               const collective_spec& spec) {
  for (const auto& g : groups) {
    const int n = static_cast<int>(g.size());
    const group_list orders = ring_orders(topo, g);
    const int nodes = static_cast<int>(by_node(topo, g).size());
    if (nodes > 1) {
      plan.inter_node_steps = std::max(plan.inter_node_steps, ring_step_count(spec.op, nodes));
    }
    ring_steps(plan, orders, ring_step_count(spec.op, n),
               spec.bytes / (n * static_cast<double>(orders.size())), 0);
  }
}

void plan_direct(collective_plan& plan, const topo::topology& topo, const group_list& groups,
                 double bytes) {
  if (groups.size() == 1 && bytes > 0 && whole_torus_slice(topo, groups.front())) {
    auto& ph = phase_at(plan, 0);
    ph.exchange_ranks = groups.front();
    ph.exchange_bytes = bytes / static_cast<double>(groups.front().size());
    return;
  }
  for (const auto& g : groups) {
    const double per_pair = bytes / static_cast<double>(g.size());
    for (device_id s : g) {
      for (device_id d : g) add_flow(plan, 0, s, d, per_pair);
    }
  }
}

void plan_nvls(collective_plan& plan, const topo::topology& topo, const collective_params& p,
               const group_list& groups, double bytes) {
  if (p.nvls_efficiency <= 0) bad("nvls: the chip has no in-switch reduction (nvls_efficiency 0)");
  if (topo.family != topo::topology_family::switched) bad("nvls needs an NVSwitch cluster");
  for (const auto& g : groups) {
    if (by_node(topo, g).size() != 1) {
      bad("nvls: the " + std::to_string(g.size()) + " ranks span " +
          std::to_string(by_node(topo, g).size()) + " NVSwitch domains; nvls needs one");
    }
    const double n = static_cast<double>(g.size());
    const double port_bytes = bytes * (n + 1) / n / p.nvls_efficiency;
    for (std::size_t i = 0; i < g.size(); ++i) {
      add_flow(plan, 0, g[i], g[(i + 1) % g.size()], port_bytes);
    }
  }
}

// NCCL's in-order binary tree over positions 0..n-1 (ncclGetBtree): parent of each, -1 at root.
std::vector<int> btree_parents(int n) {
  std::vector<int> parent(static_cast<std::size_t>(n), -1);
  for (int r = 1; r < n; ++r) {
    int bit = 1;
    while ((bit & r) == 0) bit <<= 1;
    int up = (r ^ bit) | (bit << 1);
    if (up >= n) up = r ^ bit;
    parent[static_cast<std::size_t>(r)] = up;
  }
  return parent;
}

// Parents (indices into `g`, -1 at the root) of NCCL's two trees over a group: a double binary
// tree over the nodes (the second mirrors the first) joining one head GPU per node, and a chain
// through the node's other GPUs below its head; the two trees use opposite ends of the chain as
// head, so they leave each node through different NICs. On one node each tree is a chain.
std::array<std::vector<int>, 2> tree_parents(const topo::topology& topo,
                                             std::span<const device_id> g) {
  const group_list nodes = by_node(topo, g);
  if (!uniform(nodes)) bad("tree needs the same number of ranks on every node");
  std::map<device_id, int> index;
  for (std::size_t i = 0; i < g.size(); ++i) index[g[i]] = static_cast<int>(i);
  const int N = static_cast<int>(nodes.size());
  const std::size_t L = nodes.front().size();
  const std::vector<int> node_parent = btree_parents(N);
  std::array<std::vector<int>, 2> out;
  for (int tree = 0; tree < 2; ++tree) {
    auto& parent = out[static_cast<std::size_t>(tree)];
    parent.assign(g.size(), -1);
    auto member = [&](int node, std::size_t j) {
      const auto& m = nodes[static_cast<std::size_t>(node)];
      return index.at(tree == 0 ? m[j] : m[L - 1 - j]);
    };
    for (int k = 0; k < N; ++k) {
      const int pos = tree == 0 ? k : N - 1 - k;  // the mirrored tree
      const int up = node_parent[static_cast<std::size_t>(pos)];
      const int up_node = up < 0 ? -1 : (tree == 0 ? up : N - 1 - up);
      parent[static_cast<std::size_t>(member(k, 0))] = up_node < 0 ? -1 : member(up_node, 0);
      for (std::size_t j = 1; j < L; ++j) {
        parent[static_cast<std::size_t>(member(k, j))] = member(k, j - 1);
      }
    }
  }
  return out;
}

void plan_tree(collective_plan& plan, const topo::topology& topo, const group_list& groups,
               const collective_spec& spec) {
  if (spec.op != collective_op::all_reduce) bad("tree supports all-reduce only");
  const int k = spec.pipeline_chunks;
  for (const auto& g : groups) {
    const int n = static_cast<int>(g.size());
    if (n < 2) continue;
    const auto parents = tree_parents(topo, g);
    const double chunk = spec.bytes / 2 / k;
    std::size_t total_phases = 0;
    int height_root = 0;
    int max_depth = 0;
    for (int tree = 0; tree < 2; ++tree) {
      const auto& parent = parents[static_cast<std::size_t>(tree)];
      std::vector<int> height(static_cast<std::size_t>(n), 0);
      std::vector<int> depth(static_cast<std::size_t>(n), 0);
      for (int r = 0; r < n; ++r) {  // walk up from every rank: O(n * depth)
        int h = 0;
        for (int v = r; parent[static_cast<std::size_t>(v)] >= 0;
             v = parent[static_cast<std::size_t>(v)]) {
          ++h;
          auto& ph = height[static_cast<std::size_t>(parent[static_cast<std::size_t>(v)])];
          ph = std::max(ph, h);
        }
        depth[static_cast<std::size_t>(r)] = h;
      }
      int root = 0;
      while (parent[static_cast<std::size_t>(root)] >= 0) ++root;
      const int H = height[static_cast<std::size_t>(root)];
      height_root = std::max(height_root, H);
      for (int r = 0; r < n; ++r) {
        const int up = parent[static_cast<std::size_t>(r)];
        if (up < 0) continue;
        const auto tag = static_cast<std::uint64_t>(tree);
        max_depth = std::max(max_depth, depth[static_cast<std::size_t>(r)]);
        for (int m = 0; m < k; ++m) {
          // Reduce: r sends chunk m up once its subtree's chunk m arrived.
          const auto t_up = static_cast<std::size_t>(m + height[static_cast<std::size_t>(r)]);
          add_flow(plan, t_up, g[static_cast<std::size_t>(r)], g[static_cast<std::size_t>(up)],
                   chunk, tag);
          // Broadcast: the parent at depth d-1 forwards chunk m after the root has it.
          const auto t_down =
              static_cast<std::size_t>(m + H + depth[static_cast<std::size_t>(r)] - 1);
          add_flow(plan, t_down, g[static_cast<std::size_t>(up)], g[static_cast<std::size_t>(r)],
                   chunk, tag);
          total_phases = std::max({total_phases, t_up + 1, t_down + 1});
        }
      }
    }
    // Latency: only the pipeline's fill (up) and drain (down) steps are exposed.
    for (std::size_t t = 0; t < total_phases; ++t) {
      const bool fill = t < static_cast<std::size_t>(height_root);
      const bool drain = t + static_cast<std::size_t>(max_depth) >= total_phases;
      phase_at(plan, t).steps = fill || drain ? 1 : 0;
    }
  }
}

void plan_hierarchical_all_reduce(collective_plan& plan, const topo::topology& topo,
                                  const group_list& groups, const collective_spec& spec) {
  if (spec.op != collective_op::all_reduce) bad("hierarchical supports all-reduce and all-to-all");
  for (const auto& g : groups) {
    const group_list nodes = by_node(topo, g);
    if (!uniform(nodes)) bad("hierarchical needs the same number of ranks on every node");
    const std::size_t L = nodes.front().size();
    const std::size_t N = nodes.size();
    const double Ld = static_cast<double>(L);
    // Intra-node reduce-scatter, inter-node all-reduce per position on S/L, intra all-gather.
    ring_steps(plan, nodes, static_cast<int>(L) - 1, spec.bytes / Ld, 0);
    group_list across(L);
    for (std::size_t j = 0; j < L; ++j) {
      for (const auto& m : nodes) across[j].push_back(m[j]);
    }
    const std::size_t inter = 2 * (N - 1);
    ring_steps(plan, across, static_cast<int>(inter), spec.bytes / Ld / static_cast<double>(N),
               L - 1);
    ring_steps(plan, nodes, static_cast<int>(L) - 1, spec.bytes / Ld, L - 1 + inter);
  }
}

// The two-stage pipeline of DeepEP's normal kernels: `first` flows (e.g. RDMA), then `second`
// (e.g. NVLink fan-out), in `chunks` chunks; stage two of chunk c overlaps stage one of c+1.
// Three phases: the fill (stage one of the first chunk), the steady state (both stages of the
// other chunks at once) and the drain (stage two of the last chunk). Finer phases would charge
// the wire latency once per chunk, which the real pipeline overlaps.
void pipeline(collective_plan& plan, const std::vector<flow_request>& first,
              const std::vector<flow_request>& second, int chunks) {
  const double f = 1.0 / chunks;
  const std::size_t base = plan.phases.size();
  for (const auto& r : first) {
    add_flow(plan, base, r.src, r.dst, r.bytes * f, r.tag);
    add_flow(plan, base + 1, r.src, r.dst, r.bytes * (1 - f), r.tag);
  }
  for (const auto& r : second) {
    add_flow(plan, base + 1, r.src, r.dst, r.bytes * (1 - f), r.tag);
    add_flow(plan, base + 2, r.src, r.dst, r.bytes * f, r.tag);
  }
  for (std::size_t i = base; i < plan.phases.size(); ++i) plan.phases[i].steps = 1;
}

struct rank_layout {
  std::vector<int> node;      // [rank] node index among the ranks' nodes
  std::vector<int> position;  // [rank] index among the ranks of its node
  group_list members;         // [node] ranks
};

rank_layout layout_of(const topo::topology& topo, int n) {
  std::vector<device_id> all(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) all[static_cast<std::size_t>(i)] = i;
  rank_layout l;
  l.members = by_node(topo, all);
  l.node.resize(static_cast<std::size_t>(n));
  l.position.resize(static_cast<std::size_t>(n));
  for (std::size_t k = 0; k < l.members.size(); ++k) {
    for (std::size_t j = 0; j < l.members[k].size(); ++j) {
      l.node[static_cast<std::size_t>(l.members[k][j])] = static_cast<int>(k);
      l.position[static_cast<std::size_t>(l.members[k][j])] = static_cast<int>(j);
    }
  }
  return l;
}

// Hierarchical exchange: rdma[s][node] bytes to the same-position GPU of that node, then
// nvl[f][d] inside the node. `reverse` runs it backwards (combine).
void plan_two_stage(collective_plan& plan, const rank_layout& l, std::span<const double> rdma,
                    std::span<const double> nvl, int chunks, bool reverse) {
  const auto n = l.node.size();
  const auto nodes = l.members.size();
  auto fwd = [&](std::size_t s, std::size_t node) -> device_id {
    const auto& m = l.members[node];
    const auto p = static_cast<std::size_t>(l.position[s]);
    if (p >= m.size()) {
      bad("hierarchical: node " + std::to_string(node) + " has no rank at position " +
          std::to_string(p) + " to forward to (ranks per node differ)");
    }
    return m[p];
  };
  std::vector<flow_request> rdma_flows;
  std::vector<flow_request> nvl_flows;
  for (std::size_t s = 0; s < n; ++s) {
    for (std::size_t k = 0; k < nodes; ++k) {
      const double b = rdma[s * nodes + k];
      if (b <= 0 || static_cast<int>(k) == l.node[s]) continue;
      const device_id f = fwd(s, k);
      rdma_flows.push_back(reverse ? flow_request{f, static_cast<device_id>(s), b, 0}
                                   : flow_request{static_cast<device_id>(s), f, b, 0});
    }
  }
  for (std::size_t f = 0; f < n; ++f) {
    for (std::size_t d = 0; d < n; ++d) {
      const double b = nvl[f * n + d];
      if (b <= 0 || f == d) continue;
      nvl_flows.push_back(
          reverse ? flow_request{static_cast<device_id>(d), static_cast<device_id>(f), b, 0}
                  : flow_request{static_cast<device_id>(f), static_cast<device_id>(d), b, 0});
    }
  }
  if (reverse) {
    pipeline(plan, nvl_flows, rdma_flows, chunks);
  } else {
    pipeline(plan, rdma_flows, nvl_flows, chunks);
  }
}

// Uniform or -v all-to-all, hierarchical: the rdma and nvl matrices from per-pair bytes.
void plan_hierarchical_a2a(collective_plan& plan, const topo::topology& topo,
                           std::span<const double> bytes, int n, int chunks) {
  if (topo.family != topo::topology_family::switched)
    bad("hierarchical all-to-all needs an NVSwitch cluster");
  const rank_layout l = layout_of(topo, n);
  const auto nodes = l.members.size();
  const auto un = static_cast<std::size_t>(n);
  std::vector<double> rdma(un * nodes, 0.0);
  std::vector<double> nvl(un * un, 0.0);
  for (std::size_t s = 0; s < un; ++s) {
    for (std::size_t d = 0; d < un; ++d) {
      const double b = bytes[s * un + d];
      if (s == d || b <= 0) continue;
      const auto nd = static_cast<std::size_t>(l.node[d]);
      if (l.node[s] == l.node[d]) {
        nvl[s * un + d] += b;
        continue;
      }
      rdma[s * nodes + nd] += b;
      const auto& m = l.members[nd];
      const auto p = static_cast<std::size_t>(l.position[s]);
      if (p >= m.size()) bad("hierarchical all-to-all needs the same number of ranks per node");
      nvl[static_cast<std::size_t>(m[p]) * un + d] += b;
    }
  }
  plan_two_stage(plan, l, rdma, nvl, chunks, false);
}

void plan_torus(collective_plan& plan, const topo::topology& topo, const group_list& groups,
                const std::vector<int>& axes, const collective_spec& spec) {
  if (topo.family != topo::topology_family::torus) bad("torus needs a torus (TPU) cluster");
  if (axes.empty())
    bad("torus: the groups are not whole sub-tori of one slice (every coordinate of some axes, "
        "the others fixed); pass --axes, the chips of one slice, or such groups");
  if (spec.op == collective_op::all_to_all) {
    plan_direct(plan, topo, groups, spec.bytes);
    return;
  }
  detail::plan_torus_reduction(plan, topo, groups, axes, spec.op, spec.bytes);
}

struct resolved_groups {
  group_list groups;
  std::vector<int> axes;  // the torus axes the groups span, empty when they are not sub-tori
};

resolved_groups make_groups(const topo::topology& topo, const collective_spec& spec) {
  resolved_groups r;
  const int devices = topo.device_count();
  if (!spec.groups.empty()) {
    if (!spec.axes.empty() || spec.ranks != 0) bad("give groups, axes or ranks, not several");
    for (const auto& g : spec.groups) {
      if (g.empty() || g.size() != spec.groups.front().size())
        bad("groups must be non-empty and of equal size");
      for (device_id d : g) {
        if (d < 0 || d >= devices)
          bad("group member " + std::to_string(d) + " out of range: the cluster has " +
              std::to_string(devices) + " devices");
      }
    }
    r.groups = spec.groups;
    r.axes = detail::sub_torus_axes(topo, r.groups).value_or(std::vector<int>{});
    return r;
  }
  if (!spec.axes.empty()) {
    if (topo.family != topo::topology_family::torus) bad("axes apply to torus (TPU) clusters only");
    if (spec.ranks != 0) bad("give either ranks or axes, not both");
    for (const auto& slice : topo.slices) {
      for (int a : spec.axes) {
        if (a < 0 || a >= slice.axes())
          bad("axis " + std::to_string(a) + " out of range for a " + std::to_string(slice.axes()) +
              "-axis torus");
        if (std::count(spec.axes.begin(), spec.axes.end(), a) > 1)
          bad("axis " + std::to_string(a) + " listed twice");
      }
      // One group per combination of the other coordinates; members by coordinates on axes,
      // the first listed axis fastest.
      std::map<std::vector<int>, std::size_t> index;
      std::vector<std::pair<std::vector<int>, device_id>> keyed;
      const std::size_t first_group = r.groups.size();
      for (int l = 0; l < slice.device_count; ++l) {
        std::vector<int> rest = slice.coords(l);
        std::vector<int> inner;
        for (auto it = spec.axes.rbegin(); it != spec.axes.rend(); ++it) {
          inner.push_back(rest[static_cast<std::size_t>(*it)]);
          rest[static_cast<std::size_t>(*it)] = -1;
        }
        const auto g = index.emplace(rest, first_group + index.size()).first->second;
        inner.insert(inner.begin(), static_cast<int>(g));
        keyed.emplace_back(std::move(inner), slice.first_device + l);
      }
      r.groups.resize(first_group + index.size());
      std::sort(keyed.begin(), keyed.end());
      for (const auto& [key, d] : keyed)
        r.groups[static_cast<std::size_t>(key.front())].push_back(d);
    }
    r.axes = spec.axes;
    return r;
  }
  const int n = spec.ranks == 0 ? devices : spec.ranks;
  if (n < 1 || n > devices)
    bad("ranks " + std::to_string(spec.ranks) + " out of range: the cluster has " +
        std::to_string(devices) + " devices");
  std::vector<device_id> g(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) g[static_cast<std::size_t>(i)] = i;
  r.groups.push_back(std::move(g));
  r.axes = detail::sub_torus_axes(topo, r.groups).value_or(std::vector<int>{});
  return r;
}

collective_plan plan_with(const topo::topology& topo, const collective_params& params,
                          const collective_spec& spec, const resolved_groups& rg,
                          collective_algorithm a) {
  collective_plan plan;
  plan.algorithm = a;
  plan.groups = static_cast<int>(rg.groups.size());
  plan.ranks_per_group = static_cast<int>(rg.groups.front().size());
  plan.all_reduce = spec.op == collective_op::all_reduce;
  const bool a2a = spec.op == collective_op::all_to_all;
  switch (a) {
    case collective_algorithm::ring:
      if (a2a) bad("ring does not do all-to-all; use direct or hierarchical");
      plan_ring(plan, topo, rg.groups, spec);
      break;
    case collective_algorithm::tree:
      plan_tree(plan, topo, rg.groups, spec);
      break;
    case collective_algorithm::nvls:
      if (spec.op != collective_op::all_reduce) bad("nvls supports all-reduce only");
      plan_nvls(plan, topo, params, rg.groups, spec.bytes);
      break;
    case collective_algorithm::direct:
      if (!a2a) bad("direct is an all-to-all algorithm");
      plan_direct(plan, topo, rg.groups, spec.bytes);
      break;
    case collective_algorithm::hierarchical:
      if (topo.family != topo::topology_family::switched)
        bad("hierarchical needs an NVSwitch cluster");
      if (a2a) {
        if (rg.groups.size() != 1) bad("hierarchical all-to-all runs over one group of ranks");
        const int n = plan.ranks_per_group;
        std::vector<double> m(static_cast<std::size_t>(n) * static_cast<std::size_t>(n),
                              spec.bytes / n);
        plan_hierarchical_a2a(plan, topo, m, n, spec.pipeline_chunks);
      } else {
        plan_hierarchical_all_reduce(plan, topo, rg.groups, spec);
      }
      break;
    case collective_algorithm::torus:
      plan_torus(plan, topo, rg.groups, rg.axes, spec);
      break;
    case collective_algorithm::automatic:
      assert(false);
      break;
  }
  finalize(plan, topo);
  return plan;
}

}  // namespace

std::string_view to_string(collective_op op) noexcept {
  return op_names[static_cast<std::size_t>(op)];
}
std::string_view to_string(collective_algorithm a) noexcept {
  return algorithm_names[static_cast<std::size_t>(a)];
}

collective_op parse_collective_op(std::string_view text) {
  for (std::size_t i = 0; i < std::size(op_names); ++i) {
    if (text == op_names[i]) return static_cast<collective_op>(i);
  }
  bad("unknown collective '" + std::string(text) +
      "': expected all-reduce, all-gather, reduce-scatter or all-to-all");
}

collective_algorithm parse_collective_algorithm(std::string_view text) {
  for (std::size_t i = 0; i < std::size(algorithm_names); ++i) {
    if (text == algorithm_names[i]) return static_cast<collective_algorithm>(i);
  }
  bad("unknown algorithm '" + std::string(text) +
      "': expected auto, ring, tree, nvls, direct, hierarchical or torus");
}

double bus_bandwidth_factor(collective_op op, int ranks) noexcept {
  if (ranks < 2) return 0;
  const double n = ranks;
  return op == collective_op::all_reduce ? 2 * (n - 1) / n : (n - 1) / n;
}

void finalize(collective_plan& plan, const topo::topology& topo) {
  const topo::router router(topo);
  topo::path path;
  for (auto& ph : plan.phases) {
    ph.wire_latency_ps = 0;
    ph.scale_out = false;
    if (!ph.exchange_ranks.empty()) {
      const auto slice = whole_torus_slice(topo, ph.exchange_ranks);
      if (!slice) bad("an implicit all-to-all phase must span one whole torus slice");
      ph.wire_latency_ps = all_to_all_max_latency_on_torus(topo, *slice);  // ICI only
    }
    for (const auto& f : ph.flows) {
      router.route_into(f.src, f.dst, f.tag, path);
      time_ps lat = 0;
      for (auto l : path) {
        const auto& link = topo.link(l);
        lat += link.latency_ps;
        if (link.kind == topo::link_kind::ib || link.kind == topo::link_kind::dcn) {
          ph.scale_out = true;
        }
      }
      ph.wire_latency_ps = std::max(ph.wire_latency_ps, lat);
    }
  }
}

collective_plan plan_collective(const topo::topology& topo, const collective_params& params,
                                const collective_spec& spec) {
  if (!(spec.bytes >= 0))
    bad("collective size must be >= 0 bytes, got " + std::to_string(spec.bytes));
  if (spec.pipeline_chunks < 1) bad("pipeline_chunks must be >= 1");
  const resolved_groups rg = make_groups(topo, spec);
  if (spec.algorithm != collective_algorithm::automatic) {
    return plan_with(topo, params, spec, rg, spec.algorithm);
  }
  if (spec.op == collective_op::all_to_all) {
    return plan_with(topo, params, spec, rg, collective_algorithm::direct);
  }
  if (topo.family == topo::topology_family::torus) {
    return plan_with(topo, params, spec, rg,
                     rg.axes.empty() ? collective_algorithm::ring : collective_algorithm::torus);
  }
  if (spec.op != collective_op::all_reduce) {
    return plan_with(topo, params, spec, rg, collective_algorithm::ring);
  }
  // All-reduce on GPUs: NCCL's tuner takes the fastest enabled algorithm by its cost model.
  std::vector<collective_algorithm> candidates{collective_algorithm::ring};
  const bool multi_node = std::any_of(rg.groups.begin(), rg.groups.end(),
                                      [&](const auto& g) { return by_node(topo, g).size() > 1; });
  // NCCL's trees join the same number of ranks per node; with uneven nodes only the ring runs.
  const bool even = std::all_of(rg.groups.begin(), rg.groups.end(),
                                [&](const auto& g) { return uniform(by_node(topo, g)); });
  if (multi_node && even) candidates.push_back(collective_algorithm::tree);
  if (!multi_node && params.nvls_efficiency > 0) candidates.push_back(collective_algorithm::nvls);
  collective_plan best;
  time_ps best_t = time_max;
  for (auto a : candidates) {
    collective_plan p = plan_with(topo, params, spec, rg, a);
    const time_ps t = time_collective(topo, params, p, timing_model::analytical).elapsed_ps;
    if (t < best_t) {
      best_t = t;
      best = std::move(p);
    }
  }
  return best;
}

collective_plan plan_send_recv(const topo::topology& topo, device_id src, device_id dst,
                               double bytes) {
  const int n = topo.device_count();
  if (src < 0 || src >= n || dst < 0 || dst >= n)
    bad("send/recv: devices " + std::to_string(src) + " -> " + std::to_string(dst) +
        " out of range [0, " + std::to_string(n) + ")");
  if (!(bytes >= 0)) bad("send/recv: bytes must be >= 0");
  collective_plan plan;
  plan.algorithm = collective_algorithm::direct;
  plan.groups = 1;
  plan.ranks_per_group = 2;
  add_flow(plan, 0, src, dst, bytes);
  finalize(plan, topo);
  return plan;
}

collective_plan plan_all_to_all_v(const topo::topology& topo, std::span<const double> bytes, int n,
                                  collective_algorithm algorithm, int pipeline_chunks) {
  if (n < 1 || n > topo.device_count())
    bad("all-to-all-v: " + std::to_string(n) + " ranks on " + std::to_string(topo.device_count()) +
        " devices");
  if (bytes.size() != static_cast<std::size_t>(n) * static_cast<std::size_t>(n))
    bad("all-to-all-v: " + std::to_string(bytes.size()) + " sizes for " + std::to_string(n) +
        " ranks (expected n*n)");
  if (pipeline_chunks < 1) bad("pipeline_chunks must be >= 1");
  collective_plan plan;
  plan.groups = 1;
  plan.ranks_per_group = n;
  if (algorithm == collective_algorithm::hierarchical) {
    plan.algorithm = algorithm;
    plan_hierarchical_a2a(plan, topo, bytes, n, pipeline_chunks);
  } else if (algorithm == collective_algorithm::direct ||
             algorithm == collective_algorithm::automatic) {
    plan.algorithm = collective_algorithm::direct;
    const auto un = static_cast<std::size_t>(n);
    for (std::size_t s = 0; s < un; ++s) {
      for (std::size_t d = 0; d < un; ++d) {
        add_flow(plan, 0, static_cast<device_id>(s), static_cast<device_id>(d), bytes[s * un + d]);
      }
    }
  } else {
    bad("all-to-all-v: algorithm must be direct or hierarchical, got " +
        std::string(to_string(algorithm)));
  }
  finalize(plan, topo);
  return plan;
}

collective_plan plan_expert_exchange(const topo::topology& topo, const expert_traffic& t,
                                     ep_mode mode, double bytes_per_token, bool combine,
                                     int pipeline_chunks) {
  const auto n = static_cast<std::size_t>(t.ranks);
  const auto nodes = static_cast<std::size_t>(t.nodes);
  if (t.ranks < 1 || t.ranks > topo.device_count())
    bad("expert exchange: " + std::to_string(t.ranks) + " ranks on " +
        std::to_string(topo.device_count()) + " devices");
  if (t.pair_tokens.size() != n * n || t.copies.size() != n * n ||
      t.node_tokens.size() != n * nodes)
    bad("expert exchange: traffic matrices do not match " + std::to_string(n) + " ranks and " +
        std::to_string(nodes) + " nodes");
  if (!(bytes_per_token >= 0)) bad("expert exchange: bytes per token must be >= 0");
  if (pipeline_chunks < 1) bad("pipeline_chunks must be >= 1");
  collective_plan plan;
  plan.groups = 1;
  plan.ranks_per_group = t.ranks;
  const rank_layout l = layout_of(topo, t.ranks);
  if (l.members.size() != nodes)
    bad("expert exchange: the ranks span " + std::to_string(l.members.size()) +
        " nodes, the traffic " + std::to_string(nodes));
  auto direct = [&](const std::vector<double>& counts) {
    for (std::size_t s = 0; s < n; ++s) {
      for (std::size_t d = 0; d < n; ++d) {
        const auto a = static_cast<device_id>(combine ? d : s);
        const auto b = static_cast<device_id>(combine ? s : d);
        add_flow(plan, 0, a, b, counts[s * n + d] * bytes_per_token);
      }
    }
  };
  if (mode == ep_mode::low_latency) {
    plan.algorithm = collective_algorithm::direct;
    direct(t.copies);
  } else if (nodes == 1) {
    plan.algorithm = collective_algorithm::direct;
    direct(t.pair_tokens);
  } else {
    if (topo.family != topo::topology_family::switched)
      bad("normal (hierarchical) expert exchange needs an NVSwitch cluster");
    plan.algorithm = collective_algorithm::hierarchical;
    std::vector<double> rdma(n * nodes);
    std::vector<double> nvl(n * n, 0.0);
    for (std::size_t i = 0; i < rdma.size(); ++i) rdma[i] = t.node_tokens[i] * bytes_per_token;
    for (std::size_t s = 0; s < n; ++s) {
      for (std::size_t d = 0; d < n; ++d) {
        const double b = t.pair_tokens[s * n + d] * bytes_per_token;
        if (b <= 0) continue;
        std::size_t f = s;  // own node: straight over NVLink
        if (l.node[s] != l.node[d]) {
          const auto& m = l.members[static_cast<std::size_t>(l.node[d])];
          const auto p = static_cast<std::size_t>(l.position[s]);
          if (p >= m.size()) bad("normal expert exchange needs the same number of ranks per node");
          f = static_cast<std::size_t>(m[p]);
        }
        nvl[f * n + d] += b;
      }
    }
    plan_two_stage(plan, l, rdma, nvl, pipeline_chunks, combine);
  }
  finalize(plan, topo);
  return plan;
}

}  // namespace moesim::sim::net
