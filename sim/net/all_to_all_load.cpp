#include "sim/net/all_to_all_load.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "topologies/routing.hpp"

namespace moesim::sim::net {

namespace {

using topo::device_id;

void check_inputs(const topo::topology& topo, std::span<const double> capacity, double bytes) {
  if (capacity.size() != static_cast<std::size_t>(topo.link_count())) {
    throw std::invalid_argument("all-to-all load: " + std::to_string(capacity.size()) +
                                " capacities for " + std::to_string(topo.link_count()) + " links");
  }
  if (!(bytes >= 0.0)) {
    throw std::invalid_argument("all-to-all load: bytes per pair must be >= 0, got " +
                                std::to_string(bytes));
  }
}

const topo::torus_slice& slice_at(const topo::topology& topo, int slice) {
  if (topo.family != topo::topology_family::torus || slice < 0 ||
      static_cast<std::size_t>(slice) >= topo.slices.size()) {
    throw std::invalid_argument("all-to-all load: slice " + std::to_string(slice) +
                                " is not a torus slice of " + topo.label);
  }
  return topo.slices[static_cast<std::size_t>(slice)];
}

// One axis of a slice seen along the line through the origin (all other coordinates 0): the
// 1-D routes of every pair, found by the router itself so that its tie and wrap rules hold.
struct axis_line {
  int k = 1;
  std::int32_t stride = 1;
  std::vector<topo::link_id> links;             // [2i + dir]: leaving i towards + (0) / - (1)
  std::vector<std::vector<std::size_t>> route;  // [s*k + t]: indices into links
  std::vector<time_ps> latency;                 // [s*k + t]
  std::vector<std::int64_t> crossings;          // [2i + dir]: 1-D pairs crossing that link
  time_ps max_latency = 0;
};

axis_line line_of(const topo::topology& topo, const topo::torus_slice& slice, int axis) {
  axis_line a;
  a.k = slice.dims[static_cast<std::size_t>(axis)];
  for (int b = 0; b < axis; ++b) a.stride *= slice.dims[static_cast<std::size_t>(b)];
  const auto k = static_cast<std::size_t>(a.k);
  for (std::size_t i = 0; i < k; ++i) {
    const auto local = static_cast<std::int32_t>(i) * a.stride;
    a.links.push_back(slice.neighbour_link(local, axis, false));
    a.links.push_back(slice.neighbour_link(local, axis, true));
  }
  a.route.resize(k * k);
  a.latency.assign(k * k, 0);
  a.crossings.assign(2 * k, 0);
  const topo::router router(topo);
  topo::path path;
  for (std::size_t s = 0; s < k; ++s) {
    for (std::size_t t = 0; t < k; ++t) {
      if (s == t) continue;
      router.route_into(slice.first_device + static_cast<device_id>(s) * a.stride,
                        slice.first_device + static_cast<device_id>(t) * a.stride, 0, path);
      for (const auto l : path) {
        const auto it = std::find(a.links.begin(), a.links.end(), l);
        if (it == a.links.end() || l == topo::none) {
          throw std::logic_error("all-to-all load: a 1-D torus route left its axis");
        }
        const auto j = static_cast<std::size_t>(it - a.links.begin());
        a.route[s * k + t].push_back(j);
        ++a.crossings[j];
        a.latency[s * k + t] += topo.link(l).latency_ps;
      }
      a.max_latency = std::max(a.max_latency, a.latency[s * k + t]);
    }
  }
  return a;
}

}  // namespace

std::optional<int> whole_torus_slice(const topo::topology& topo, std::span<const device_id> ranks) {
  if (topo.family != topo::topology_family::torus || ranks.empty()) return std::nullopt;
  const auto n = topo.device_count();
  if (ranks.front() < 0 || ranks.front() >= n) return std::nullopt;
  const int s = topo.devices[static_cast<std::size_t>(ranks.front())].group;
  const auto& slice = topo.slices[static_cast<std::size_t>(s)];
  if (static_cast<std::size_t>(slice.device_count) != ranks.size()) return std::nullopt;
  std::vector<bool> seen(ranks.size(), false);
  for (const device_id d : ranks) {
    const auto local = static_cast<std::int64_t>(d) - slice.first_device;
    if (local < 0 || local >= slice.device_count || seen[static_cast<std::size_t>(local)]) {
      return std::nullopt;
    }
    seen[static_cast<std::size_t>(local)] = true;
  }
  return s;
}

all_to_all_estimate all_to_all_streamed(const topo::topology& topo,
                                        std::span<const double> capacity,
                                        std::span<const device_id> ranks, double bytes_per_pair) {
  check_inputs(topo, capacity, bytes_per_pair);
  all_to_all_estimate out{link_load(capacity), 0, 0};
  const topo::router router(topo);
  topo::path path;
  std::vector<link_id> solver_path;
  // Pass 1 charges the links, pass 2 times every flow against the totals: routing twice keeps
  // memory at O(links) for any number of pairs.
  for (const device_id s : ranks) {
    for (const device_id d : ranks) {
      if (s == d) continue;
      router.route_into(s, d, 0, path);
      solver_path.clear();
      for (const auto l : path) solver_path.push_back(detail::to_solver(l));
      out.link_bytes.add(solver_path, bytes_per_pair);
    }
  }
  const auto totals = out.link_bytes.bytes_per_link();
  for (const device_id s : ranks) {
    for (const device_id d : ranks) {
      if (s == d) continue;
      router.route_into(s, d, 0, path);
      double worst_s = 0;
      time_ps latency = 0;
      for (const auto l : path) {
        const auto i = static_cast<std::size_t>(l);
        worst_s = std::max(worst_s, totals[i] / capacity[i]);
        latency += topo.link(l).latency_ps;
      }
      out.finish_ps = std::max(out.finish_ps, ps_from_seconds(worst_s) + latency);
      out.max_latency_ps = std::max(out.max_latency_ps, latency);
    }
  }
  return out;
}

all_to_all_estimate all_to_all_on_torus(const topo::topology& topo,
                                        std::span<const double> capacity, int slice_index,
                                        double bytes_per_pair) {
  check_inputs(topo, capacity, bytes_per_pair);
  const auto& slice = slice_at(topo, slice_index);
  const std::int64_t n = slice.device_count;
  std::vector<double> bytes(capacity.size(), 0.0);
  all_to_all_estimate out{link_load(capacity), 0, 0};
  struct axis_result {
    time_ps best = 0;  // max over 1-D pairs of ps(worst link time) + latency
    time_ps max_latency = 0;
  };
  std::vector<axis_result> per_axis;
  for (int axis = 0; axis < slice.axes(); ++axis) {
    if (slice.dims[static_cast<std::size_t>(axis)] < 2) continue;
    const axis_line a = line_of(topo, slice, axis);
    const auto k = static_cast<std::size_t>(a.k);
    // Bytes on the link at 1-D position j, whatever the other coordinates (file comment).
    std::vector<double> position_bytes(2 * k);
    const std::int64_t lines = n / a.k;  // lines along this axis: exact, k divides the slice
    for (std::size_t j = 0; j < 2 * k; ++j) {
      position_bytes[j] = static_cast<double>(a.crossings[j] * lines) * bytes_per_pair;
    }
    for (std::int32_t local = 0; local < slice.device_count; ++local) {
      const auto i = static_cast<std::size_t>((local / a.stride) % a.k);
      for (const bool negative : {false, true}) {
        const auto l = slice.neighbour_link(local, axis, negative);
        if (l == topo::none) continue;
        bytes[static_cast<std::size_t>(l)] = position_bytes[2 * i + (negative ? 1 : 0)];
      }
    }
    axis_result r;
    r.max_latency = a.max_latency;
    for (std::size_t p = 0; p < k * k; ++p) {
      if (a.route[p].empty()) continue;
      double worst_s = 0;
      for (const std::size_t j : a.route[p]) {
        worst_s =
            std::max(worst_s, position_bytes[j] / capacity[static_cast<std::size_t>(a.links[j])]);
      }
      r.best = std::max(r.best, ps_from_seconds(worst_s) + a.latency[p]);
    }
    per_axis.push_back(r);
  }
  time_ps latency_sum = 0;
  for (const auto& r : per_axis) latency_sum += r.max_latency;
  for (const auto& r : per_axis) {
    out.finish_ps = std::max(out.finish_ps, r.best + latency_sum - r.max_latency);
  }
  out.max_latency_ps = latency_sum;
  for (std::size_t l = 0; l < bytes.size(); ++l) {
    if (bytes[l] == 0.0) continue;
    const link_id one[] = {link_id{static_cast<std::uint32_t>(l)}};
    out.link_bytes.add(one, bytes[l]);
  }
  return out;
}

time_ps all_to_all_max_latency_on_torus(const topo::topology& topo, int slice_index) {
  const auto& slice = slice_at(topo, slice_index);
  time_ps sum = 0;
  for (int axis = 0; axis < slice.axes(); ++axis) {
    if (slice.dims[static_cast<std::size_t>(axis)] >= 2) {
      sum += line_of(topo, slice, axis).max_latency;
    }
  }
  return sum;
}

}  // namespace moesim::sim::net
