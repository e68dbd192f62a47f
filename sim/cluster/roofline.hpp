#pragma once
// Op timing by the roofline: an op moves `bytes` through HBM and does `flops` on the chip's
// matrix units; it takes as long as the slower of the two at the chip's achievable rates,
// plus a fixed launch overhead:
//   time = max(flops / (peak * compute_eff), bytes / (hbm_bw * hbm_eff)) + launch
// The rates are the chip preset's peak figures times its measured efficiency factors (one set
// per chip, shared by every scenario).
#include <string_view>

#include "sim/engine/time.hpp"
#include "topologies/chip_spec.hpp"

namespace moesim::sim::cluster {

enum class number_format { bf16, fp8, int8 };

struct op_cost {
  double flops = 0;
  double bytes = 0;  ///< HBM traffic: weights read, activations and KV cache read/written
};

struct device_rates {
  double flops_per_s = 0;      ///< achievable, for the op's number format
  double hbm_bytes_per_s = 0;  ///< achievable
  time_ps launch_ps = 0;
};

/// Achievable rates of `chip` for `format`. A format the chip lacks (peak 0) falls back to the
/// next wider one it has (fp8 -> bf16, int8 -> bf16), as a runtime would upcast. An absent
/// efficiency factor counts as 1 (peak): presets carry the measured ones.
device_rates rates_for(const topo::chip_spec& chip, number_format format, time_ps launch_ps);

/// Roofline time of one op; 0 for an op with no work.
time_ps op_time(const device_rates& rates, const op_cost& cost);

/// Whether the op is limited by memory (true) or compute (false) at these rates.
bool memory_bound(const device_rates& rates, const op_cost& cost);

}  // namespace moesim::sim::cluster
