#pragma once
// The metrics' `faults` object (sim/run/faults.hpp's fault_report), kept apart from metrics.cpp:
//   faults.baseline.{step_time_s, tokens_per_s}   the same scenario and seed without `faults:`
//   faults.with_faults.{step_time_s, tokens_per_s} this run
//   faults.slowdown          with / baseline step time
//   faults.throughput_loss   1 - with / baseline tokens per second
//   faults.waited_in[]       why: the critical-path breakdown stages (breakdown_s keys) whose
//                            per-step time the faults changed, {stage, baseline_s, faulted_s,
//                            extra_s}, largest extra first; they add up to the step's change
//   faults.events[]          per fault as written: kind, at_s, its parameters, `hit` (the cable
//                            "dev0<->dev1 (ici)" or the device), flows_hit (link faults:
//                            network::fault_hits(), sim/net/network.hpp), step_time_alone_s
//                            (the run with only this fault; with one fault, the run itself) and
//                            slowdown (that over the baseline step time), and waited_in[] as
//                            above for this fault alone.
#include <ostream>

#include "sim/io/schema.hpp"
#include "sim/run/faults.hpp"

namespace moesim::io {

[[nodiscard]] json faults_json(const sim::run::fault_report& x);

/// The same report for the terminal (print_summary): the step against the baseline, then per
/// fault what it hit, its slowdown alone and the stages that waited (at most three).
void print_faults(const sim::run::fault_report& x, std::ostream& out);

}  // namespace moesim::io
