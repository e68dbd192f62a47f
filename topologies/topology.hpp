#pragma once
// A cluster interconnect as a directed Boost.Graph: vertices are devices (GPUs / TPU chips),
// switches, NICs and hosts; every physical cable is two directed links, one per direction,
// each with its own bytes/s and latency. No time, no traffic: the network layer (sim/net)
// puts flows on the links this graph names.
//
// Numbering (stable, documented, relied on by every layer above):
// - Devices are vertices 0..N-1, so a device id is also its vertex id. Order: node-major for
//   GPU clusters (device = node * gpus_per_node + local GPU), and for TPU slices slice-major,
//   then x fastest (local = x + X*(y + Y*z)).
// - Links have dense ids 0..L-1 in creation order; a duplex cable is two consecutive ids
//   (a->b, then b->a) and link(id).reverse names the other one. Arrays indexed by link id are
//   how the network solver keeps per-link state.
// Ownership: the topology owns its graph and metadata; routers and caches hold a const
// reference and must not outlive it. Not thread-safe to mutate; const use is thread-safe.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moesim::topo {

using vertex_id = std::int32_t;
using link_id = std::int32_t;
using device_id = std::int32_t;
inline constexpr std::int32_t none = -1;

enum class vertex_kind : std::uint8_t { device, host, nic, nvswitch, leaf, spine, core, dcn };
enum class link_kind : std::uint8_t {
  ici,     // TPU inter-chip interconnect
  nvlink,  // GPU <-> NVSwitch port
  ib,      // InfiniBand / RoCE: NIC <-> switch and switch <-> switch
  dcn,     // TPU host NIC <-> data-centre network
  pcie     // device <-> host CPU, device <-> NIC (PCIe, or NVLink-C2C on Grace)
};
[[nodiscard]] std::string_view to_string(vertex_kind kind) noexcept;
[[nodiscard]] std::string_view to_string(link_kind kind) noexcept;

struct vertex_info {
  vertex_kind kind = vertex_kind::device;
  std::int32_t index = 0;  // index among vertices of the same kind (leaf 3, host 0, ...)
};

struct link_info {
  vertex_id src = none;
  vertex_id dst = none;
  link_kind kind = link_kind::ici;
  double bytes_per_s = 0;       // capacity in this direction
  std::int64_t latency_ps = 0;  // added once per traversal
  link_id reverse = none;       // the opposite direction of the same cable
};

/// The Boost.Graph view of a topology (topologies/graph.hpp), kept out of this header so the
/// many files that read a topology do not parse Boost.Graph (about 6 s of compile each).
struct graph_store;

/// Where a device sits outside its scale-up fabric. Links are none where absent.
struct device_attachment {
  std::int32_t group = none;  // torus slice index, or NVSwitch node index
  std::int32_t local = none;  // index inside the slice / node
  vertex_id host = none;      // host CPU vertex
  link_id to_host = none;     // device -> host
  link_id from_host = none;   // host -> device
  vertex_id nic = none;       // NIC vertex (none when the cluster has no scale-out network)
  link_id to_nic = none;      // device -> NIC
  link_id from_nic = none;    // NIC -> device
  std::int32_t rail = none;   // GPU clusters: rail (leaf column) of this GPU's NIC
};

/// Per NIC: its uplink into the scale-out network (NIC -> leaf or DCN switch) and back.
struct nic_attachment {
  vertex_id nic = none;
  link_id up = none;         // NIC -> first switch
  link_id down = none;       // first switch -> NIC
  std::int32_t leaf = none;  // fat-tree leaf index (none for DCN)
};

/// One TPU slice: an N-dimensional torus/mesh of devices.
struct torus_slice {
  std::vector<int> dims;    // axis sizes, x first
  std::vector<bool> wraps;  // per axis
  std::vector<double> axis_bytes_per_s;
  std::vector<std::int64_t> axis_latency_ps;
  device_id first_device = 0;
  std::int32_t device_count = 0;
  /// neighbour_links[local * 2 * axes + 2 * axis + (negative ? 1 : 0)]: the link leaving
  /// `local` towards +1 / -1 along `axis`, or none at a mesh edge / size-1 axis.
  std::vector<link_id> neighbour_links;

  [[nodiscard]] int axes() const noexcept { return static_cast<int>(dims.size()); }
  /// Coordinates of a local index (x fastest). O(axes).
  [[nodiscard]] std::vector<int> coords(std::int32_t local) const;
  /// Local index of coordinates. O(axes). Coordinates must be in range (asserted).
  [[nodiscard]] std::int32_t local_of(std::span<const int> coords) const;
  [[nodiscard]] link_id neighbour_link(std::int32_t local, int axis, bool negative) const {
    return neighbour_links[static_cast<std::size_t>(local) * 2 * dims.size() +
                           2 * static_cast<std::size_t>(axis) + (negative ? 1 : 0)];
  }
};

