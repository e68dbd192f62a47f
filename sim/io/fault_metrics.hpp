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
#include "sim/io/schema.hpp"
#include "sim/run/faults.hpp"

namespace moesim::io {

[[nodiscard]] json faults_json(const sim::run::fault_report& x);

}  // namespace moesim::io
