#include "sim/io/fault_metrics.hpp"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "sim/io/units.hpp"

namespace moesim::io {

namespace {

json stages_json(const std::vector<sim::run::stage_delta>& stages) {
  json out = json::array();
  for (const auto& d : stages) {
    out.push_back({{"stage", d.stage},
                   {"baseline_s", d.baseline_s},
                   {"faulted_s", d.faulted_s},
                   {"extra_s", d.faulted_s - d.baseline_s}});
  }
  return out;
}

// "dispatch +1.2 us, combine +1.1 us": the first `shown` stages that waited.
std::string waited_text(const std::vector<sim::run::stage_delta>& stages) {
  constexpr std::size_t shown = 3;
  std::string text;
  for (std::size_t i = 0; i < stages.size() && i < shown; ++i) {
    const double extra = stages[i].faulted_s - stages[i].baseline_s;
    text += fmt::format("{}{} {}{}", i ? ", " : "", stages[i].stage, extra < 0 ? "-" : "+",
                        format_seconds(std::abs(extra)));
  }
  return text.empty() ? "no stage changed" : text;
}

}  // namespace

json faults_json(const sim::run::fault_report& x) {
  json events = json::array();
  for (const auto& row : x.faults) {
    const auto& f = row.event;
    json e{{"kind", sim::run::to_string(f.kind)}, {"at_s", f.at_s}, {"hit", row.hit}};
    if (f.kind == sim::run::fault_kind::link_degraded)
      e["bandwidth_factor"] = f.bandwidth_factor.value_or(1.0);
    if (f.kind == sim::run::fault_kind::straggler) {
      e["compute_factor"] = f.compute_factor;
      e["hbm_factor"] = f.hbm_factor;
    } else {
      e["flows_hit"] = row.flows_hit;
    }
    e["step_time_alone_s"] = row.step_time_alone_s;
    e["slowdown"] = row.slowdown;
    e["waited_in"] = stages_json(row.stages);
    events.push_back(std::move(e));
  }
  return {{"baseline",
           {{"step_time_s", x.baseline_step_time_s}, {"tokens_per_s", x.baseline_tokens_per_s}}},
          {"with_faults", {{"step_time_s", x.step_time_s}, {"tokens_per_s", x.tokens_per_s}}},
          {"slowdown", x.slowdown},
          {"throughput_loss", x.throughput_loss},
          {"waited_in", stages_json(x.stages)},
          {"events", std::move(events)}};
}

void print_faults(const sim::run::fault_report& x, std::ostream& out) {
  fmt::print(out, "  faults: step {} -> {} ({:+.2f}%), tokens/s {:+.2f}%; waited in {}\n",
             format_seconds(x.baseline_step_time_s), format_seconds(x.step_time_s),
             100 * (x.slowdown - 1), -100 * x.throughput_loss, waited_text(x.stages));
  for (const auto& row : x.faults) {
    fmt::print(out, "    {} at {} s on {}: {:+.2f}% alone; waited in {}\n",
               sim::run::to_string(row.event.kind), row.event.at_s, row.hit,
               100 * (row.slowdown - 1), waited_text(row.stages));
  }
}

json resilience_json(const sim::run::resilience_report& x) {
  using sim::run::fault_kind;
  json events = json::array();
  for (const auto& row : x.events) {
    const auto& f = row.event;
    json e{{"kind", sim::run::to_string(f.kind)},
           {"at_s", f.at_s},
           {"hit", row.hit},
           {"item", row.item},
           {"from_rate", row.from_rate}};
    if (f.kind == fault_kind::device_loss) {
      e["during"] = row.during;
      e["lost_work_s"] = row.lost_work_s;
      e["lost_steps"] = row.lost_steps;
      e["recovery_s"] = row.recovery_s;
    } else {
      if (f.kind == fault_kind::link_degraded)
        e["bandwidth_factor"] = f.bandwidth_factor.value_or(1.0);
      if (f.kind == fault_kind::straggler) {
        e["compute_factor"] = f.compute_factor;
        e["hbm_factor"] = f.hbm_factor;
      }
      e["step_time_after_s"] = row.step_time_after_s;
    }
    events.push_back(std::move(e));
  }
  json out{{"run_s", x.run_s},
           {"step_time_s", x.step_time_s},
           {"steps", x.steps},
           {"checkpoints", x.checkpoints},
           {"failures", x.failures},
           {"checkpoint",
            {{"interval_s", x.checkpoint_interval_s},
             {"write_s", x.checkpoint_write_s},
             {"bytes", x.checkpoint_bytes}}},
           {"restart_s", x.restart_s},
           {"time_s",
            {{"useful", x.useful_s},
             {"lost_work", x.lost_work_s},
             {"checkpointing", x.checkpointing_s},
             {"restarting", x.restarting_s},
             {"unfinished_step", x.unfinished_step_s}}},
           {"goodput", x.goodput}};
  if (x.young_daly) {
    const auto& m = *x.young_daly;
    out["young_daly"] = {{"job_mtbf_s", m.job_mtbf_s},
                         {"optimal_interval_s", m.optimal_interval_s},
                         {"goodput", m.goodput},
                         {"goodput_at_optimum", m.goodput_at_optimum}};
  }
  out["events"] = std::move(events);
  return out;
}

void print_resilience(const sim::run::resilience_report& x, std::ostream& out) {
  fmt::print(out,
             "  resilience: {:.1f} h job, {} steps of {}, checkpoint every {:.0f} s ({} each)\n",
             x.run_s / 3600, x.steps, format_seconds(x.step_time_s), x.checkpoint_interval_s,
             format_seconds(x.checkpoint_write_s));
  fmt::print(out, "    {:<26} {:>12}\n", "failures", x.failures);
  const std::pair<const char*, double> rows[] = {{"effective training", x.useful_s},
                                                 {"lost work", x.lost_work_s},
                                                 {"checkpointing", x.checkpointing_s},
                                                 {"restarting", x.restarting_s}};
  for (const auto& [name, s] : rows) {
    fmt::print(out, "    {:<26} {:>10.2f} h {:>6.2f}%\n", name, s / 3600,
               x.run_s > 0 ? 100 * s / x.run_s : 0);
  }
  fmt::print(out, "    {:<26} {:>12.4f}\n", "goodput", x.goodput);
  if (x.young_daly) {
    fmt::print(out,
               "    {:<26} {:>10.0f} s (job MTBF {:.2f} h; model goodput {:.4f}, at optimum "
               "{:.4f})\n",
               "Young/Daly interval", x.young_daly->optimal_interval_s,
               x.young_daly->job_mtbf_s / 3600, x.young_daly->goodput,
               x.young_daly->goodput_at_optimum);
  }
}

}  // namespace moesim::io
