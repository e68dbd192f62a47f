#include "sim/run/simulate.hpp"

#include <cmath>

#include "sim/run/drivers.hpp"
#include "sim/run/feasibility.hpp"
#include "sim/run/machine.hpp"
#include "sim/run/serve_instances.hpp"
#include "topologies/cluster.hpp"

namespace moesim::sim::run {

namespace {

// The plan the feasibility check accepted, per stage, in whole bytes.
std::vector<memory_breakdown> memory_of(const scenario& s) {
  std::vector<memory_breakdown> out;
  for (const cluster::memory_plan& plan : stage_memory_plans(s)) {
    memory_breakdown m{plan.device,
                       plan.stage,
                       std::llround(s.chip.hbm_bytes),
                       std::llround(plan.total_bytes),
                       {}};
    for (const auto& item : plan.items) m.items.emplace_back(item.name, std::llround(item.bytes));
    out.push_back(std::move(m));
  }
  return out;
}

run_result simulate_once(const scenario& s, trace_recorder& trace, const run_options& opt);

// What a fault hit, for people: "dev0<->dev1 (ici)", "dev3".
std::string fault_target(const fault_event& f, const topo::topology& topo) {
  if (f.device) return topo.name(*f.device);  // straggler, device_loss
  const auto links = link_faults_of(std::span(&f, 1), topo);
  const topo::link_info& l = topo.link(links.front().link);
  return topo.name(l.src) + "<->" + topo.name(l.dst) + " (" + std::string(topo::to_string(l.kind)) +
         ")";
}

// The `faults` report (faults.hpp): the fault-free run of the same scenario and seed, and with
// several faults each fault alone, without a trace and with opt's thread count.
fault_report report_faults(const scenario& s, const run_result& with, const run_options& opt) {
  run_options quiet;
  quiet.threads = opt.threads;
  trace_recorder none(false);
  const auto step_time = [&](std::vector<fault_event> faults) {
    scenario b = s;
    b.faults = std::move(faults);
    return simulate_once(b, none, quiet);
  };
  const run_result base = step_time({});
  fault_report rep;
  rep.baseline_step_time_s = base.step_time_s;
  rep.baseline_tokens_per_s = base.tokens_per_s;
  rep.step_time_s = with.step_time_s;
  rep.tokens_per_s = with.tokens_per_s;
  rep.slowdown = base.step_time_s > 0 ? with.step_time_s / base.step_time_s : 0;
  rep.throughput_loss = base.tokens_per_s > 0 ? 1 - with.tokens_per_s / base.tokens_per_s : 0;
  const topo::topology topo = topo::build_cluster(s.cluster, s.chip);
  for (std::size_t i = 0; i < s.faults.size(); ++i) {
    fault_row row;
    row.event = s.faults[i];
    row.hit = fault_target(s.faults[i], topo);
    row.step_time_alone_s =
        s.faults.size() == 1 ? with.step_time_s : step_time({s.faults[i]}).step_time_s;
    row.slowdown = base.step_time_s > 0 ? row.step_time_alone_s / base.step_time_s : 0;
    if (i < with.fault_flows_hit.size()) row.flows_hit = with.fault_flows_hit[i];
    for (const device_loss_report& d : with.device_losses) {
      if (d.fault == i) row.device_loss = d;
    }
    rep.faults.push_back(std::move(row));
  }
  return rep;
}

}  // namespace

run_result simulate(const scenario& s, trace_recorder& trace, const run_options& opt) {
  run_result r = simulate_once(s, trace, opt);
  if (!s.faults.empty()) r.faults = report_faults(s, r, opt);
  return r;
}

namespace {

run_result simulate_once(const scenario& s, trace_recorder& trace, const run_options& opt) {
  run_result r = s.workload.kind == workload_kind::train   ? simulate_training(s, trace, opt)
                 : s.workload.kind == workload_kind::serve ? simulate_serving(s, trace, opt)
                                                           : simulate_fixed_batch(s, trace, opt);
  if (s.workload.serve && s.workload.serve->disaggregation) {
    // Each role's instances hold alike: the first of each, at its cluster device.
    for (const instance_placement& p : place_instances(s)) {
      if (p.index > 0) continue;
      for (memory_breakdown& m : memory_of(instance_scenario(s, p))) {
        m.device += p.first_device;
        r.memory.push_back(std::move(m));
      }
    }
    return r;
  }
  r.memory = memory_of(s);
  return r;
}

}  // namespace

}  // namespace moesim::sim::run
