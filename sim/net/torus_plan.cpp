#include "sim/net/torus_plan.hpp"

#include <algorithm>
#include <cassert>
#include <cstdint>

#include "topologies/torus.hpp"

namespace moesim::sim::net::detail {

namespace {

using topo::device_id;

void add(collective_plan& plan, std::size_t phase, device_id src, device_id dst, double bytes,
         std::uint64_t tag) {
  if (src == dst || bytes <= 0) return;
  if (plan.phases.size() <= phase) plan.phases.resize(phase + 1);
  plan.phases[phase].flows.push_back({src, dst, bytes, tag});
}

const topo::torus_slice& slice_of(const topo::topology& topo, device_id d) {
  return topo.slices[static_cast<std::size_t>(topo.devices[static_cast<std::size_t>(d)].group)];
}

// One part's ring over one axis, for every group, as the one phase `phase`: the ring's X - 1
// steps pipelined (every link carries what its steps would, and the phase pays X - 1 hops of
// latency). `cur` is the part's per-rank data entering a reduce-scatter stage or leaving an
// all-gather stage.
void axis_stage(collective_plan& plan, const topo::topology& topo,
                std::span<const std::vector<device_id>> groups, int axis, double cur, bool gather,
                std::size_t phase) {
  const auto a = static_cast<std::size_t>(axis);
  for (const auto& g : groups) {
    const auto& slice = slice_of(topo, g.front());
    const int X = slice.dims[a];
    if (X < 2) continue;
    if (plan.phases.size() <= phase) plan.phases.resize(phase + 1);
    plan.phases[phase].hops = std::max(plan.phases[phase].hops, X - 1);
    const double shard = cur / X;
    for (device_id d : g) {
      if (topo::device_coords(topo, d)[a] != 0) continue;
      const auto line = topo::devices_along_axis(topo, d, axis);
      const auto at_line = [&](int i) { return line[static_cast<std::size_t>((i + X) % X)]; };
      for (int i = 0; i < X; ++i) {
        if (slice.wraps[a]) {  // bidirectional ring: half of every chunk each way, every step
          add(plan, phase, at_line(i), at_line(i + 1), (X - 1) * shard / 2, 0);
          add(plan, phase, at_line(i), at_line(i - 1), (X - 1) * shard / 2, 1);
          continue;
        }
        // Mesh: a rightward and a leftward chain in which only the chips holding data send.
        // Reduce-scatter: chip i sends right X-1-i times, left i times; all-gather: i+1, X-i.
        const int right = gather ? i + 1 : X - 1 - i;
        const int left = gather ? X - i : i;
        if (i < X - 1) add(plan, phase, at_line(i), at_line(i + 1), right * shard, 0);
        if (i > 0) add(plan, phase, at_line(i), at_line(i - 1), left * shard, 0);
      }
    }
  }
}

}  // namespace

std::optional<std::vector<int>> sub_torus_axes(const topo::topology& topo,
                                               std::span<const std::vector<device_id>> groups) {
  if (topo.family != topo::topology_family::torus || groups.empty()) return std::nullopt;
  std::optional<std::vector<int>> common;
  std::vector<std::int32_t> locals;
  for (const auto& g : groups) {
    if (g.empty()) return std::nullopt;
    for (device_id d : g) {
      if (d < 0 || d >= topo.device_count()) return std::nullopt;
    }
    const int s = topo.devices[static_cast<std::size_t>(g.front())].group;
    if (s < 0) return std::nullopt;
    const auto& slice = topo.slices[static_cast<std::size_t>(s)];
    const std::vector<int> first = slice.coords(g.front() - slice.first_device);
    std::vector<bool> varies(first.size(), false);
    locals.clear();
    for (device_id d : g) {
      if (topo.devices[static_cast<std::size_t>(d)].group != s) return std::nullopt;
      locals.push_back(d - slice.first_device);
      const std::vector<int> c = slice.coords(locals.back());
      for (std::size_t a = 0; a < c.size(); ++a) varies[a] = varies[a] || c[a] != first[a];
    }
    std::sort(locals.begin(), locals.end());
    if (std::adjacent_find(locals.begin(), locals.end()) != locals.end()) return std::nullopt;
    // Distinct members inside the box the varying axes span: they fill it iff they are as many.
    std::vector<int> axes;
    std::size_t box = 1;
    for (std::size_t a = 0; a < varies.size(); ++a) {
      if (!varies[a]) continue;
      axes.push_back(static_cast<int>(a));
      box *= static_cast<std::size_t>(slice.dims[a]);
    }
    if (axes.empty() || box != g.size() || (common && *common != axes)) return std::nullopt;
    common = std::move(axes);
  }
  return common;
}

void plan_torus_reduction(collective_plan& plan, const topo::topology& topo,
                          std::span<const std::vector<device_id>> groups, std::span<const int> axes,
                          collective_op op, double bytes) {
  assert(op != collective_op::all_to_all);
  if (groups.empty()) return;
  const auto& slice = slice_of(topo, groups.front().front());
  const auto size = [&](int a) { return slice.dims[static_cast<std::size_t>(a)]; };
  std::vector<int> live;
  double ranks = 1;
  for (int a : axes) {
    if (size(a) < 2) continue;
    live.push_back(a);
    ranks *= size(a);
  }
  const std::size_t m = live.size();
  for (std::size_t p = 0; p < m; ++p) {
    std::vector<int> order;  // part p's reduce-scatter order: the axes rotated by p
    for (std::size_t i = 0; i < m; ++i) order.push_back(live[(p + i) % m]);
    double cur = bytes / static_cast<double>(m);
    if (op == collective_op::all_gather) cur /= ranks;
    std::size_t stage = 0;
    if (op != collective_op::all_gather) {  // reduce-scatter stages, data shrinking
      for (int a : order) {
        axis_stage(plan, topo, groups, a, cur, false, stage++);
        cur /= size(a);
      }
    }
    if (op != collective_op::reduce_scatter) {  // all-gather stages, data growing
      for (auto it = order.rbegin(); it != order.rend(); ++it) {
        cur *= size(*it);
        axis_stage(plan, topo, groups, *it, cur, true, stage++);
      }
    }
  }
}

}  // namespace moesim::sim::net::detail
