#include "topologies/topology.hpp"

#include "topologies/graph.hpp"

#include <cassert>
#include <stdexcept>

namespace moesim::topo {

std::string_view to_string(vertex_kind kind) noexcept {
  switch (kind) {
    case vertex_kind::device:
      return "dev";
    case vertex_kind::host:
      return "host";
    case vertex_kind::nic:
      return "nic";
    case vertex_kind::nvswitch:
      return "nvswitch";
    case vertex_kind::leaf:
      return "leaf";
    case vertex_kind::spine:
      return "spine";
    case vertex_kind::core:
      return "core";
    case vertex_kind::dcn:
      return "dcn";
  }
  return "?";
}

std::string_view to_string(link_kind kind) noexcept {
  switch (kind) {
    case link_kind::ici:
      return "ici";
    case link_kind::nvlink:
      return "nvlink";
    case link_kind::ib:
      return "ib";
    case link_kind::dcn:
      return "dcn";
    case link_kind::pcie:
      return "pcie";
  }
  return "?";
}

std::vector<int> torus_slice::coords(std::int32_t local) const {
  assert(local >= 0 && local < device_count);
  std::vector<int> c(dims.size());
  for (std::size_t a = 0; a < dims.size(); ++a) {
    c[a] = local % dims[a];
    local /= dims[a];
  }
  return c;
}

std::int32_t torus_slice::local_of(std::span<const int> c) const {
  assert(c.size() == dims.size());
  std::int32_t local = 0;
  for (std::size_t a = dims.size(); a-- > 0;) {
    assert(c[a] >= 0 && c[a] < dims[a]);
    local = local * dims[a] + c[a];
  }
  return local;
}

topology::topology() : graph_(std::make_unique<graph_store>()) {}
topology::~topology() = default;
topology::topology(const topology& other)
    : family(other.family),
      label(other.label),
      devices(other.devices),
      nics(other.nics),
      slices(other.slices),
      domains(other.domains),
      tree(other.tree),
      dcn_switch(other.dcn_switch),
      eccentricity_sources(other.eccentricity_sources),
      vertices_(other.vertices_),
      graph_(std::make_unique<graph_store>(*other.graph_)),
      links_(other.links_),
      device_count_(other.device_count_),
      kind_counts_(other.kind_counts_) {}
topology& topology::operator=(const topology& other) {
  if (this != &other) *this = topology(other);
  return *this;
}
// A moved-from topology gets an empty graph, so graph() stays valid on it.
topology::topology(topology&& other) noexcept : topology() { *this = std::move(other); }
topology& topology::operator=(topology&& other) noexcept {
  family = other.family;
  label = std::move(other.label);
  devices = std::move(other.devices);
  nics = std::move(other.nics);
  slices = std::move(other.slices);
  domains = std::move(other.domains);
  tree = std::move(other.tree);
  dcn_switch = other.dcn_switch;
  eccentricity_sources = std::move(other.eccentricity_sources);
  vertices_ = std::move(other.vertices_);
  std::swap(graph_, other.graph_);
  links_ = std::move(other.links_);
  device_count_ = other.device_count_;
  kind_counts_ = std::move(other.kind_counts_);
  return *this;
}

vertex_id topology::add_vertex(vertex_kind kind) {
  // Devices first: device ids double as vertex ids.
  if (kind == vertex_kind::device && device_count_ != vertex_count())
    throw std::logic_error("topology: devices must be added before any other vertex");
  const auto index = kind_counts_[static_cast<std::size_t>(kind)]++;
  const auto v = static_cast<vertex_id>(boost::add_vertex(vertex_info{kind, index}, graph_->g));
  vertices_.push_back(vertex_info{kind, index});
  if (kind == vertex_kind::device) ++device_count_;
  return v;
}

link_id topology::add_duplex_link(vertex_id a, vertex_id b, link_kind kind, double bytes_per_s,
                                  std::int64_t latency_ps) {
  return add_duplex_link(a, b, kind, bytes_per_s, latency_ps, latency_ps);
}

link_id topology::add_duplex_link(vertex_id a, vertex_id b, link_kind kind, double bytes_per_s,
                                  std::int64_t latency_ab_ps, std::int64_t latency_ba_ps) {
  if (a < 0 || b < 0 || a >= vertex_count() || b >= vertex_count() || a == b)
    throw std::invalid_argument("topology: link endpoints " + std::to_string(a) + ", " +
                                std::to_string(b) + " are not two distinct vertices of " +
                                std::to_string(vertex_count()));
  if (!(bytes_per_s > 0))
    throw std::invalid_argument("topology: link bandwidth must be > 0, got " +
                                std::to_string(bytes_per_s));
  if (latency_ab_ps < 0 || latency_ba_ps < 0)
    throw std::invalid_argument("topology: link latency must be >= 0");
  const auto id = static_cast<link_id>(links_.size());
  links_.push_back({a, b, kind, bytes_per_s, latency_ab_ps, id + 1});
  links_.push_back({b, a, kind, bytes_per_s, latency_ba_ps, id});
  boost::add_edge(static_cast<std::size_t>(a), static_cast<std::size_t>(b), edge_bundle{id},
                  graph_->g);
  boost::add_edge(static_cast<std::size_t>(b), static_cast<std::size_t>(a), edge_bundle{id + 1},
                  graph_->g);
  return id;
}

std::int32_t topology::count(vertex_kind kind) const noexcept {
  return kind_counts_[static_cast<std::size_t>(kind)];
}

std::string topology::name(vertex_id v) const {
  const vertex_info& info = vertex(v);
  return std::string(to_string(info.kind)) + std::to_string(info.index);
}

}  // namespace moesim::topo