/// One NVSwitch domain (an HGX node or an NVL72 rack). The NVSwitch chips of the domain are one
/// logical crossbar vertex: NCCL stripes every transfer over all NVLinks of a GPU, so the only
/// contention points are a GPU's own ports, which are the per-GPU port links here.
struct switch_domain {
  vertex_id nvswitch = none;
  device_id first_device = 0;
  std::int32_t device_count = 0;
  std::vector<link_id> up;    // per local GPU: GPU -> switch
  std::vector<link_id> down;  // per local GPU: switch -> GPU
};

/// The rail-optimised fat-tree of a GPU cluster (see fat_tree.hpp for the wiring rules).
struct fat_tree {
  int tiers = 0;
  int rails = 0;
  int nodes_per_unit = 0;
  int units = 0;
  int units_per_pod = 0;  // 3-tier: SUs under one set of spines; 2-tier: all units
  int pods = 0;
  std::vector<vertex_id> leaves;  // leaf index = unit * rails + rail
  std::vector<vertex_id> spines;  // spine index = pod * spines_per_pod + j
  std::vector<vertex_id> cores;
  int spines_per_pod = 0;
  std::vector<std::vector<link_id>> leaf_up;  // [leaf] -> uplinks (to spines)
  /// [spine][leaf index within its pod] -> parallel downlinks spine -> that leaf
  std::vector<std::vector<std::vector<link_id>>> spine_down;
  std::vector<std::vector<link_id>> spine_up;  // [spine] -> uplinks (to cores), 3-tier
  /// [core][pod] -> downlinks core -> the spines of that pod wired to this core, 3-tier
  std::vector<std::vector<std::vector<link_id>>> core_down;
};

/// What kind of cluster the graph is; decides how routes and candidate cuts are formed.
enum class topology_family : std::uint8_t { torus, switched, custom };

class topology {
 public:
  topology();
  ~topology();
  topology(const topology& other);
  topology& operator=(const topology& other);
  topology(topology&& other) noexcept;
  topology& operator=(topology&& other) noexcept;

  // ---- construction (used by the builders; O(1) amortised each) ----
  vertex_id add_vertex(vertex_kind kind);
  /// Adds a cable a<->b: link a->b gets id L, b->a gets id L+1. Returns L.
  link_id add_duplex_link(vertex_id a, vertex_id b, link_kind kind, double bytes_per_s,
                          std::int64_t latency_ps);
  /// Same, with a different latency per direction (latency of the element the link enters).
  link_id add_duplex_link(vertex_id a, vertex_id b, link_kind kind, double bytes_per_s,
                          std::int64_t latency_ab_ps, std::int64_t latency_ba_ps);

  // ---- queries ----
  [[nodiscard]] std::int32_t device_count() const noexcept { return device_count_; }
  [[nodiscard]] std::int32_t vertex_count() const noexcept {
    return static_cast<std::int32_t>(vertices_.size());
  }
  [[nodiscard]] std::int32_t link_count() const noexcept {
    return static_cast<std::int32_t>(links_.size());
  }
  [[nodiscard]] std::int32_t count(vertex_kind kind) const noexcept;
  [[nodiscard]] const link_info& link(link_id id) const {
    return links_[static_cast<std::size_t>(id)];
  }
  [[nodiscard]] std::span<const link_info> links() const noexcept { return links_; }
  [[nodiscard]] const vertex_info& vertex(vertex_id v) const {
    return vertices_[static_cast<std::size_t>(v)];
  }
  /// The graph for Boost.Graph algorithms (include topologies/graph.hpp to use it).
  [[nodiscard]] const graph_store& graph() const noexcept { return *graph_; }
  /// "dev12", "host3", "nic5", "nvswitch0", "leaf4", "spine2", "core1", "dcn0".
  [[nodiscard]] std::string name(vertex_id v) const;

  // ---- cluster metadata (filled by the builders) ----
  topology_family family = topology_family::custom;
  std::string label;                       // e.g. "tpu-v5p 4x4x4", for outputs
  std::vector<device_attachment> devices;  // [device]
  std::vector<nic_attachment> nics;        // [nic vertex index]
  std::vector<torus_slice> slices;         // torus family
  std::vector<switch_domain> domains;      // switched family
  fat_tree tree;                           // switched family with nodes > 1
  vertex_id dcn_switch = none;             // torus family with slices > 1
  /// Devices whose BFS eccentricities include the maximum over all devices, by the symmetry of
  /// the builder's construction (e.g. the all-zero corner of a torus slice). metrics.hpp's
  /// diameter() runs BFS from these only; tests check it against BFS from every device.
  std::vector<device_id> eccentricity_sources;

 private:
  std::vector<vertex_info> vertices_;    // [vertex]
  std::unique_ptr<graph_store> graph_;  // never null; mirrors vertices_ and links_
  std::vector<link_info> links_;
  std::int32_t device_count_ = 0;
  std::vector<std::int32_t> kind_counts_ = std::vector<std::int32_t>(8, 0);
};

}  // namespace moesim::topo
