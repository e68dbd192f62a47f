#include "sim/cluster/roofline.hpp"

#include <algorithm>
#include <stdexcept>

namespace moesim::sim::cluster {

device_rates rates_for(const topo::chip_spec& chip, number_format format, time_ps launch_ps) {
  const auto& p = chip.peak_flops_per_s;
  double peak = 0;
  switch (format) {
    case number_format::fp8:
      peak = p.fp8 > 0 ? p.fp8 : p.bf16;
      break;
    case number_format::int8:
      peak = p.int8 > 0 ? p.int8 : p.bf16;
      break;
    case number_format::bf16:
      peak = p.bf16 > 0 ? p.bf16 : std::max(p.fp8, p.int8);
      break;
  }
  if (!(peak > 0)) {
    throw std::invalid_argument("chip '" + chip.name + "' has no usable peak FLOP/s");
  }
  return {peak * chip.efficiency.compute.value_or(1.0),
          chip.hbm_bytes_per_s * chip.efficiency.hbm.value_or(1.0), launch_ps};
}

time_ps op_time(const device_rates& r, const op_cost& c) {
  if (c.flops <= 0 && c.bytes <= 0) return 0;
  const double s = std::max(c.flops / r.flops_per_s, c.bytes / r.hbm_bytes_per_s);
  return ps_from_seconds(s) + r.launch_ps;
}

bool memory_bound(const device_rates& r, const op_cost& c) {
  return c.bytes / r.hbm_bytes_per_s > c.flops / r.flops_per_s;
}

}  // namespace moesim::sim::cluster
