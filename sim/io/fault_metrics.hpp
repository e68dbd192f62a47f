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
// and the `resilience` object (sim/run/resilience.hpp's resilience_report) of a training run
// with workload.training.resilience:
//   resilience.{run_s, step_time_s, steps, checkpoints, failures}
//   resilience.checkpoint.{interval_s, write_s, bytes}, resilience.restart_s
//   resilience.time_s.{useful, lost_work, checkpointing, restarting, unfinished_step}: they sum
//                            to run_s; `useful` is the effective training time
//   resilience.goodput       useful / run_s
//   resilience.young_daly    with device_loss rates: job_mtbf_s, optimal_interval_s
//                            (sqrt(2 * write_s * job_mtbf_s)), model goodput at the run's interval
//                            and at the optimum
//   resilience.events[]      every fault within the run in time order: kind, at_s, hit, item (in
//                            `faults:`), from_rate; device_loss: during, lost_work_s,
//                            lost_steps, recovery_s; others: step_time_after_s and factors
#include <ostream>

#include "sim/io/schema.hpp"
#include "sim/run/faults.hpp"
#include "sim/run/resilience.hpp"

namespace moesim::io {

[[nodiscard]] json faults_json(const sim::run::fault_report& x);
[[nodiscard]] json resilience_json(const sim::run::resilience_report& x);
/// The same for the terminal (moesim run's summary): a few lines, the first failures.
void print_resilience(const sim::run::resilience_report& x, std::ostream& out);

/// The same report for the terminal (print_summary): the step against the baseline, then per
/// fault what it hit, its slowdown alone and the stages that waited (at most three).
void print_faults(const sim::run::fault_report& x, std::ostream& out);

}  // namespace moesim::io
