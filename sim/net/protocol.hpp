#pragma once
// The collective library's protocols and their costs, as the chip preset names them
// (topo::collective_protocol), in the units the collective executor uses.
//
// NCCL moves data with one of three protocols (NVIDIA/nccl src/graph/tuning.cc; the protocol
// design in NVIDIA/nccl issue #281, NCCL maintainer): Simple (bulk copies, a memory fence and a
// flag per step: full bandwidth, the highest latency), LL (8-byte stores of 4 data bytes and a
// 4-byte flag: half the bandwidth, the lowest latency) and LL128 (128-byte lines of 120 data
// bytes and a flag, over NVLink only). NCCL's tuner times every (algorithm, protocol) pair as
//     base latency per call + steps x per-step latency + bytes / bandwidth
// and runs the fastest; the executor (collectives.hpp) plays the same costs against the network
// model's bandwidth: per call `launch_overhead_ps`, per step `*_step_latency_ps` (the wire part
// of which the flows already take), and the bytes divided by the protocol's payload fraction.
// LL's payload fraction inside one scale-up domain is further capped by NCCL's llMaxBw
// (`max_bus_bytes_per_s`); across nodes NCCL caps it by the host CPU's type, which the presets do
// not describe, so it is not capped there. NCCL's per-channel LL128 cap (perChMaxRingLL128Bw x
// channels) exceeds 0.92 x the NVLink rate on every preset and is left out.
//
// Units: times in integer picoseconds, bandwidths in bytes/s, fractions in (0, 1].
#include <optional>
#include <string_view>

#include "sim/engine/time.hpp"
#include "sim/net/network.hpp"
#include "topologies/chip_spec.hpp"

namespace moesim::sim::net {

enum class protocol : std::uint8_t { simple, ll, ll128 };

/// "Simple", "LL", "LL128" (NCCL's names).
[[nodiscard]] std::string_view to_string(protocol p) noexcept;

/// Fixed costs of one protocol.
struct protocol_latency {
  time_ps launch_overhead_ps = 0;         ///< per collective call
  time_ps scale_up_step_latency_ps = 0;   ///< per step inside the scale-up domain (wire included)
  time_ps scale_out_step_latency_ps = 0;  ///< per step crossing InfiniBand / DCN (wire included)
};

/// The chip preset's collective parameters. A default-constructed value has no fixed costs, no
/// LL / LL128 / NVLS and links at line rate.
struct collective_params {
  double ll_efficiency = 0;     ///< payload fraction of LL; 0: LL unavailable
  double ll128_efficiency = 0;  ///< payload fraction of LL128; 0: LL128 unavailable
  /// LL's payload fraction on scale-up-only steps after NCCL's llMaxBw ceiling:
  /// min(ll_efficiency, ceiling / scale-up port rate); 0: ll_efficiency.
  double ll_scale_up_efficiency = 0;
  double nvls_efficiency = 0;      ///< 0: no in-switch reduction
  time_ps launch_overhead_ps = 0;  ///< Simple
  time_ps scale_up_step_latency_ps = 0;
  time_ps scale_out_step_latency_ps = 0;
  protocol_latency ll;
  protocol_latency ll128;
  /// Fixed cost of one NVLS all-reduce in place of launch and step latencies; 0: Simple's.
  time_ps nvls_latency_ps = 0;
  /// Simple ring all-reduce across nodes: fixed costs x this (NCCL's ring plateau).
  double ring_plateau_factor = 1.0;
  double scale_up_efficiency = 1.0;   ///< efficiency.link (1 when the preset has none)
  double scale_out_efficiency = 1.0;  ///< efficiency.nic (1 when the preset has none)
  /// collective.ep_link_efficiency: scale-up efficiency of DeepEP-style expert dispatch/combine
  /// kernels (absent when the preset has no measurement for them).
  std::optional<double> ep_scale_up_efficiency;
  /// collective.ep_low_latency_kernel_ps: fixed cost of one DeepEP low-latency kernel.
  std::optional<time_ps> ep_low_latency_kernel_ps;
};

/// Reads chip.collective and chip.efficiency; a chip without a collective block gets no launch
/// overhead, no step latency, no LL, LL128 or NVLS (TPU runtimes publish none of these). LL
/// without an `ll` block pays Simple's launch overhead and only the wire per step; LL128 needs
/// an `ll128` block and scale-up links (NCCL enables LL128 over NVLink only). O(1).
[[nodiscard]] collective_params collective_params_for(const topo::chip_spec& chip);
/// Network parameters for `model` with the chip's link and NIC efficiencies.
[[nodiscard]] network_params network_params_for(const collective_params& p, timing_model model);

/// Whether `proto` can run: LL and LL128 need their payload fraction.
[[nodiscard]] bool available(const collective_params& p, protocol proto) noexcept;
/// The fixed costs of `proto` (Simple's from the flat fields).
[[nodiscard]] protocol_latency latency_of(const collective_params& p, protocol proto) noexcept;
/// Payload fraction of `proto` on a step that crosses the scale-out network or not (1 for
/// Simple). Requires available(p, proto).
[[nodiscard]] double payload_fraction(const collective_params& p, protocol proto,
                                      bool scale_out) noexcept;

}  // namespace moesim::sim::net
