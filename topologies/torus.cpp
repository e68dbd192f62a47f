#include "topologies/torus.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace moesim::topo {

std::vector<bool> wraparound(const wrap_rule& rule, const std::vector<int>& dims) {
  std::vector<bool> wraps(dims.size());
  for (std::size_t a = 0; a < dims.size(); ++a) wraps[a] = rule.wraps(dims[a]);
  return wraps;
}

namespace {

void check(const torus_spec& spec) {
  const std::size_t n = spec.dims.size();
  if (n == 0) throw std::invalid_argument("torus: dims must have at least one axis");
  if (spec.wraps.size() != n || spec.axis_bytes_per_s.size() != n ||
      spec.axis_latency_ps.size() != n)
    throw std::invalid_argument("torus: wraps, axis_bytes_per_s and axis_latency_ps need " +
                                std::to_string(n) + " entries (one per axis), got " +
                                std::to_string(spec.wraps.size()) + ", " +
                                std::to_string(spec.axis_bytes_per_s.size()) + ", " +
                                std::to_string(spec.axis_latency_ps.size()));
  std::int64_t total = 1;
  for (std::size_t a = 0; a < n; ++a) {
    if (spec.dims[a] < 1)
      throw std::invalid_argument("torus: axis " + std::to_string(a) + " has size " +
                                  std::to_string(spec.dims[a]) + " (expected >= 1)");
    if (spec.dims[a] > 1 && !(spec.axis_bytes_per_s[a] > 0))
      throw std::invalid_argument("torus: axis " + std::to_string(a) +
                                  " bandwidth must be > 0 bytes/s");
    if (spec.axis_latency_ps[a] < 0)
      throw std::invalid_argument("torus: axis " + std::to_string(a) + " latency must be >= 0");
    total *= spec.dims[a];
    if (total > (std::int64_t{1} << 30)) throw std::invalid_argument("torus: too many devices");
  }
}

}  // namespace

int add_torus_slice(topology& topo, const torus_spec& spec) {
  check(spec);
  torus_slice slice;
  slice.dims = spec.dims;
  slice.wraps = spec.wraps;
  for (std::size_t a = 0; a < spec.dims.size(); ++a)
    if (spec.dims[a] < 2) slice.wraps[a] = false;
  slice.axis_bytes_per_s = spec.axis_bytes_per_s;
  slice.axis_latency_ps = spec.axis_latency_ps;
  slice.first_device = topo.device_count();
  slice.device_count = 1;
  for (int k : spec.dims) slice.device_count *= k;
  const auto slice_index = static_cast<std::int32_t>(topo.slices.size());

  topo.devices.resize(static_cast<std::size_t>(slice.first_device + slice.device_count));
  for (std::int32_t local = 0; local < slice.device_count; ++local) {
    const vertex_id v = topo.add_vertex(vertex_kind::device);
    topo.devices[static_cast<std::size_t>(v)].group = slice_index;
    topo.devices[static_cast<std::size_t>(v)].local = local;
  }

  const std::size_t axes = spec.dims.size();
  slice.neighbour_links.assign(static_cast<std::size_t>(slice.device_count) * 2 * axes, none);
  std::int32_t stride = 1;
  for (std::size_t a = 0; a < axes; ++a) {
    const int k = spec.dims[a];
    if (k >= 2) {
      for (std::int32_t local = 0; local < slice.device_count; ++local) {
        const int x = (local / stride) % k;
        const bool last = x == k - 1;
        if (last && !slice.wraps[a]) continue;
        const std::int32_t next = last ? local - (k - 1) * stride : local + stride;
        const link_id fwd =
            topo.add_duplex_link(slice.first_device + local, slice.first_device + next,
                                 link_kind::ici, spec.axis_bytes_per_s[a], spec.axis_latency_ps[a]);
        slice.neighbour_links[static_cast<std::size_t>(local) * 2 * axes + 2 * a] = fwd;
        slice.neighbour_links[static_cast<std::size_t>(next) * 2 * axes + 2 * a + 1] = fwd + 1;
      }
    }
    stride *= k;
  }
  topo.slices.push_back(std::move(slice));
  return slice_index;
}

topology build_torus(const torus_spec& spec) {
  topology topo;
  topo.family = topology_family::torus;
  topo.label = "torus " + format_shape(spec.dims);
  add_torus_slice(topo, spec);
  // On every axis the all-zero corner is at maximal distance from the far corner (mesh axes)
  // or all devices are equivalent (torus axes), so its eccentricity is the diameter.
  topo.eccentricity_sources = {0};
  return topo;
}

int torus_distance(const torus_slice& slice, std::int32_t local_a, std::int32_t local_b) {
  int hops = 0;
  for (std::size_t a = 0; a < slice.dims.size(); ++a) {
    const int k = slice.dims[a];
    const int d = std::abs(local_a % k - local_b % k);
    hops += slice.wraps[a] ? std::min(d, k - d) : d;
    local_a /= k;
    local_b /= k;
  }
  return hops;
}

namespace {

const torus_slice& slice_of(const topology& topo, device_id d) {
  if (d < 0 || d >= topo.device_count())
    throw std::invalid_argument("device " + std::to_string(d) + " out of range [0, " +
                                std::to_string(topo.device_count()) + ")");
  const auto group = topo.devices[static_cast<std::size_t>(d)].group;
  if (topo.family != topology_family::torus || group < 0)
    throw std::invalid_argument("device " + std::to_string(d) + " is not in a torus slice");
  return topo.slices[static_cast<std::size_t>(group)];
}

}  // namespace

std::vector<int> device_coords(const topology& topo, device_id d) {
  const torus_slice& slice = slice_of(topo, d);
  return slice.coords(d - slice.first_device);
}

std::vector<device_id> devices_along_axis(const topology& topo, device_id d, int axis) {
  const torus_slice& slice = slice_of(topo, d);
  if (axis < 0 || axis >= slice.axes())
    throw std::invalid_argument("axis " + std::to_string(axis) + " out of range for a " +
                                std::to_string(slice.axes()) + "-axis slice");
  std::vector<int> c = slice.coords(d - slice.first_device);
  std::vector<device_id> out;
  out.reserve(static_cast<std::size_t>(slice.dims[static_cast<std::size_t>(axis)]));
  for (int x = 0; x < slice.dims[static_cast<std::size_t>(axis)]; ++x) {
    c[static_cast<std::size_t>(axis)] = x;
    out.push_back(slice.first_device + slice.local_of(c));
  }
  return out;
}

}  // namespace moesim::topo
