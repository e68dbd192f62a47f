#include "sim/io/fault_metrics.hpp"

namespace moesim::io {

json faults_json(const sim::run::fault_report& x) {
  json events = json::array();
  for (const auto& row : x.faults) {
    const auto& f = row.event;
    json e{{"kind", sim::run::to_string(f.kind)}, {"at_s", f.at_s}, {"hit", row.hit}};
    if (f.kind == sim::run::fault_kind::link_degraded)
      e["bandwidth_factor"] = f.bandwidth_factor.value_or(1.0);
    if (row.device_loss) e["device_loss"] = device_loss_json(*row.device_loss);
    if (f.kind == sim::run::fault_kind::straggler) {
      e["compute_factor"] = f.compute_factor;
      e["hbm_factor"] = f.hbm_factor;
    } else if (f.kind != sim::run::fault_kind::device_loss) {
      e["flows_hit"] = row.flows_hit;
    }
    e["step_time_alone_s"] = row.step_time_alone_s;
    e["slowdown"] = row.slowdown;
    events.push_back(std::move(e));
  }
  return {{"baseline",
           {{"step_time_s", x.baseline_step_time_s}, {"tokens_per_s", x.baseline_tokens_per_s}}},
          {"with_faults", {{"step_time_s", x.step_time_s}, {"tokens_per_s", x.tokens_per_s}}},
          {"slowdown", x.slowdown},
          {"throughput_loss", x.throughput_loss},
          {"events", std::move(events)}};
}

}  // namespace moesim::io
