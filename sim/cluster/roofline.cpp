#include "sim/cluster/roofline.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace moesim::sim::cluster {

namespace {

double peak_of(const topo::chip_spec& chip, number_format format) {
  const auto& p = chip.peak_flops_per_s;
  switch (format) {
    case number_format::fp8:
      return p.fp8 > 0 ? p.fp8 : p.bf16;
    case number_format::int8:
      return p.int8 > 0 ? p.int8 : p.bf16;
    case number_format::bf16:
      break;
  }
  return p.bf16 > 0 ? p.bf16 : std::max(p.fp8, p.int8);
}

bool runs_as_fp8(const topo::chip_spec& chip, number_format format) {
  return format == number_format::fp8 && chip.peak_flops_per_s.fp8 > 0;
}

/// The large-matmul factor of `format` on `chip`: compute_fp8 for fp8 when the chip has both.
std::optional<double> gemm_efficiency(const topo::chip_spec& chip, number_format format) {
  const auto& e = chip.efficiency;
  return runs_as_fp8(chip, format) && e.compute_fp8 ? e.compute_fp8 : e.compute;
}

}  // namespace

device_rates rates_for(const topo::chip_spec& chip, number_format format, time_ps launch_ps,
                       number_format attention_format) {
  const double peak = peak_of(chip, format);
  if (!(peak > 0)) {
    throw std::invalid_argument("chip '" + chip.name + "' has no usable peak FLOP/s");
  }
  const double attention_eff = chip.efficiency.attention
                                   ? *chip.efficiency.attention
                                   : gemm_efficiency(chip, attention_format).value_or(1.0);
  device_rates r{peak * gemm_efficiency(chip, format).value_or(1.0),
                 peak_of(chip, attention_format) * attention_eff,
                 chip.hbm_bytes_per_s * chip.efficiency.hbm.value_or(1.0),
                 launch_ps,
                 {}};
  if (runs_as_fp8(chip, format)) {
    for (const auto& p : chip.efficiency.gemm_fp8_hbm)
      r.gemm_hbm.push_back({p.rows, p.hbm * chip.hbm_bytes_per_s});
  }
  return r;
}

double hbm_rate(const device_rates& r, const op_cost& c) {
  const auto& g = r.gemm_hbm;
  if (g.empty() || c.kernel != kernel_class::gemm || !(c.rows > 0)) return r.hbm_bytes_per_s;
  if (c.rows <= g.front().rows) return g.front().bytes_per_s;
  if (c.rows >= g.back().rows) return g.back().bytes_per_s;
  const auto hi = std::find_if(g.begin(), g.end(), [&](const auto& p) { return p.rows >= c.rows; });
  const auto lo = hi - 1;
  const double t = (c.rows - lo->rows) / (hi->rows - lo->rows);
  return lo->bytes_per_s + t * (hi->bytes_per_s - lo->bytes_per_s);
}

std::vector<std::string> absent_efficiencies(const topo::chip_spec& chip, number_format format) {
  std::vector<std::string> out;
  const auto& e = chip.efficiency;
  if (!e.compute) out.emplace_back("compute");
  if (runs_as_fp8(chip, format) && !e.compute_fp8) out.emplace_back("compute_fp8");
  if (!e.hbm) out.emplace_back("hbm");
  if (!e.attention) out.emplace_back("attention");
  return out;
}

std::string roofline_approximation(const device_rates& r) {
  std::string text = fmt::format("op times by roofline with {} us launch overhead per op",
                                 static_cast<double>(r.launch_ps) / ps_per_us);
  if (!r.gemm_hbm.empty()) {
    text += fmt::format(
        "; fp8 GEMMs stream weights at the bandwidth measured for their rows (chip "
        "efficiency.gemm_fp8_hbm, {:g} to {:g} rows; the nearest point's outside them), expert "
        "GEMMs at their mean tokens per active expert",
        r.gemm_hbm.front().rows, r.gemm_hbm.back().rows);
  }
  return text;
}

time_ps op_time(const device_rates& r, const op_cost& c) {
  if (c.flops <= 0 && c.bytes <= 0) return 0;
  const double rate = c.kernel == kernel_class::attention ? r.attention_flops_per_s : r.flops_per_s;
  const double s = std::max(c.flops / rate, c.bytes / hbm_rate(r, c));
  return ps_from_seconds(s) + r.launch_ps;
}

time_ps op_time(const device_rates& r, std::span<const op_cost> kernels) {
  time_ps t = 0;
  for (const auto& k : kernels) t += op_time(r, k);
  return t;
}

bool memory_bound(const device_rates& r, const op_cost& c) {
  const double rate = c.kernel == kernel_class::attention ? r.attention_flops_per_s : r.flops_per_s;
  return c.bytes / hbm_rate(r, c) > c.flops / rate;
}

}  // namespace moesim::sim::cluster
