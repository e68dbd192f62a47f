#include "topologies/chip_spec.hpp"

#include <stdexcept>

namespace moesim::topo {

std::string_view to_string(chip_kind kind) noexcept {
  return kind == chip_kind::gpu ? "gpu" : "tpu";
}

chip_kind parse_chip_kind(std::string_view text) {
  if (text == "gpu") return chip_kind::gpu;
  if (text == "tpu") return chip_kind::tpu;
  throw std::invalid_argument("chip kind: expected gpu or tpu, got '" + std::string(text) + "'");
}

namespace {

[[noreturn]] void fail(const chip_spec& chip, std::string_view field, std::string_view expected,
                       double value) {
  throw std::invalid_argument("chip '" + chip.name + "': " + std::string(field) + " must be " +
                              std::string(expected) + ", got " + std::to_string(value));
}

void require_positive(const chip_spec& chip, std::string_view field, double value) {
  if (!(value > 0)) fail(chip, field, "> 0", value);
}

void require_non_negative(const chip_spec& chip, std::string_view field, double value) {
  if (!(value >= 0)) fail(chip, field, ">= 0", value);
}

void require_fraction(const chip_spec& chip, std::string_view field,
                      const std::optional<double>& value) {
  if (value && !(*value > 0 && *value <= 1)) fail(chip, field, "in (0, 1]", *value);
}

void validate_costs(const chip_spec& chip, const std::string& block, const protocol_costs& c) {
  require_non_negative(chip, block + ".launch_overhead_ps",
                       static_cast<double>(c.launch_overhead_ps));
  require_non_negative(chip, block + ".scale_up_step_latency_ps",
                       static_cast<double>(c.scale_up_step_latency_ps));
  require_non_negative(chip, block + ".scale_out_step_latency_ps",
                       static_cast<double>(c.scale_out_step_latency_ps));
  if (c.max_bus_bytes_per_s)
    require_positive(chip, block + ".max_bus_bytes_per_s", *c.max_bus_bytes_per_s);
}

}  // namespace

std::optional<double> efficiency_factor(const efficiency_factors& e, std::string_view name) {
  if (name == "compute") return e.compute;
  if (name == "compute_fp8") return e.compute_fp8;
  if (name == "hbm") return e.hbm;
  if (name == "attention") return e.attention;
  if (name == "link") return e.link;
  if (name == "nic") return e.nic;
  throw std::invalid_argument("unknown efficiency factor '" + std::string(name) + "'");
}

void validate(const chip_spec& chip) {
  if (chip.name.empty()) throw std::invalid_argument("chip: name must not be empty");
  if (chip.source.empty())
    throw std::invalid_argument("chip '" + chip.name +
                                "': source must name where the data is from");
  require_non_negative(chip, "peak_flops_per_s.bf16", chip.peak_flops_per_s.bf16);
  require_non_negative(chip, "peak_flops_per_s.fp16", chip.peak_flops_per_s.fp16);
  require_non_negative(chip, "peak_flops_per_s.fp8", chip.peak_flops_per_s.fp8);
  require_non_negative(chip, "peak_flops_per_s.int8", chip.peak_flops_per_s.int8);
  if (chip.peak_flops_per_s.bf16 + chip.peak_flops_per_s.fp16 + chip.peak_flops_per_s.fp8 +
          chip.peak_flops_per_s.int8 <=
      0)
    fail(chip, "peak_flops_per_s", "non-zero for at least one format", 0);
  require_positive(chip, "hbm_bytes", chip.hbm_bytes);
  require_positive(chip, "hbm_bytes_per_s", chip.hbm_bytes_per_s);
  for (const char* name : efficiency_factor_names) {
    require_fraction(chip, std::string("efficiency.") + name,
                     efficiency_factor(chip.efficiency, name));
  }
  for (const auto& sib : chip.efficiency.siblings) {
    if (sib.chip.empty() || sib.chip == chip.name)
      throw std::invalid_argument("chip '" + chip.name +
                                  "': efficiency.siblings[].chip must name another chip preset");
    for (const auto& f : sib.factors) {
      if (!efficiency_factor(chip.efficiency, f))
        throw std::invalid_argument("chip '" + chip.name + "': efficiency.siblings names '" + f +
                                    "', which the efficiency block does not set");
    }
  }
  const auto& gemm = chip.efficiency.gemm_fp8_hbm;
  for (std::size_t i = 0; i < gemm.size(); ++i) {
    const std::string at = "efficiency.gemm_fp8_hbm[" + std::to_string(i) + "]";
    if (!(gemm[i].rows > 0)) fail(chip, at + ".rows", "> 0", gemm[i].rows);
    require_fraction(chip, at + ".hbm", gemm[i].hbm);
    if (i > 0 && !(gemm[i].rows > gemm[i - 1].rows))
      fail(chip, at + ".rows", "above the previous point's rows", gemm[i].rows);
  }
  if (chip.scale_up.links_per_chip < 0)
    fail(chip, "scale_up.links_per_chip", ">= 0", chip.scale_up.links_per_chip);
  if (chip.scale_up.links_per_chip > 0) {
    require_positive(chip, "scale_up.link_bytes_per_s", chip.scale_up.link_bytes_per_s);
    require_non_negative(chip, "scale_up.hop_latency_ps",
                         static_cast<double>(chip.scale_up.hop_latency_ps));
  }
  if (chip.efficiency.link && chip.scale_up.links_per_chip == 0)
    fail(chip, "efficiency.link", "absent when there are no scale-up links", *chip.efficiency.link);
  require_positive(chip, "host_link.bytes_per_s", chip.host_link.bytes_per_s);
  require_non_negative(chip, "host_link.latency_ps",
                       static_cast<double>(chip.host_link.latency_ps));
  require_non_negative(chip, "host_link.copy_bytes_per_s", chip.host_link.copy_bytes_per_s);
  if (chip.host_link.copy_bytes_per_s > chip.host_link.bytes_per_s)
    fail(chip, "host_link.copy_bytes_per_s", "<= host_link.bytes_per_s (line rate)",
         chip.host_link.copy_bytes_per_s);
  if (chip.host_link.pcie_gen < 0)
    fail(chip, "host_link.pcie_gen", ">= 0", chip.host_link.pcie_gen);
  if (chip.nic) {
    if (chip.nic->chips_per_nic < 1)
      fail(chip, "nic.chips_per_nic", ">= 1", chip.nic->chips_per_nic);
    require_positive(chip, "nic.bytes_per_s", chip.nic->bytes_per_s);
    require_non_negative(chip, "nic.latency_ps", static_cast<double>(chip.nic->latency_ps));
  }
  if (chip.efficiency.nic && !chip.nic)
    fail(chip, "efficiency.nic", "absent when the chip has no nic", *chip.efficiency.nic);
  if (chip.price_usd_per_hour) {
    require_positive(chip, "price_usd_per_hour", *chip.price_usd_per_hour);
    if (chip.price_source.empty())
      throw std::invalid_argument("chip '" + chip.name +
                                  "': price_source must say where price_usd_per_hour is from");
  }
  if (const auto& c = chip.collective) {
    if (!(c->ll_efficiency > 0 && c->ll_efficiency <= 1))
      fail(chip, "collective.ll_efficiency", "in (0, 1]", c->ll_efficiency);
    if (!(c->ll128_efficiency > 0 && c->ll128_efficiency <= 1))
      fail(chip, "collective.ll128_efficiency", "in (0, 1]", c->ll128_efficiency);
    require_non_negative(chip, "collective.launch_overhead_ps",
                         static_cast<double>(c->launch_overhead_ps));
    require_non_negative(chip, "collective.scale_up_step_latency_ps",
                         static_cast<double>(c->scale_up_step_latency_ps));
    require_non_negative(chip, "collective.scale_out_step_latency_ps",
                         static_cast<double>(c->scale_out_step_latency_ps));
    if (c->ll) validate_costs(chip, "collective.ll", *c->ll);
    if (c->ll128) validate_costs(chip, "collective.ll128", *c->ll128);
    if (!(c->nvls_efficiency >= 0 && c->nvls_efficiency <= 1))
      fail(chip, "collective.nvls_efficiency", "in [0, 1]", c->nvls_efficiency);
    require_non_negative(chip, "collective.nvls_latency_ps",
                         static_cast<double>(c->nvls_latency_ps));
    if (!(c->ring_plateau_factor >= 1))
      fail(chip, "collective.ring_plateau_factor", ">= 1", c->ring_plateau_factor);
    if (c->ep_low_latency_kernel_ps)
      require_non_negative(chip, "collective.ep_low_latency_kernel_ps",
                           static_cast<double>(*c->ep_low_latency_kernel_ps));
    require_fraction(chip, "collective.ep_link_efficiency", c->ep_link_efficiency);
    if (c->ep_link_efficiency && chip.scale_up.links_per_chip == 0)
      fail(chip, "collective.ep_link_efficiency", "absent when there are no scale-up links",
           *c->ep_link_efficiency);
  }
}

}  // namespace moesim::topo
