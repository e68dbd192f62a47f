#pragma once
// The data sheet of one accelerator chip: compute, memory, links, host and network attachment,
// price and collective-protocol parameters. Pure data: no graph, no time.
//
// One YAML preset per chip lives in topologies/presets/chips/<name>.yaml; the strict loader in
// sim/io maps YAML keys 1:1 onto the fields below (same snake_case names, same nesting). Values
// are written in human units ("3.35 TB/s", "80 GB", "1 us", "989 TFLOP/s"); the loader converts
// them once into the unit named by the field (`_bytes`, `_bytes_per_s`, `_ps`, `_flops_per_s`).
// A bare number means the field's own unit. Optional fields (std::optional) may be omitted in
// YAML: absent means "no published value" and the consumer decides, never a silent default.
//
// YAML layout (every key):
//   name: h100                       # chip_spec::name
//   source: "..."                    # chip_spec::source (where the numbers come from)
//   kind: gpu                        # chip_spec::kind: gpu | tpu
//   peak_flops_per_s: {bf16: .., fp16: .., fp8: .., int8: ..}  # dense, 0 where absent
//   hbm_bytes: ..                    # device memory capacity (HBM, or GDDR on L4/T4/RTX 4090)
//   hbm_bytes_per_s: ..              # device memory bandwidth
//   efficiency: {compute: .., compute_fp8: .., hbm: .., attention: .., link: .., nic: ..,
//                siblings: [{chip: .., factors: [..]}],   # each optional, fraction in (0, 1]
//                gemm_fp8_hbm: [{rows: .., hbm: ..}, ..]}  # optional, rows increasing
//   scale_up: {links_per_chip: .., link_bytes_per_s: .., hop_latency_ps: ..}
//   host_link: {interface: "PCIe Gen5 x16", pcie_gen: 5, bytes_per_s: .., latency_ps: ..,
//               copy_bytes_per_s: ..}  # optional: pinned cudaMemcpy rate
//   nic: {model: "ConnectX-7", chips_per_nic: 1, bytes_per_s: .., latency_ps: ..}  # optional
//   price_usd_per_hour: ..           # optional: on-demand list price per device-hour
//   price_source: "..."              # required when price_usd_per_hour is given
//   collective:                      # optional block
//     {ll_efficiency: .., ll128_efficiency: .., launch_overhead_ps: ..,
//      scale_up_step_latency_ps: .., scale_out_step_latency_ps: ..,
//      ll: {launch_overhead_ps: .., scale_up_step_latency_ps: .., scale_out_step_latency_ps: ..,
//           max_bus_bytes_per_s: ..}, ll128: {...the same keys},
//      nvls_efficiency: .., nvls_latency_ps: .., ring_plateau_factor: ..,
//      ep_link_efficiency: .., ep_low_latency_kernel_ps: ..}
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moesim::topo {

enum class chip_kind : std::uint8_t { gpu, tpu };

/// "gpu" / "tpu". parse_chip_kind throws std::invalid_argument on anything else.
[[nodiscard]] std::string_view to_string(chip_kind kind) noexcept;
[[nodiscard]] chip_kind parse_chip_kind(std::string_view text);

/// Dense peak throughput per number format. 0 means the chip has no such format
/// (e.g. fp8 on A100, bf16 on T4); "with sparsity" figures are never used.
struct peak_flops {
  double bf16 = 0;  // YAML bf16
  double fp16 = 0;  // YAML fp16
  double fp8 = 0;   // YAML fp8
  double int8 = 0;  // YAML int8 (integer ops/s, counted like FLOP/s)
};

/// Which factors of an efficiency block were measured on a sibling chip (same die or memory,
/// named by its preset) because no measurement of this chip is published.
struct efficiency_sibling {
  std::string chip;                  // YAML chip: the sibling's preset name
  std::vector<std::string> factors;  // YAML factors: names of the borrowed factors
};

/// One measured point of an fp8 GEMM's weight-streaming bandwidth: a GEMM whose weight matrix
/// is applied to `rows` rows (tokens; per expert for a grouped GEMM) moves its bytes at `hbm` x
/// hbm_bytes_per_s.
struct gemm_bandwidth_point {
  double rows = 0;  // YAML rows: > 0
  double hbm = 0;   // YAML hbm: fraction in (0, 1]
};

/// Achievable fractions of a peak, measured by a named public benchmark. Absent = unmeasured
/// (the consumer runs at peak and says so).
struct efficiency_factors {
  std::optional<double> compute;      // YAML compute: large bf16 matmul / peak bf16
  std::optional<double> compute_fp8;  // YAML compute_fp8: large fp8 matmul / peak fp8
  std::optional<double> hbm;          // YAML hbm: bandwidth-bound kernel / hbm_bytes_per_s
  /// YAML attention: fused attention kernels (FlashAttention, FlashMLA) FLOP/s / peak of their
  /// format, for the scores-and-values part of attention.
  std::optional<double> attention;
  std::optional<double> link;  // YAML link: large-message busbw / scale-up line rate
  std::optional<double> nic;   // YAML nic: large-message per-NIC busbw / NIC line rate
  std::vector<efficiency_sibling> siblings;  // YAML siblings
  /// YAML gemm_fp8_hbm: bandwidth of memory-bound fp8 GEMMs by rows, rows strictly increasing.
  /// A GEMM over few rows (a decode batch, a few tokens per expert) streams its weights well
  /// below a STREAM copy's `hbm`: too few tiles along M to keep enough loads in flight. Empty:
  /// unmeasured, GEMMs stream at `hbm`.
  std::vector<gemm_bandwidth_point> gemm_fp8_hbm;
};

/// The names of efficiency_factors' factors, in declaration order.
inline constexpr const char* efficiency_factor_names[] = {"compute",   "compute_fp8", "hbm",
                                                          "attention", "link",        "nic"};
/// The factor of `e` called `name` (one of efficiency_factor_names); nullopt when absent.
[[nodiscard]] std::optional<double> efficiency_factor(const efficiency_factors& e,
                                                      std::string_view name);

/// Scale-up fabric of the chip: ICI for TPUs, NVLink for GPUs. links_per_chip may be 0
/// (PCIe-only GPUs). link_bytes_per_s is per link and per direction.
struct scale_up_link {
  int links_per_chip = 0;           // YAML links_per_chip
  double link_bytes_per_s = 0;      // YAML link_bytes_per_s (one direction, one link)
  std::int64_t hop_latency_ps = 0;  // YAML hop_latency_ps: one device-to-device hop

  /// Per-direction bandwidth of all links of one chip together.
  [[nodiscard]] double chip_bytes_per_s() const noexcept {
    return links_per_chip * link_bytes_per_s;
  }
};

/// Device <-> host CPU link (PCIe, or NVLink-C2C on Grace systems). Per direction.
struct host_link_spec {
  std::string interface;        // YAML interface: e.g. "PCIe Gen5 x16", "NVLink-C2C"
  int pcie_gen = 0;             // YAML pcie_gen: 0 when not PCIe or not published
  double bytes_per_s = 0;       // YAML bytes_per_s (per direction, per device)
  std::int64_t latency_ps = 0;  // YAML latency_ps
  /// YAML copy_bytes_per_s: what a pinned host -> device cudaMemcpy reaches over this link
  /// (below line rate: packet headers, DMA and driver overheads). 0: unmeasured, line rate.
  /// The host link carries only copies, so the topology builds it at this rate when given.
  double copy_bytes_per_s = 0;
  /// The rate the device <-> host link runs at: copy_bytes_per_s when given, else line rate.
  [[nodiscard]] double achievable_bytes_per_s() const noexcept {
    return copy_bytes_per_s > 0 ? copy_bytes_per_s : bytes_per_s;
  }
};

/// Scale-out network interface. On GPUs one NIC serves `chips_per_nic` GPUs (1 on DGX); on TPUs
/// the data-centre-network (DCN) NICs belong to the host and are shared by its chips.
struct nic_spec {
  std::string model;            // YAML model
  int chips_per_nic = 1;        // YAML chips_per_nic
  double bytes_per_s = 0;       // YAML bytes_per_s (line rate, per direction, per NIC)
  std::int64_t latency_ps = 0;  // YAML latency_ps: device <-> NIC leg, one way
};

/// Fixed costs of one protocol of the collective library (NCCL's tuning model, src/graph/tuning.cc:
/// baseLat per call, hwLat per algorithm step over NVLink and over the network).
struct protocol_costs {
  std::int64_t launch_overhead_ps = 0;         // YAML launch_overhead_ps: per collective call
  std::int64_t scale_up_step_latency_ps = 0;   // YAML scale_up_step_latency_ps: per ring step
  std::int64_t scale_out_step_latency_ps = 0;  // YAML scale_out_step_latency_ps: per ring step
  /// YAML max_bus_bytes_per_s: the protocol's bus-bandwidth ceiling inside one scale-up domain
  /// (NCCL's llMaxBws, one node); absent: no ceiling beyond the payload fraction.
  std::optional<double> max_bus_bytes_per_s;
};

/// Named protocol parameters of the collective library (NCCL on GPUs). They feed the network
/// layer's collective timing; nothing in topologies/ uses them. The flat latency keys are the
/// Simple protocol's; `ll` and `ll128` hold those of the low-latency protocols.
struct collective_protocol {
  double ll_efficiency = 0;                    // YAML ll_efficiency: payload fraction, LL
  double ll128_efficiency = 0;                 // YAML ll128_efficiency: payload fraction, LL128
  std::int64_t launch_overhead_ps = 0;         // YAML launch_overhead_ps: per collective call
  std::int64_t scale_up_step_latency_ps = 0;   // YAML scale_up_step_latency_ps: per ring step
  std::int64_t scale_out_step_latency_ps = 0;  // YAML scale_out_step_latency_ps: per ring step
  /// YAML ll: LL's own fixed costs and bandwidth ceiling. Absent: LL pays the Simple launch
  /// overhead and only the wire per step, with no ceiling.
  std::optional<protocol_costs> ll;
  /// YAML ll128: LL128's fixed costs. Absent: LL128 is not used (NCCL enables it only where it
  /// is known to be safe); it also needs scale-up links (NVLink), as in NCCL.
  std::optional<protocol_costs> ll128;
  /// YAML nvls_efficiency: throughput of NVLink SHARP in-switch reduction relative to the ring
  /// bandwidth of the same ports (NCCL's nvlsEfficiency); 0 = the switch cannot reduce.
  double nvls_efficiency = 0;
  /// YAML nvls_latency_ps: fixed cost of one NVLS all-reduce, replacing the launch overhead and
  /// step latencies (NCCL's NVLS latency has no base part); 0 = those of Simple.
  std::int64_t nvls_latency_ps = 0;
  /// YAML ring_plateau_factor: multiplies the Simple ring all-reduce's fixed costs when it spans
  /// several nodes (NCCL's "plateau effect of ring"); 1 = none.
  double ring_plateau_factor = 1.0;
  /// YAML ep_link_efficiency: fraction of the scale-up line rate that expert-parallel dispatch/
  /// combine kernels storing straight from the SMs into peers' buffers (DeepEP) sustain; they
  /// are not NCCL, so efficiency.link (NCCL's busbw) does not describe them. Absent: unmeasured.
  std::optional<double> ep_link_efficiency;
  /// YAML ep_low_latency_kernel_ps: fixed cost of one DeepEP low-latency dispatch or combine
  /// kernel (launch and the ranks' signalling), on top of its transfers. Absent: unmeasured.
  std::optional<std::int64_t> ep_low_latency_kernel_ps;
};

struct chip_spec {
  std::string name;                          // YAML name
  std::string source;                        // YAML source
  chip_kind kind = chip_kind::gpu;           // YAML kind
  peak_flops peak_flops_per_s;               // YAML peak_flops_per_s
  double hbm_bytes = 0;                      // YAML hbm_bytes
  double hbm_bytes_per_s = 0;                // YAML hbm_bytes_per_s
  efficiency_factors efficiency;             // YAML efficiency (block optional, every key optional)
  scale_up_link scale_up;                    // YAML scale_up
  host_link_spec host_link;                  // YAML host_link
  std::optional<nic_spec> nic;               // YAML nic: absent on cards without a per-device NIC
  std::optional<double> price_usd_per_hour;  // YAML price_usd_per_hour
  std::string price_source;                  // YAML price_source
  std::optional<collective_protocol> collective;  // YAML collective
};

/// Checks ranges and internal consistency (positive capacities, efficiencies in (0, 1], a price
/// source whenever a price is given, ...). Throws std::invalid_argument naming the chip, the
/// field and the offending value. O(1).
void validate(const chip_spec& chip);

}  // namespace moesim::topo
