#include "sim/net/protocol.hpp"

#include <algorithm>

namespace moesim::sim::net {

std::string_view to_string(protocol p) noexcept {
  switch (p) {
    case protocol::ll:
      return "LL";
    case protocol::ll128:
      return "LL128";
    case protocol::simple:
      break;
  }
  return "Simple";
}

namespace {

protocol_latency latency_from(const topo::protocol_costs& c) {
  return {c.launch_overhead_ps, c.scale_up_step_latency_ps, c.scale_out_step_latency_ps};
}

}  // namespace

collective_params collective_params_for(const topo::chip_spec& chip) {
  collective_params p;
  p.scale_up_efficiency = chip.efficiency.link.value_or(1.0);
  p.scale_out_efficiency = chip.efficiency.nic.value_or(1.0);
  if (!chip.collective) return p;
  const auto& c = *chip.collective;
  p.ll_efficiency = c.ll_efficiency;
  p.nvls_efficiency = c.nvls_efficiency;
  p.launch_overhead_ps = c.launch_overhead_ps;
  p.scale_up_step_latency_ps = c.scale_up_step_latency_ps;
  p.scale_out_step_latency_ps = c.scale_out_step_latency_ps;
  p.ll = c.ll ? latency_from(*c.ll) : protocol_latency{c.launch_overhead_ps, 0, 0};
  const double port = chip.scale_up.links_per_chip * chip.scale_up.link_bytes_per_s;
  if (c.ll && c.ll->max_bus_bytes_per_s && port > 0) {
    p.ll_scale_up_efficiency =
        std::min(c.ll_efficiency, *c.ll->max_bus_bytes_per_s / (port * p.scale_up_efficiency));
  }
  if (c.ll128 && chip.scale_up.links_per_chip > 0) {
    p.ll128_efficiency = c.ll128_efficiency;
    p.ll128 = latency_from(*c.ll128);
  }
  p.nvls_latency_ps = c.nvls_latency_ps;
  p.ring_plateau_factor = c.ring_plateau_factor;
  p.ep_scale_up_efficiency = c.ep_link_efficiency;
  p.ep_low_latency_kernel_ps = c.ep_low_latency_kernel_ps;
  return p;
}

network_params network_params_for(const collective_params& p, timing_model model) {
  network_params n;
  n.model = model;
  n.scale_up_efficiency = p.scale_up_efficiency;
  n.scale_out_efficiency = p.scale_out_efficiency;
  return n;
}

bool available(const collective_params& p, protocol proto) noexcept {
  switch (proto) {
    case protocol::ll:
      return p.ll_efficiency > 0;
    case protocol::ll128:
      return p.ll128_efficiency > 0;
    case protocol::simple:
      break;
  }
  return true;
}

protocol_latency latency_of(const collective_params& p, protocol proto) noexcept {
  switch (proto) {
    case protocol::ll:
      return p.ll;
    case protocol::ll128:
      return p.ll128;
    case protocol::simple:
      break;
  }
  return {p.launch_overhead_ps, p.scale_up_step_latency_ps, p.scale_out_step_latency_ps};
}

double payload_fraction(const collective_params& p, protocol proto, bool scale_out) noexcept {
  switch (proto) {
    case protocol::ll:
      return scale_out || !(p.ll_scale_up_efficiency > 0) ? p.ll_efficiency
                                                          : p.ll_scale_up_efficiency;
    case protocol::ll128:
      return p.ll128_efficiency;
    case protocol::simple:
      break;
  }
  return 1.0;
}

}  // namespace moesim::sim::net
