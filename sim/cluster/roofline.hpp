#pragma once
// Op timing by the roofline: an op is one or more kernels; each moves `bytes` through HBM and
// does `flops` on the chip's matrix units, and takes as long as the slower of the two at the
// chip's achievable rates, plus a fixed launch overhead:
//   time = max(flops / (peak * eff), bytes / (hbm_bw * hbm_eff)) + launch
// The rates are the chip preset's peak figures times its measured efficiency factors (one set
// per chip, shared by every scenario): GEMMs at the large-matmul factor of their number format
// (efficiency.compute for bf16, compute_fp8 for fp8), the scores-and-values part of attention at
// the fused attention kernels' factor (efficiency.attention; FlashAttention, FlashMLA), since
// those kernels reach a smaller fraction of peak than a plain GEMM.
//
// Memory-bound GEMMs over few rows: a GEMM whose weights are applied to few rows (a decode
// batch; a few tokens per expert in a grouped GEMM) cannot keep enough loads in flight to
// stream its weights at a STREAM copy's rate. When the chip preset has measured fp8 GEMMs'
// bandwidth by rows (efficiency.gemm_fp8_hbm) and the GEMMs run in fp8, an op_cost that names
// its `rows` moves its bytes at that bandwidth (linear in rows between the measured points, the
// nearest point's outside them) instead of efficiency.hbm.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sim/engine/time.hpp"
#include "topologies/chip_spec.hpp"

namespace moesim::sim::cluster {

enum class number_format { bf16, fp8, int8 };

/// Which achievable FLOP/s a kernel runs at.
enum class kernel_class : std::uint8_t { gemm, attention };

struct op_cost {
  double flops = 0;
  double bytes = 0;  ///< HBM traffic: weights read, activations and KV cache read/written
  kernel_class kernel = kernel_class::gemm;
  /// A GEMM's rows: the tokens each weight matrix is applied to (per expert for grouped
  /// expert GEMMs, the mean over the experts that have any). 0: not a weight-streaming GEMM,
  /// or unknown (bytes at hbm_bytes_per_s).
  double rows = 0;
};

/// One point of device_rates::gemm_hbm.
struct gemm_bandwidth {
  double rows = 0;
  double bytes_per_s = 0;
};

struct device_rates {
  double flops_per_s = 0;            ///< achievable by GEMMs, for the op's number format
  double attention_flops_per_s = 0;  ///< achievable by fused attention kernels
  double hbm_bytes_per_s = 0;        ///< achievable
  time_ps launch_ps = 0;
  /// Achievable bandwidth of GEMMs by rows, rows increasing (efficiency.gemm_fp8_hbm x
  /// hbm_bytes_per_s of the chip); empty unless GEMMs run in fp8 on a chip that has it.
  std::vector<gemm_bandwidth> gemm_hbm;
};

/// Achievable rates of `chip` for GEMMs in `format` and attention in `attention_format`. A
/// format the chip lacks (peak 0) falls back to the next wider one it has (fp8 -> bf16, int8 ->
/// bf16), as a runtime would upcast. An absent efficiency factor counts as 1 (peak), except
/// compute_fp8 (absent: efficiency.compute) and attention (absent: the GEMM factor of its
/// format); absent_efficiencies names them.
device_rates rates_for(const topo::chip_spec& chip, number_format format, time_ps launch_ps,
                       number_format attention_format = number_format::bf16);

/// The efficiency factors rates_for had to assume for `chip` ("hbm", "attention", ...).
[[nodiscard]] std::vector<std::string> absent_efficiencies(const topo::chip_spec& chip,
                                                           number_format format);

/// The bandwidth `cost`'s bytes move at: gemm_hbm at its rows for a GEMM with rows > 0 when
/// gemm_hbm has points (see the file comment), else hbm_bytes_per_s. O(points).
[[nodiscard]] double hbm_rate(const device_rates& rates, const op_cost& cost);

/// The run's approximation line for op times at these rates: the launch overhead, and the
/// measured GEMM bandwidth by rows when gemm_hbm has points.
[[nodiscard]] std::string roofline_approximation(const device_rates& rates);

/// Roofline time of one kernel; 0 for a kernel with no work.
time_ps op_time(const device_rates& rates, const op_cost& cost);
/// An op of several kernels run one after the other: the sum of their times.
time_ps op_time(const device_rates& rates, std::span<const op_cost> kernels);

/// Whether the op is limited by memory (true) or compute (false) at these rates.
bool memory_bound(const device_rates& rates, const op_cost& cost);

}  // namespace moesim::sim::cluster
