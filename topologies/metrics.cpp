#include "topologies/metrics.hpp"

#include "topologies/graph.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <ostream>
#include <stdexcept>

// Boost.Graph's edge_iterator (used by the max-flow and write_graphviz) holds a
// boost::optional that GCC's -O3 flow analysis reports as maybe-uninitialized (a known false
// positive in Boost <= 1.81); silenced for these headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/graph/boykov_kolmogorov_max_flow.hpp>
#include <boost/graph/detail/adj_list_edge_iterator.hpp>
#include <boost/graph/graphviz.hpp>
#pragma GCC diagnostic pop

namespace moesim::topo {

std::vector<std::int32_t> hop_distances(const topology& topo, device_id src) {
  if (src < 0 || src >= topo.device_count())
    throw std::invalid_argument("hop_distances: device " + std::to_string(src) + " out of range");
  const graph_type& g = topo.graph().g;
  std::vector<std::int32_t> dist(static_cast<std::size_t>(topo.vertex_count()), -1);
  std::vector<vertex_id> queue;
  queue.reserve(dist.size());
  dist[static_cast<std::size_t>(src)] = 0;
  queue.push_back(src);
  // The chips of src's own torus slice are reached over ICI only, as the router does.
  const std::int32_t slice = topo.family == topology_family::torus
                                 ? topo.devices[static_cast<std::size_t>(src)].group
                                 : -1;
  const auto same_slice = [&](std::size_t w) {
    return slice >= 0 && w < static_cast<std::size_t>(topo.device_count()) &&
           topo.devices[w].group == slice;
  };
  for (std::size_t head = 0; head < queue.size(); ++head) {
    const vertex_id v = queue[head];
    if (v != src && topo.vertex(v).kind == vertex_kind::host) continue;  // not a relay
    for (auto [e, end] = boost::out_edges(static_cast<std::size_t>(v), g); e != end; ++e) {
      const auto w = boost::target(*e, g);
      if (same_slice(w) && topo.link(g[*e].id).kind != link_kind::ici) continue;
      if (dist[w] < 0) {
        dist[w] = dist[static_cast<std::size_t>(v)] + 1;
        queue.push_back(static_cast<vertex_id>(w));
      }
    }
  }
  return dist;
}

std::int32_t diameter_from(const topology& topo, std::span<const device_id> sources) {
  std::int32_t best = 0;
  for (device_id s : sources) {
    const std::vector<std::int32_t> dist = hop_distances(topo, s);
    for (device_id d = 0; d < topo.device_count(); ++d) {
      if (dist[static_cast<std::size_t>(d)] < 0)
        throw std::invalid_argument("diameter: device " + std::to_string(d) +
                                    " is unreachable from device " + std::to_string(s));
      best = std::max(best, dist[static_cast<std::size_t>(d)]);
    }
  }
  return best;
}

std::int32_t diameter(const topology& topo) {
  if (topo.eccentricity_sources.empty()) return diameter_exhaustive(topo);
  return diameter_from(topo, topo.eccentricity_sources);
}

std::int32_t diameter_exhaustive(const topology& topo) {
  std::vector<device_id> all(static_cast<std::size_t>(topo.device_count()));
  std::iota(all.begin(), all.end(), 0);
  return diameter_from(topo, all);
}

namespace {

std::string range_name(const std::string& what, int count) {
  const int half = count / 2;
  return what + " 0-" + std::to_string(half - 1) + " | " + std::to_string(half) + "-" +
         std::to_string(count - 1);
}

device_cut halve_order(const topology& topo) {
  device_cut cut{range_name("devices", topo.device_count()), {}};
  cut.side.resize(static_cast<std::size_t>(topo.device_count()));
  for (device_id d = 0; d < topo.device_count(); ++d)
    cut.side[static_cast<std::size_t>(d)] = d >= topo.device_count() / 2 ? 1 : 0;
  return cut;
}

}  // namespace

std::vector<device_cut> candidate_cuts(const topology& topo) {
  std::vector<device_cut> cuts;
  const auto n = static_cast<std::size_t>(topo.device_count());
  if (topo.family == topology_family::torus && !topo.slices.empty()) {
    const torus_slice& first = topo.slices.front();
    for (int axis = 0; axis < first.axes(); ++axis) {
      const int k = first.dims[static_cast<std::size_t>(axis)];
      if (k < 2 || k % 2 != 0) continue;
      device_cut cut{"axis " + std::to_string(axis) + " halves", std::vector<std::uint8_t>(n)};
      for (const torus_slice& slice : topo.slices)
        for (std::int32_t local = 0; local < slice.device_count; ++local)
          cut.side[static_cast<std::size_t>(slice.first_device + local)] =
              slice.coords(local)[static_cast<std::size_t>(axis)] >= k / 2 ? 1 : 0;
      cuts.push_back(std::move(cut));
    }
    const int slices = static_cast<int>(topo.slices.size());
    if (slices >= 2 && slices % 2 == 0) {
      device_cut cut{range_name("slices", slices), std::vector<std::uint8_t>(n)};
      for (std::size_t d = 0; d < n; ++d) cut.side[d] = topo.devices[d].group >= slices / 2 ? 1 : 0;
      cuts.push_back(std::move(cut));
    }
  } else if (topo.family == topology_family::switched && !topo.domains.empty()) {
    const int nodes = static_cast<int>(topo.domains.size());
    if (nodes >= 2) {
      device_cut cut{range_name("nodes", nodes), std::vector<std::uint8_t>(n)};
      for (std::size_t d = 0; d < n; ++d) cut.side[d] = topo.devices[d].group >= nodes / 2 ? 1 : 0;
      cuts.push_back(std::move(cut));
    }
  }
  if (cuts.empty() && n >= 2) cuts.push_back(halve_order(topo));
  return cuts;
}

double max_flow_bytes_per_s(const topology& topo, std::span<const std::uint8_t> side) {
  using traits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
  using flow_graph = boost::adjacency_list<
      boost::vecS, boost::vecS, boost::directedS,
      boost::property<
          boost::vertex_color_t, boost::default_color_type,
          boost::property<boost::vertex_distance_t, long,
                          boost::property<boost::vertex_predecessor_t, traits::edge_descriptor>>>,
      boost::property<
          boost::edge_capacity_t, std::int64_t,
          boost::property<boost::edge_residual_capacity_t, std::int64_t,
                          boost::property<boost::edge_reverse_t, traits::edge_descriptor>>>>;
  if (side.size() != static_cast<std::size_t>(topo.device_count()))
    throw std::invalid_argument("max_flow: side has " + std::to_string(side.size()) +
                                " entries for " + std::to_string(topo.device_count()) + " devices");
  const auto vertices = static_cast<std::size_t>(topo.vertex_count());
  flow_graph g(vertices + 2);
  const std::size_t source = vertices;
  const std::size_t sink = vertices + 1;
  auto capacity = boost::get(boost::edge_capacity, g);
  auto reverse = boost::get(boost::edge_reverse, g);
  const auto add = [&](std::size_t a, std::size_t b, std::int64_t cap) {
    const auto e = boost::add_edge(a, b, g).first;
    const auto r = boost::add_edge(b, a, g).first;
    capacity[e] = cap;
    capacity[r] = 0;
    reverse[e] = r;
    reverse[r] = e;
  };
  std::int64_t total = 1;
  for (const link_info& l : topo.links()) {
    if (topo.vertex(l.src).kind == vertex_kind::host ||
        topo.vertex(l.dst).kind == vertex_kind::host)
      continue;
    const auto cap = static_cast<std::int64_t>(std::llround(l.bytes_per_s));
    add(static_cast<std::size_t>(l.src), static_cast<std::size_t>(l.dst), cap);
    total += cap;
  }
  bool has_source = false;
  bool has_sink = false;
  for (std::size_t d = 0; d < side.size(); ++d) {
    if (side[d] == 0) {
      add(source, d, total);
      has_source = true;
    } else {
      add(d, sink, total);
      has_sink = true;
    }
  }
  if (!has_source || !has_sink) return 0;
  return static_cast<double>(boost::boykov_kolmogorov_max_flow(g, source, sink));
}

bisection_result bisection(const topology& topo) {
  bisection_result best;
  bool first = true;
  for (const device_cut& cut : candidate_cuts(topo)) {
    const double flow = max_flow_bytes_per_s(topo, cut.side);
    if (first || flow < best.bytes_per_s) best = {flow, cut.name};
    first = false;
  }
  return best;
}

void write_graphviz(std::ostream& out, const topology& topo) {
  const graph_type& g = topo.graph().g;
  const auto vertex_label = [&](std::ostream& os, std::size_t v) {
    os << "[label=\"" << topo.name(static_cast<vertex_id>(v)) << "\"]";
  };
  const auto edge_label = [&](std::ostream& os, const graph_type::edge_descriptor& e) {
    const link_info& l = topo.link(g[e].id);
    os << "[label=\"" << to_string(l.kind) << ' ' << l.bytes_per_s / 1e9 << " GB/s\"]";
  };
  boost::write_graphviz(out, g, vertex_label, edge_label);
}

topology_summary summarize(const topology& topo) {
  topology_summary s;
  s.label = topo.label;
  s.devices = topo.device_count();
  s.vertices = topo.vertex_count();
  s.links = topo.link_count();
  s.hosts = topo.count(vertex_kind::host);
  s.nics = topo.count(vertex_kind::nic);
  s.switches = topo.count(vertex_kind::nvswitch) + topo.count(vertex_kind::leaf) +
               topo.count(vertex_kind::spine) + topo.count(vertex_kind::core) +
               topo.count(vertex_kind::dcn);
  s.diameter_hops = diameter(topo);
  const bisection_result b = bisection(topo);
  s.bisection_bytes_per_s = b.bytes_per_s;
  s.bisection_cut = b.cut;
  return s;
}

}  // namespace moesim::topo
