#pragma once
// A long training job with checkpoints and failures (`workload.training.resilience`): an event
// loop in the engine over the job's wall-clock horizon whose steps each take the simulated step
// time (the one-step simulation), not a re-simulation of every step's network.
//
// The job trains step after step. Once `checkpoint_interval_s` of training has run since the
// last checkpoint (or restart), it writes a checkpoint at the step boundary, blocking for the
// write time. A device_loss stops the job wherever it is (training, checkpointing, restarting):
// the training done since the last completed checkpoint is lost (completed steps and the step in
// progress), an unfinished checkpoint is abandoned, and the job trains again `restart_s` after
// the failure (a failure while restarting restarts the restart). A straggler or link fault
// changes the step time from the next step on to the step time simulated with every such fault
// so far active from the step's start (faults are never repaired; a restart keeps them).
//
// Wall time = useful (steps kept) + lost + checkpointing + restarting + the step unfinished at
// the end. Goodput = useful / wall. Complexity: O(steps + faults) events, plus one step
// simulation per straggler or link fault (the caller's function).
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sim/run/config.hpp"
#include "sim/run/faults.hpp"

namespace moesim::sim::run {

/// One fault of a resilience run: concrete (at_s set, mtbf_h unset), in time order.
struct resilience_event {
  fault_event event;
  std::size_t item = 0;    ///< its item in `faults:`
  bool from_rate = false;  ///< drawn from the item's mtbf_h
  std::string hit;         ///< "dev3", "dev0<->dev1 (nvlink)"
  // device_loss:
  std::string during;       ///< what the job was doing: training, checkpointing, restarting
  double lost_work_s = 0;   ///< training since the last completed checkpoint, to redo
  std::uint64_t lost_steps = 0;  ///< completed steps among it
  double recovery_s = 0;    ///< from the failure to training again (or to the end of the run)
  // straggler, link faults:
  double step_time_after_s = 0;  ///< the step time from the next step on
};

/// Young (1974) / Daly (2006) first-order model of the same job, given a job MTBF.
struct young_daly_model {
  double job_mtbf_s = 0;           ///< the device_loss rates' combined mean time between failures
  double optimal_interval_s = 0;   ///< sqrt(2 * checkpoint_write_s * job_mtbf_s)
  /// Goodput the model predicts at the run's interval tau, write time delta and restart R:
  /// tau / (tau + delta) * (1 - (R + (tau + delta) / 2) / M).
  double goodput = 0;
  double goodput_at_optimum = 0;  ///< the same at optimal_interval_s
};

struct resilience_report {
  double run_s = 0;                 ///< wall-clock horizon
  double step_time_s = 0;           ///< the fault-free simulated step time
  double checkpoint_interval_s = 0;
  double checkpoint_write_s = 0;
  double checkpoint_bytes = 0;      ///< 0 when checkpoint_write_s was given
  double restart_s = 0;
  std::uint64_t steps = 0;          ///< steps kept (the job's progress)
  std::uint64_t checkpoints = 0;    ///< completed
  std::uint64_t failures = 0;       ///< device losses
  double useful_s = 0;              ///< effective training time: the kept steps' time
  double lost_work_s = 0;
  double checkpointing_s = 0;       ///< wall time writing checkpoints (finished or not)
  double restarting_s = 0;
  double unfinished_step_s = 0;     ///< the step in progress at the end of the run
  double goodput = 0;               ///< useful_s / run_s
  std::optional<young_daly_model> young_daly;  ///< with device_loss rates
  std::vector<resilience_event> events;        ///< every fault within the run, in time order
};

/// The step time with `faults` (stragglers, link faults; at_s 0) active from the step's start.
using step_time_with = std::function<double(std::span<const fault_event> faults)>;

/// Plays the job. `events` in time order (at_s < run_s), `checkpoint_write_s` resolved,
/// `step_time_s` > 0 the fault-free step time. Throws std::invalid_argument for a step or
/// checkpoint time that is not positive / finite or a horizon beyond the clock's range.
[[nodiscard]] resilience_report play_resilience(const resilience_config& config,
                                                double checkpoint_write_s, double step_time_s,
                                                std::vector<resilience_event> events,
                                                const step_time_with& step_time);

/// The first-order model for a job MTBF `job_mtbf_s` (> 0).
[[nodiscard]] young_daly_model young_daly(double job_mtbf_s, double interval_s,
                                          double checkpoint_write_s, double restart_s);

}  // namespace moesim::sim::run
