#include "sim/run/simulate.hpp"

#include <cmath>

#include "sim/run/drivers.hpp"
#include "sim/run/feasibility.hpp"
#include "sim/run/serve_instances.hpp"

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

}  // namespace

run_result simulate(const scenario& s, trace_recorder& trace, const run_options& opt) {
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

}  // namespace moesim::sim::run
