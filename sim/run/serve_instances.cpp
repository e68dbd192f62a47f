#include "sim/run/serve_instances.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "sim/run/feasibility.hpp"

namespace moesim::sim::run {

namespace {

const moesim::serve::serve_role& role_of(const scenario& s, serve_role_kind r) {
  const auto& d = *s.workload.serve->disaggregation;
  return r == serve_role_kind::prefill ? d.prefill : d.decode;
}

}  // namespace

const char* to_string(serve_role_kind r) noexcept {
  return r == serve_role_kind::prefill ? "prefill" : "decode";
}

std::string instance_placement::name() const {
  return fmt::format("{} {}", to_string(role), index);
}

std::vector<instance_placement> place_instances(const scenario& s) {
  if (!s.workload.serve || !s.workload.serve->disaggregation) {
    throw std::invalid_argument("workload: serve.disaggregation is not set");
  }
  if (s.cluster.fabric != topo::fabric_kind::nvswitch) {
    throw std::invalid_argument(
        "workload: serve.disaggregation places instances on NVSwitch nodes: it needs a GPU "
        "cluster (fabric nvswitch)");
  }
  const long long node = s.cluster.gpus_per_node;
  const long long total = cluster_devices(s.cluster);
  std::vector<instance_placement> out;
  long long next = 0;
  for (const serve_role_kind r : {serve_role_kind::prefill, serve_role_kind::decode}) {
    const auto& role = role_of(s, r);
    const long long per = static_cast<long long>(role.parallelism.tp) * role.parallelism.ep;
    if (per % node != 0 && node % per != 0) {
      throw std::invalid_argument(fmt::format(
          "workload: serve.disaggregation.{}: an instance of tp {} x ep {} = {} devices must be "
          "whole nodes of {} GPUs or divide one",
          to_string(r), role.parallelism.tp, role.parallelism.ep, per, node));
    }
    for (std::uint32_t i = 0; i < role.instances; ++i) {
      out.push_back(
          {r, static_cast<int>(i), static_cast<topo::device_id>(next), static_cast<int>(per)});
      next += per;
    }
  }
  const auto& d = *s.workload.serve->disaggregation;
  if (next != total) {
    throw std::invalid_argument(fmt::format(
        "workload: serve.disaggregation: {} prefill instance(s) x {} devices + {} decode "
        "instance(s) x {} devices = {} devices, but the cluster has {} ({} too {}): the "
        "instances must use every device",
        d.prefill.instances, d.prefill.parallelism.tp * d.prefill.parallelism.ep,
        d.decode.instances, d.decode.parallelism.tp * d.decode.parallelism.ep, next, total,
        next > total ? next - total : total - next, next > total ? "many" : "few"));
  }
  return out;
}

scenario instance_scenario(const scenario& s, const instance_placement& p) {
  scenario out = s;
  const auto& role = role_of(s, p.role);
  parallel_config par;
  par.tp = role.parallelism.tp;
  par.ep = role.parallelism.ep;
  out.parallelism = par;
  auto& serve = *out.workload.serve;
  if (role.scheduler) serve.scheduler = *role.scheduler;
  if (role.exchange) out.moe.exchange = *role.exchange;
  serve.disaggregation.reset();
  if (p.devices >= s.cluster.gpus_per_node) {
    out.cluster.nodes = p.devices / s.cluster.gpus_per_node;
  } else {
    out.cluster.nodes = 1;
    out.cluster.gpus_per_node = p.devices;
    out.cluster.gpus_per_host = std::min(out.cluster.gpus_per_host, p.devices);
  }
  // Distinct routing draws per instance: instance k of the run (prefill first) adds k + 1
  // times a large odd constant to the seed.
  const std::uint64_t k =
      static_cast<std::uint64_t>(p.index) +
      (p.role == serve_role_kind::decode ? s.workload.serve->disaggregation->prefill.instances
                                         : 0U);
  out.seed = s.seed + (k + 1) * 0x9E3779B97F4A7C15ULL;
  return out;
}

scenario whole_cluster(const scenario& s) {
  scenario out = s;
  out.parallelism = parallel_config{};
  out.parallelism.ep = static_cast<int>(cluster_devices(s.cluster));
  return out;
}

void check_disaggregation(const scenario& s) {
  const parallel_config& p = s.parallelism;
  if (p.tp != 1 || p.ep != 1 || p.dp != 1 || p.pp != 1 || p.vp != 1) {
    throw std::invalid_argument(fmt::format(
        "parallelism: not used with workload.serve.disaggregation, whose prefill and decode "
        "roles each give their instances' parallelism (got tp {} ep {} dp {} pp {}); remove it",
        p.tp, p.ep, p.dp, p.pp));
  }
  for (const instance_placement& at : place_instances(s)) {
    if (at.index > 0) continue;  // the role's instances are alike
    try {
      check_feasible(instance_scenario(s, at));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(
          fmt::format("workload: serve.disaggregation.{}: {}", to_string(at.role), e.what()));
    }
  }
}

}  // namespace moesim::sim::run
