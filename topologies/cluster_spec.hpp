#pragma once
// The description of one cluster: which chip, how the chips are wired (a TPU torus slice, or
// NVSwitch nodes joined by a fat-tree), how many of them. Pure data; build_cluster()
// (cluster.hpp) turns it into a topology graph.
//
// One YAML preset per cluster lives in topologies/presets/<name>.yaml. Keys map 1:1 onto the
// fields below; the loader converts human units ("330 ns", "50 GB/s") into the field's unit.
// Keys of the other fabric kind must be absent (the loader reports them as unknown).
//
// YAML layout, torus clusters (TPU):
//   name: tpu-v5p            # cluster_spec::name
//   source: "..."            # cluster_spec::source
//   chip: tpu-v5p            # cluster_spec::chip (a chip preset name)
//   fabric: torus            # cluster_spec::fabric: torus | nvswitch
//   shape: 4x4x4             # cluster_spec::shape, x first; any number of axes
//   wraparound: {rule: multiple_of, size: 4}   # cluster_spec::wraparound
//   host_shape: 2x2x1        # cluster_spec::host_shape: chips of one host, same axes as shape
//   slices: 1                # cluster_spec::slices: slices joined by the data-centre network
//   dcn_latency_ps: 10 us    # cluster_spec::dcn_latency_ps: NIC -> DCN -> NIC, one way
// YAML layout, NVSwitch clusters (GPU):
//   name / source / chip / fabric: nvswitch
//   nodes: 1                 # cluster_spec::nodes: NVLink domains (HGX nodes or NVL72 racks)
//   gpus_per_node: 8         # cluster_spec::gpus_per_node: GPUs in one NVLink domain
//   gpus_per_host: 8         # cluster_spec::gpus_per_host: GPUs sharing one host CPU
//   scale_out: {tiers: 0, nodes_per_unit: 32, switch_radix: 64, oversubscription: 1,
//               rails: 8, link_bytes_per_s: 50 GB/s, switch_latency_ps: 330 ns}
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moesim::topo {

enum class fabric_kind : std::uint8_t { torus, nvswitch };
[[nodiscard]] std::string_view to_string(fabric_kind kind) noexcept;
[[nodiscard]] fabric_kind parse_fabric_kind(std::string_view text);  // throws invalid_argument

/// Which torus axes get wraparound links, as a function of the axis size.
/// - never / always: plain mesh / plain torus.
/// - multiple_of N: TPU v4, v5p, Ironwood: slices are built from 4x4x4 cubes joined by optical
///   circuit switches, so an axis wraps exactly when its size is a multiple of 4 (size: 4).
/// - full_axis N: TPU v5e, v6e: only a full pod axis (16 chips) has the wraparound cable.
/// Axes of size 1 never wrap (there is no link to wrap).
enum class wrap_rule_kind : std::uint8_t { never, always, multiple_of, full_axis };
[[nodiscard]] std::string_view to_string(wrap_rule_kind kind) noexcept;
[[nodiscard]] wrap_rule_kind parse_wrap_rule_kind(std::string_view text);  // throws

struct wrap_rule {
  wrap_rule_kind rule = wrap_rule_kind::never;  // YAML rule
  int size = 0;                                 // YAML size (multiple_of / full_axis only)

  /// Whether an axis of `axis_size` chips wraps under this rule.
  [[nodiscard]] bool wraps(int axis_size) const noexcept;
};

/// Rail-optimised InfiniBand/RoCE fat-tree joining the nodes (see fat_tree.hpp for the wiring).
struct fat_tree_spec {
  int tiers = 0;                // YAML tiers: 2, 3, or 0 = the fewest that fit
  int nodes_per_unit = 32;      // YAML nodes_per_unit: nodes of one scalable unit (SU)
  int switch_radix = 64;        // YAML switch_radix: ports per switch
  double oversubscription = 1;  // YAML oversubscription: leaf downlinks / leaf uplinks
  int rails = 0;                // YAML rails: leaves per SU; GPU i of a node is on rail i % rails
  double link_bytes_per_s = 0;  // YAML link_bytes_per_s: switch-to-switch link, per direction
  std::int64_t switch_latency_ps = 0;  // YAML switch_latency_ps: one switch traversal
};

/// The host CPU of each host (YAML `host`): what runs experts on the host (offload miss: cpu) and
/// holds offloaded weights. FLOP/s are the whole host's (all cores); DRAM per host.
struct host_cpu_spec {
  std::string name;               // YAML name: e.g. "2x Xeon (Skylake-SP), 48 cores"
  int cores = 0;                  // YAML cores
  double fp32_flops_per_s = 0;    // YAML fp32_flops_per_s: vector FMA peak of all cores
  double bf16_flops_per_s = 0;    // YAML bf16_flops_per_s: 0 when bf16 runs at the fp32 rate
  double dram_bytes = 0;          // YAML dram_bytes: 0 when not stated
  double dram_bytes_per_s = 0;    // YAML dram_bytes_per_s: sustained (STREAM-like) bandwidth
};

struct cluster_spec {
  std::string name;                         // YAML name
  std::string source;                       // YAML source
  std::string chip;                         // YAML chip
  fabric_kind fabric = fabric_kind::torus;  // YAML fabric

  // fabric: torus
  std::vector<int> shape;           // YAML shape ("8x16x16")
  wrap_rule wraparound;             // YAML wraparound
  std::vector<int> host_shape;      // YAML host_shape ("2x2x1")
  int slices = 1;                   // YAML slices
  std::int64_t dcn_latency_ps = 0;  // YAML dcn_latency_ps

  // fabric: nvswitch
  int nodes = 1;            // YAML nodes
  int gpus_per_node = 8;    // YAML gpus_per_node
  int gpus_per_host = 8;    // YAML gpus_per_host
  fat_tree_spec scale_out;  // YAML scale_out

  std::optional<host_cpu_spec> host;  // YAML host: the host CPU (absent: not modelled)
};

/// "8x16x16" -> {8, 16, 16}. Every factor must be a positive integer; throws invalid_argument
/// with the text otherwise.
[[nodiscard]] std::vector<int> parse_shape(std::string_view text);
/// {8, 16, 16} -> "8x16x16".
[[nodiscard]] std::string format_shape(const std::vector<int>& shape);

/// Checks the fields the cluster's fabric uses (positive sizes, host_shape dividing shape,
/// divisibility of nodes into hosts, ...). Throws std::invalid_argument naming the cluster, the
/// field and the numbers that disagree. O(axes).
void validate(const cluster_spec& cluster);

}  // namespace moesim::topo
