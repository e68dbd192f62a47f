// The metrics' faults.events[].device_loss object (fault_metrics.hpp: device_loss_json).
#include <string>

#include "sim/io/fault_metrics.hpp"

namespace moesim::io {

namespace {

json side_json(const sim::run::device_loss_side& s) {
  return {{"layer_passes", s.layer_passes},
          {"busiest_rank_copies", s.busiest_rank_copies},
          {"max_over_mean", s.max_over_mean},
          {"dispatch_bytes_per_layer_pass", s.dispatch_bytes},
          {"copies_dropped_per_layer_pass", s.copies_dropped},
          {"iterations", s.iterations},
          {"iteration_s", s.iteration_s},
          {"output_tokens_per_s", s.output_tokens_per_s}};
}

}  // namespace

json device_loss_json(const sim::run::device_loss_report& x) {
  json per_layer = json::object();
  for (const auto& [layer, n] : x.experts_lost_per_layer) per_layer[std::to_string(layer)] = n;
  json lost = json::array();
  for (const auto& [layer, e] : x.experts_lost) lost.push_back(json::array({layer, e}));
  return {{"applied_at_s", x.applied_at_s},
          {"rank", x.rank},
          {"experts",
           {{"copies_held", x.expert_copies_held},
            {"failed_over", x.experts_failed_over},
            {"lost", x.experts_lost.size()},
            {"lost_per_layer", std::move(per_layer)},
            {"lost_list", std::move(lost)},
            {"lost_expert_tokens", x.lost_expert_tokens}}},
          {"requests",
           {{"requeued", x.requests_requeued},
            {"running", x.requests_running},
            {"kv_tokens_recomputed", x.kv_tokens_recomputed},
            {"policy", "requeued on the surviving ranks, KV recomputed"}}},
          {"before", side_json(x.before)},
          {"after", side_json(x.after)},
          {"slowdown", x.slowdown},
          {"throughput_loss", x.throughput_loss},
          {"recovery_s", x.recovery_s},
          {"why", x.why}};
}

}  // namespace moesim::io
