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

}  // namespace moesim::io
