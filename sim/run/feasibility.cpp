#include "sim/run/feasibility.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace moesim::sim::run {

long long cluster_devices(const topo::cluster_spec& c) noexcept {
  if (c.fabric == topo::fabric_kind::nvswitch) {
    return static_cast<long long>(c.nodes) * c.gpus_per_node;
  }
  long long n = c.slices;
  for (int a : c.shape) n *= a;
  return n;
}

void check_feasible(const scenario& s) {
  const auto& p = s.parallelism;
  const long long devices = cluster_devices(s.cluster);
  if (p.devices() != devices) {
    throw std::invalid_argument(fmt::format(
        "parallelism: tp {} x ep {} x dp {} x pp {} = {} devices, but cluster '{}' has {}", p.tp,
        p.ep, p.dp, p.pp, p.devices(), s.cluster.name, devices));
  }
  if (s.model.moe) {
    const int experts = s.model.moe->experts;
    if (experts % p.ep != 0) {
      std::string divisors;
      for (int d = 1; d <= experts; ++d) {
        if (experts % d == 0) divisors += (divisors.empty() ? "" : ", ") + std::to_string(d);
      }
      throw std::invalid_argument(fmt::format(
          "parallelism: ep {} does not divide the {} experts of {} (divisors: {})", p.ep,
          experts, s.model.name, divisors));
    }
  } else if (p.ep != 1) {
    throw std::invalid_argument(
        fmt::format("parallelism: ep {} needs an MoE model, and {} is dense", p.ep, s.model.name));
  }
  if (s.model.attention.heads % p.tp != 0) {
    throw std::invalid_argument(fmt::format(
        "parallelism: tp {} does not divide the {} attention heads of {}", p.tp,
        s.model.attention.heads, s.model.name));
  }
  if (s.model.layers % p.pp != 0) {
    throw std::invalid_argument(fmt::format(
        "parallelism: pp {} does not divide the {} layers of {}", p.pp, s.model.layers,
        s.model.name));
  }
  if (s.sampling.math_hidden > static_cast<std::uint32_t>(s.model.hidden)) {
    throw std::invalid_argument(fmt::format(
        "sampling: math_hidden {} exceeds the model's hidden size {}", s.sampling.math_hidden,
        s.model.hidden));
  }
}

}  // namespace moesim::sim::run
