#pragma once
// The metrics' `faults` object (sim/run/faults.hpp's fault_report), kept apart from metrics.cpp:
//   faults.baseline.{step_time_s, tokens_per_s}   the same scenario and seed without `faults:`
//   faults.with_faults.{step_time_s, tokens_per_s} this run
//   faults.slowdown          with / baseline step time
//   faults.throughput_loss   1 - with / baseline tokens per second
//   faults.events[]          per fault as written: kind, at_s, its parameters, `hit` (the cable
//                            "dev0<->dev1 (ici)" or the device), flows_hit (link faults:
//                            network::fault_hits(), sim/net/network.hpp), step_time_alone_s
//                            (the run with only this fault; with one fault, the run itself) and
//                            slowdown (that over the baseline step time).
//   faults.events[].device_loss  device_loss faults (applied within the run): see
//                            device_loss_json (sim/io/device_loss_metrics.cpp).
#include "sim/io/schema.hpp"
#include "sim/run/faults.hpp"

namespace moesim::io {

[[nodiscard]] json faults_json(const sim::run::fault_report& x);

/// One device_loss's object (sim/run/device_loss_report.hpp, same names): applied_at_s, rank,
/// experts {copies_held, failed_over, lost, lost_per_layer {layer: n}, lost_list [[layer,
/// expert]...], lost_expert_tokens}, requests {requeued, running, kv_tokens_recomputed,
/// policy}, before / after {layer_passes, busiest_rank_copies, max_over_mean,
/// dispatch_bytes_per_layer_pass, copies_dropped_per_layer_pass, iterations, iteration_s,
/// output_tokens_per_s}, slowdown, throughput_loss, recovery_s, why.
[[nodiscard]] json device_loss_json(const sim::run::device_loss_report& x);

}  // namespace moesim::io
