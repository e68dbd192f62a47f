#include "sim/run/simulate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>

#include "models/model_params.hpp"
#include "sim/run/drivers.hpp"
#include "sim/run/fault_rates.hpp"
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

// The stages of two breakdowns of the same scenario whose times differ by more than 1 ps, in
// order of the largest increase (ties: the breakdown's own order). A stage only one side has
// counts as 0 on the other.
std::vector<stage_delta> changed_stages(const breakdown& base, const breakdown& with) {
  std::vector<stage_delta> out;
  const auto find = [](const breakdown& b, const std::string& k) {
    for (const auto& [name, v] : b)
      if (name == k) return v;
    return 0.0;
  };
  for (const auto& [k, v] : with) out.push_back({k, find(base, k), v});
  for (const auto& entry : base) {  // not a structured binding: clang 14 cannot capture one
    const bool seen = std::any_of(out.begin(), out.end(),
                                  [&](const stage_delta& d) { return d.stage == entry.first; });
    if (!seen) out.push_back({entry.first, entry.second, 0.0});
  }
  constexpr double picosecond = 1e-12;
  std::erase_if(
      out, [](const stage_delta& d) { return std::abs(d.faulted_s - d.baseline_s) <= picosecond; });
  std::stable_sort(out.begin(), out.end(), [](const stage_delta& a, const stage_delta& b) {
    return a.faulted_s - a.baseline_s > b.faulted_s - b.baseline_s;
  });
  return out;
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
  rep.stages = changed_stages(base.breakdown_s, with.breakdown_s);
  const topo::topology topo = topo::build_cluster(s.cluster, s.chip);
  for (std::size_t i = 0; i < s.faults.size(); ++i) {
    fault_row row;
    row.event = s.faults[i];
    row.hit = fault_target(s.faults[i], topo);
    const run_result alone = s.faults.size() == 1 ? run_result{} : step_time({s.faults[i]});
    const run_result& r = s.faults.size() == 1 ? with : alone;
    row.step_time_alone_s = r.step_time_s;
    row.stages = changed_stages(base.breakdown_s, r.breakdown_s);
    row.slowdown = base.step_time_s > 0 ? row.step_time_alone_s / base.step_time_s : 0;
    if (i < with.fault_flows_hit.size()) row.flows_hit = with.fault_flows_hit[i];
    for (const device_loss_report& d : with.device_losses) {
      if (d.fault == i) row.device_loss = d;
    }
    rep.faults.push_back(std::move(row));
  }
  return rep;
}

// A checkpoint's bytes: the weights in their dtype and mixed-precision Adam's fp32 master
// weights and two moments (12 B per parameter; MTP modules excluded).
double checkpoint_bytes(const scenario& s) {
  return models::weight_bytes(s.model) + 12.0 * static_cast<double>(models::total_params(s.model));
}

// workload.training.resilience: the fault-free step simulated once, then the long job played
// over it (resilience.hpp) with the faults expanded from their rates.
run_result simulate_resilience(const scenario& s, const resilience_config& c, trace_recorder& trace,
                               const run_options& opt) {
  scenario base = s;
  base.faults.clear();
  run_result r = simulate_once(base, trace, opt);
  const topo::topology topo = topo::build_cluster(s.cluster, s.chip);
  const fault_targets targets = targets_of(topo);
  const double horizon_s = c.run_hours * 3600;
  std::vector<resilience_event> events;
  for (timed_fault& t : expand_faults(s.faults, targets, s.seed, horizon_s)) {
    resilience_event e;
    e.hit = fault_target(t.event, topo);
    e.event = std::move(t.event);
    e.item = t.item;
    e.from_rate = t.from_rate;
    events.push_back(std::move(e));
  }
  const double bytes = c.storage_bytes_per_s ? checkpoint_bytes(s) : 0;
  const double write_s = c.checkpoint_write_s.value_or(bytes / c.storage_bytes_per_s.value_or(1));
  run_options quiet;
  quiet.threads = opt.threads;
  const step_time_with with = [&](std::span<const fault_event> faults) {
    scenario b = s;
    b.faults.assign(faults.begin(), faults.end());
    trace_recorder none(false);
    return simulate_once(b, none, quiet).step_time_s;
  };
  resilience_report rep = play_resilience(c, write_s, r.step_time_s, std::move(events), with);
  rep.checkpoint_bytes = bytes;
  double failure_rate = 0;  // device losses per second, of every device_loss rate item
  for (const fault_event& f : s.faults) {
    if (f.kind == fault_kind::device_loss && f.mtbf_h) {
      failure_rate += static_cast<double>(target_count(f, targets)) / (*f.mtbf_h * 3600);
    }
  }
  if (failure_rate > 0) {
    rep.young_daly = young_daly(1 / failure_rate, c.checkpoint_interval_s, write_s, c.restart_s);
  }
  r.approximations.push_back(fmt::format(
      "resilience: every step of the {:g}-hour job takes the simulated step time ({:.6g} s; with "
      "stragglers or link faults, the step simulated with them from its start), not a "
      "re-simulation of each step's network",
      c.run_hours, r.step_time_s));
  r.resilience = std::move(rep);
  return r;
}

// A serving run with faults at a rate: those items drawn over the arrival window
// (fault_rates.hpp; the loader refused them without one), faults at a time kept whenever they
// fall (the run drains past the window), then run and reported as faults the user had listed.
// The report has a row per drawn fault, and none when the rates drew nothing.
run_result simulate_drawn_faults(const scenario& s, trace_recorder& trace, const run_options& opt) {
  const std::optional<double> horizon = fault_horizon_s(s);
  if (!horizon) {
    throw std::invalid_argument(
        "faults: a rate (mtbf_h) needs a horizon: training resilience (run_hours) or a serving "
        "run whose arrivals end (duration_s, or a request trace)");
  }
  const double horizon_s = *horizon;
  const topo::topology topo = topo::build_cluster(s.cluster, s.chip);
  scenario drawn = s;
  drawn.faults.clear();
  for (timed_fault& t : expand_faults(s.faults, targets_of(topo), s.seed, horizon_s)) {
    drawn.faults.push_back(std::move(t.event));
  }
  for (const fault_event& f : s.faults) {
    if (!f.mtbf_h && f.at_s >= horizon_s) drawn.faults.push_back(f);
  }
  std::stable_sort(drawn.faults.begin(), drawn.faults.end(),
                   [](const fault_event& a, const fault_event& b) { return a.at_s < b.at_s; });
  run_result r = simulate_once(drawn, trace, opt);
  r.faults = report_faults(drawn, r, opt);
  return r;
}

}  // namespace

run_result simulate(const scenario& s, trace_recorder& trace, const run_options& opt) {
  if (s.workload.kind == workload_kind::train && s.workload.training &&
      s.workload.training->resilience) {
    return simulate_resilience(s, *s.workload.training->resilience, trace, opt);
  }
  const bool rates = std::any_of(s.faults.begin(), s.faults.end(),
                                 [](const fault_event& f) { return f.mtbf_h.has_value(); });
  if (rates) return simulate_drawn_faults(s, trace, opt);
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
