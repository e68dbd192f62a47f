#include "sim/io/spec_schemas.hpp"

#include <span>

namespace moesim::io {

namespace {

using topo::chip_spec;
using topo::cluster_spec;

const quantity_spec bandwidth{dimension::bytes_per_s, 0, 1e18, true};
const quantity_spec bandwidth_or_zero{dimension::bytes_per_s, 0, 1e18};
const quantity_spec flop_rate{dimension::flops_per_s, 0, 1e21};
const quantity_spec memory_size{dimension::bytes, 0, 1e18, true};
const duration_spec latency{0, 10 * sim::ps_per_s};
const number_spec fraction{0, 1, true};

template <class T>
using opt = optional_spec<T, number_spec>;

const object_type<topo::peak_flops>& peak_type() {
  static const auto t = [] {
    object_type<topo::peak_flops> o("peak_flops_per_s", "Dense peak throughput per number format");
    o.optional("bf16", &topo::peak_flops::bf16, flop_rate, "bf16 dense FLOP/s (0: no bf16)")
        .optional("fp16", &topo::peak_flops::fp16, flop_rate, "fp16 dense FLOP/s (0: no fp16)")
        .optional("fp8", &topo::peak_flops::fp8, flop_rate, "fp8 dense FLOP/s (0: no fp8)")
        .optional("int8", &topo::peak_flops::int8, flop_rate, "int8 dense OP/s (0: no int8)");
    return o;
  }();
  return t;
}

const object_type<topo::efficiency_sibling>& sibling_type() {
  static const auto t = [] {
    object_type<topo::efficiency_sibling> o(
        "sibling", "factors measured on a sibling chip, as none is published for this one");
    std::vector<std::pair<std::string, std::string>> names;
    for (const char* n : topo::efficiency_factor_names) names.emplace_back(n, n);
    o.required("chip", &topo::efficiency_sibling::chip, string_spec{}, "the sibling's chip preset")
        .required("factors", &topo::efficiency_sibling::factors,
                  list_spec<std::string, enum_spec<std::string>>{{names}, 1, 6},
                  "the factors taken from it");
    return o;
  }();
  return t;
}

const object_type<topo::gemm_bandwidth_point>& gemm_point_type() {
  static const auto t = [] {
    object_type<topo::gemm_bandwidth_point> o(
        "gemm_fp8_hbm point", "measured bandwidth of an fp8 GEMM over this many rows");
    o.required("rows", &topo::gemm_bandwidth_point::rows, number_spec{0, 1e12, true},
               "rows (tokens; per expert for grouped GEMMs) each weight matrix is applied to")
        .required("hbm", &topo::gemm_bandwidth_point::hbm, fraction,
                  "achieved bandwidth / hbm_bytes_per_s");
    return o;
  }();
  return t;
}

const object_type<topo::efficiency_factors>& efficiency_type() {
  static const auto t = [] {
    object_type<topo::efficiency_factors> o(
        "efficiency", "Achievable fractions of peak, each from a named public measurement");
    o.optional("compute", &topo::efficiency_factors::compute, opt<double>{fraction},
               "large bf16 matmul FLOP/s / peak")
        .optional("compute_fp8", &topo::efficiency_factors::compute_fp8, opt<double>{fraction},
                  "large fp8 matmul FLOP/s / fp8 peak")
        .optional("hbm", &topo::efficiency_factors::hbm, opt<double>{fraction},
                  "bandwidth-bound kernel's bandwidth / HBM peak")
        .optional("attention", &topo::efficiency_factors::attention, opt<double>{fraction},
                  "fused attention kernels' FLOP/s / peak (scores and values)")
        .optional("link", &topo::efficiency_factors::link, opt<double>{fraction},
                  "large-message bus bandwidth / scale-up line rate")
        .optional("nic", &topo::efficiency_factors::nic, opt<double>{fraction},
                  "large-message per-NIC bus bandwidth / NIC line rate")
        .optional("siblings", &topo::efficiency_factors::siblings,
                  list_spec<topo::efficiency_sibling, object_spec<topo::efficiency_sibling>>{
                      nested(sibling_type()), 0, 6},
                  "which factors come from sibling chips")
        .optional("gemm_fp8_hbm", &topo::efficiency_factors::gemm_fp8_hbm,
                  list_spec<topo::gemm_bandwidth_point, object_spec<topo::gemm_bandwidth_point>>{
                      nested(gemm_point_type()), 1, 64},
                  "memory-bound fp8 GEMMs' bandwidth / HBM peak by rows, rows increasing");
    return o;
  }();
  return t;
}

const object_type<topo::scale_up_link>& scale_up_type() {
  static const auto t = [] {
    object_type<topo::scale_up_link> o("scale_up", "Scale-up links of one chip (ICI, NVLink)");
    o.required("links_per_chip", &topo::scale_up_link::links_per_chip, integer_spec<int>{0, 1024},
               "links per chip (0: PCIe only)")
        .optional("link_bytes_per_s", &topo::scale_up_link::link_bytes_per_s, bandwidth_or_zero,
                  "one link, one direction")
        .optional("hop_latency_ps", &topo::scale_up_link::hop_latency_ps, latency,
                  "one device-to-device hop");
    return o;
  }();
  return t;
}

const object_type<topo::host_link_spec>& host_link_type() {
  static const auto t = [] {
    object_type<topo::host_link_spec> o("host_link", "Device to host CPU link");
    o.optional("interface", &topo::host_link_spec::interface, string_spec{false},
               "e.g. \"PCIe Gen5 x16\"")
        .optional("pcie_gen", &topo::host_link_spec::pcie_gen, integer_spec<int>{0, 16},
                  "PCIe generation (0: not PCIe)")
        .required("bytes_per_s", &topo::host_link_spec::bytes_per_s, bandwidth,
                  "per direction, per device")
        .optional("latency_ps", &topo::host_link_spec::latency_ps, latency, "one way")
        .optional("copy_bytes_per_s", &topo::host_link_spec::copy_bytes_per_s,
                  bandwidth_or_zero,
                  "pinned host -> device cudaMemcpy rate (0: line rate)");
    return o;
  }();
  return t;
}

const object_type<topo::nic_spec>& nic_type() {
  static const auto t = [] {
    object_type<topo::nic_spec> o("nic", "Scale-out network interface");
    o.optional("model", &topo::nic_spec::model, string_spec{false}, "e.g. \"ConnectX-7\"")
        .optional("chips_per_nic", &topo::nic_spec::chips_per_nic, integer_spec<int>{1, 1024},
                  "chips sharing one NIC")
        .required("bytes_per_s", &topo::nic_spec::bytes_per_s, bandwidth,
                  "line rate per direction per NIC")
        .optional("latency_ps", &topo::nic_spec::latency_ps, latency, "device to NIC, one way");
    return o;
  }();
  return t;
}

const object_type<topo::protocol_costs>& protocol_costs_type() {
  static const auto t = [] {
    using c = topo::protocol_costs;
    object_type<c> o("protocol", "Fixed costs of one collective protocol (NCCL's baseLat / hwLat)");
    o.optional("launch_overhead_ps", &c::launch_overhead_ps, latency, "per collective call")
        .optional("scale_up_step_latency_ps", &c::scale_up_step_latency_ps, latency,
                  "per algorithm step inside the scale-up domain")
        .optional("scale_out_step_latency_ps", &c::scale_out_step_latency_ps, latency,
                  "per algorithm step across the scale-out network")
        .optional("max_bus_bytes_per_s", &c::max_bus_bytes_per_s,
                  optional_spec<double, quantity_spec>{bandwidth},
                  "bus-bandwidth ceiling inside one scale-up domain");
    return o;
  }();
  return t;
}

const object_type<topo::collective_protocol>& collective_type() {
  static const auto t = [] {
    using c = topo::collective_protocol;
    using costs = optional_spec<topo::protocol_costs, object_spec<topo::protocol_costs>>;
    object_type<c> o("collective", "Collective-library protocol parameters");
    o.required("ll_efficiency", &c::ll_efficiency, fraction, "payload fraction, LL protocol")
        .required("ll128_efficiency", &c::ll128_efficiency, fraction,
                  "payload fraction, LL128 protocol")
        .optional("launch_overhead_ps", &c::launch_overhead_ps, latency,
                  "per collective call (Simple protocol)")
        .optional("scale_up_step_latency_ps", &c::scale_up_step_latency_ps, latency,
                  "per algorithm step inside the scale-up domain (Simple)")
        .optional("scale_out_step_latency_ps", &c::scale_out_step_latency_ps, latency,
                  "per algorithm step across the scale-out network (Simple)")
        .optional("ll", &c::ll, costs{nested(protocol_costs_type())},
                  "LL's fixed costs and bandwidth ceiling")
        .optional("ll128", &c::ll128, costs{nested(protocol_costs_type())},
                  "LL128's fixed costs (absent: LL128 unused)")
        .optional("nvls_efficiency", &c::nvls_efficiency, number_spec{0, 1},
                  "NVLink SHARP reduction throughput / ring bandwidth (0: none)")
        .optional("nvls_latency_ps", &c::nvls_latency_ps, latency,
                  "fixed cost of one NVLS all-reduce (0: Simple's)")
        .optional("ring_plateau_factor", &c::ring_plateau_factor, number_spec{1, 100},
                  "Simple ring all-reduce fixed costs across nodes x this")
        .optional("ep_link_efficiency", &c::ep_link_efficiency, opt<double>{fraction},
                  "scale-up line-rate fraction of DeepEP-style expert dispatch/combine kernels")
        .optional("ep_low_latency_kernel_ps", &c::ep_low_latency_kernel_ps,
                  optional_spec<sim::time_ps, duration_spec>{latency},
                  "fixed cost of one DeepEP low-latency dispatch or combine kernel");
    return o;
  }();
  return t;
}

const object_type<topo::wrap_rule>& wrap_type() {
  static const auto t = [] {
    object_type<topo::wrap_rule> o("wraparound", "Which torus axes have wraparound links");
    enum_spec<topo::wrap_rule_kind> kinds;
    for (auto k : {topo::wrap_rule_kind::never, topo::wrap_rule_kind::always,
                   topo::wrap_rule_kind::multiple_of, topo::wrap_rule_kind::full_axis}) {
      kinds.choices.emplace_back(std::string(to_string(k)), k);
    }
    o.required("rule", &topo::wrap_rule::rule, kinds,
               "never, always, multiple_of (v4/v5p/Ironwood: 4) or full_axis (v5e/v6e: 16)")
        .optional("size", &topo::wrap_rule::size, integer_spec<int>{0, 1 << 16},
                  "the N of multiple_of / full_axis");
    return o;
  }();
  return t;
}

const object_type<topo::fat_tree_spec>& fat_tree_type() {
  static const auto t = [] {
    using f = topo::fat_tree_spec;
    object_type<f> o("scale_out", "Rail-optimised fat-tree joining the nodes");
    o.optional("tiers", &f::tiers, integer_spec<int>{0, 3}, "2, 3, or 0 = the fewest that fit")
        .optional("nodes_per_unit", &f::nodes_per_unit, integer_spec<int>{1, 1 << 16},
                  "nodes of one scalable unit")
        .optional("switch_radix", &f::switch_radix, integer_spec<int>{2, 1 << 12},
                  "ports per switch")
        .optional("oversubscription", &f::oversubscription, number_spec{1, 64},
                  "leaf downlinks / uplinks")
        .optional("rails", &f::rails, integer_spec<int>{0, 1 << 10}, "leaves per scalable unit")
        .optional("link_bytes_per_s", &f::link_bytes_per_s, bandwidth_or_zero,
                  "switch-to-switch link, per direction")
        .optional("switch_latency_ps", &f::switch_latency_ps, latency, "one switch traversal");
    return o;
  }();
  return t;
}

std::string format_shape_ref(const std::vector<int>& s) {
  return topo::format_shape(s);
}

}  // namespace

const object_type<chip_spec>& chip_type() {
  static const auto t = [] {
    object_type<chip_spec> o("chip", "One accelerator's data sheet");
    enum_spec<topo::chip_kind> kinds{
        {{"gpu", topo::chip_kind::gpu}, {"tpu", topo::chip_kind::tpu}}};
    o.passthrough("preset", json{{"type", "string"}}, "start from this chip preset")
        .required("name", &chip_spec::name, string_spec{}, "chip name")
        .required("source", &chip_spec::source, string_spec{}, "where the figures come from")
        .required("kind", &chip_spec::kind, kinds, "gpu or tpu")
        .required("peak_flops_per_s", &chip_spec::peak_flops_per_s, nested(peak_type()),
                  "dense peak per format")
        .required("hbm_bytes", &chip_spec::hbm_bytes, memory_size, "device memory capacity")
        .required("hbm_bytes_per_s", &chip_spec::hbm_bytes_per_s, bandwidth,
                  "device memory bandwidth")
        .optional("efficiency", &chip_spec::efficiency, nested(efficiency_type()),
                  "achievable fractions of peak")
        .required("scale_up", &chip_spec::scale_up, nested(scale_up_type()), "scale-up links")
        .required("host_link", &chip_spec::host_link, nested(host_link_type()), "host link")
        .optional("nic", &chip_spec::nic,
                  optional_spec<topo::nic_spec, object_spec<topo::nic_spec>>{nested(nic_type())},
                  "scale-out NIC (absent on cards without one)")
        .optional("price_usd_per_hour", &chip_spec::price_usd_per_hour,
                  opt<double>{number_spec{0, 1e6, true}}, "on-demand price per device-hour")
        .optional("price_source", &chip_spec::price_source, string_spec{false},
                  "where the price comes from")
        .optional("collective", &chip_spec::collective,
                  optional_spec<topo::collective_protocol, object_spec<topo::collective_protocol>>{
                      nested(collective_type())},
                  "collective protocol parameters")
        .check(validated_by<chip_spec>(&topo::validate));
    return o;
  }();
  return t;
}

const object_type<topo::host_cpu_spec>& host_cpu_type() {
  static const auto t = [] {
    object_type<topo::host_cpu_spec> o("host", "The host CPU of each host");
    o.optional("name", &topo::host_cpu_spec::name, string_spec{false}, "the CPU, as sourced")
        .required("cores", &topo::host_cpu_spec::cores, integer_spec<int>{1, 1 << 16},
                  "physical cores")
        .required("fp32_flops_per_s", &topo::host_cpu_spec::fp32_flops_per_s,
                  quantity_spec{dimension::flops_per_s, 0, 1e21, true},
                  "fp32 vector FMA peak of all cores")
        .optional("bf16_flops_per_s", &topo::host_cpu_spec::bf16_flops_per_s, flop_rate,
                  "bf16 peak (0: bf16 runs at the fp32 rate)")
        .optional("dram_bytes", &topo::host_cpu_spec::dram_bytes, quantity_spec{dimension::bytes, 0, 1e18},
                  "host memory (0: not stated)")
        .required("dram_bytes_per_s", &topo::host_cpu_spec::dram_bytes_per_s, bandwidth,
                  "sustained host memory bandwidth");
    return o;
  }();
  return t;
}

const object_type<cluster_spec>& cluster_type() {
  static const auto t = [] {
    object_type<cluster_spec> o("cluster", "The cluster: a preset name and/or its wiring");
    enum_spec<topo::fabric_kind> fabrics{
        {{"torus", topo::fabric_kind::torus}, {"nvswitch", topo::fabric_kind::nvswitch}}};
    const text_spec<std::vector<int>> shape{&topo::parse_shape, &format_shape_ref,
                                            "a shape such as \"8x16x16\""};
    o.passthrough("preset", json{{"type", "string"}},
                  "start from this cluster preset (moesim presets); other keys override it")
        .required("name", &cluster_spec::name, string_spec{}, "cluster name")
        .optional("source", &cluster_spec::source, string_spec{false}, "where the wiring is from")
        .required("chip", &cluster_spec::chip, string_spec{}, "chip preset name")
        .required("fabric", &cluster_spec::fabric, fabrics, "torus (TPU) or nvswitch (GPU)")
        .optional("shape", &cluster_spec::shape, shape, "torus: chips per axis, x first")
        .optional("wraparound", &cluster_spec::wraparound, nested(wrap_type()),
                  "torus: wraparound rule")
        .optional("host_shape", &cluster_spec::host_shape, shape, "torus: chips of one host")
        .optional("slices", &cluster_spec::slices, integer_spec<int>{1, 1 << 12},
                  "torus: slices joined by the data-centre network")
        .optional("dcn_latency_ps", &cluster_spec::dcn_latency_ps, latency,
                  "torus: one-way latency across the data-centre network")
        .optional("nodes", &cluster_spec::nodes, integer_spec<int>{1, 1 << 16},
                  "nvswitch: NVLink domains joined by the fat-tree")
        .optional("gpus_per_node", &cluster_spec::gpus_per_node, integer_spec<int>{1, 1 << 10},
                  "nvswitch: GPUs in one NVLink domain")
        .optional("gpus_per_host", &cluster_spec::gpus_per_host, integer_spec<int>{1, 1 << 10},
                  "nvswitch: GPUs sharing one host")
        .optional("scale_out", &cluster_spec::scale_out, nested(fat_tree_type()),
                  "nvswitch: the fat-tree")
        .optional("host", &cluster_spec::host,
                  optional_spec<topo::host_cpu_spec, object_spec<topo::host_cpu_spec>>{
                      nested(host_cpu_type())},
                  "the host CPU (expert offloading's miss: cpu)")
        .check(validated_by<cluster_spec>(&topo::validate))
        .check([](const cluster_spec& c, const doc::node& n, const std::string& path) {
          // The other fabric's keys describe wiring this cluster does not have.
          static const char* const torus_keys[] = {"shape", "wraparound", "host_shape", "slices",
                                                   "dcn_latency_ps"};
          static const char* const nvswitch_keys[] = {"nodes", "gpus_per_node", "gpus_per_host",
                                                      "scale_out"};
          const bool torus = c.fabric == topo::fabric_kind::torus;
          for (const char* key : torus ? std::span<const char* const>(nvswitch_keys)
                                        : std::span<const char* const>(torus_keys)) {
            if (const doc::node* v = n.find(key)) {
              detail::fail(*v, detail::join_path(path, key),
                           std::string("applies to fabric ") + (torus ? "nvswitch" : "torus") +
                               " only; cluster '" + c.name + "' has fabric " +
                               (torus ? "torus" : "nvswitch"));
            }
          }
        });
    return o;
  }();
  return t;
}

}  // namespace moesim::io
