#pragma once
// Simulated faults of a scenario (`faults:`): what the user wrote, and what a run reports.
//
// Conventions (README "Faults"): times are simulated seconds from the start of the run; a link
// is the cable between two vertices named as `moesim topo --dot` prints them (sim/net/faults.hpp),
// and a link fault hits both directions; `bandwidth_factor` in (0, 1] multiplies a degraded
// link's capacity; a straggler's `compute_factor` / `hbm_factor` (>= 1) are slowdowns: its ops'
// FLOP-bound time and HBM-bound time are multiplied by them (its achievable FLOP/s and HBM
// bandwidth divided), for ops that start at or after `at_s`. A device_loss stops a training job,
// which restarts from its last checkpoint (sim/run/resilience.hpp).
//
// Rates: an item with `mtbf_h` instead of `at_s` stands for a Poisson process of faults with that
// mean time between failures (hours) for each device (device_loss, straggler) or each cable
// (link faults) it names, or for every device / every cable of the cluster when it names none;
// sim/run/fault_rates.hpp expands it from the scenario seed over a training run's horizon, or
// over a serving run's arrival window (stragglers and link faults; a serving run loses a device
// at a time only).
// A `device_loss` (serving runs; sim/run/device_loss.hpp has the whole contract): the
// device stops at `at_s`, taking its attention-DP rank (its TP group) with it; from the first
// iteration boundary at or after `at_s` the run continues on the surviving ranks: tokens of an
// expert with a surviving copy go to the surviving copies, tokens of an expert left without one
// are dropped (named per layer), and the lost rank's requests are re-queued on the survivors,
// their KV recomputed there (as a preemption by recomputation).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/run/device_loss_report.hpp"

namespace moesim::sim::run {

enum class fault_kind { link_down, link_degraded, straggler, device_loss };

struct fault_link {
  std::string from;  ///< vertex name, e.g. "dev0", "leaf3"
  std::string to;
};

struct fault_event {
  double at_s = 0;
  fault_kind kind = fault_kind::link_down;
  std::optional<fault_link> link;          ///< link_down, link_degraded
  std::optional<double> bandwidth_factor;  ///< link_degraded: in (0, 1]
  std::optional<std::int32_t> device;      ///< straggler, device_loss: cluster device id
  double compute_factor = 1;               ///< straggler: >= 1
  double hbm_factor = 1;                   ///< straggler: >= 1
  /// Set: a rate (mean hours between failures per device or cable), `at_s` unused.
  std::optional<double> mtbf_h;
};

[[nodiscard]] inline const char* to_string(fault_kind k) noexcept {
  switch (k) {
    case fault_kind::link_down:
      return "link_down";
    case fault_kind::link_degraded:
      return "link_degraded";
    case fault_kind::straggler:
      return "straggler";
    case fault_kind::device_loss:
      return "device_loss";
  }
  return "?";
}

/// One stage of the step's critical-path breakdown (run_result::breakdown_s) that a fault
/// changed: where the step waited longer (or, rarely, shorter) because of it.
struct stage_delta {
  std::string stage;      ///< a breakdown_s key: "dispatch", "dp_collective", "attention", ...
  double baseline_s = 0;  ///< per step, fault-free
  double faulted_s = 0;   ///< per step, with the fault(s)
};

/// One fault of a run's report.
struct fault_row {
  fault_event event;
  std::string hit;               ///< what it hit, e.g. "dev0<->dev1 (ici)" or "dev3"
  double step_time_alone_s = 0;  ///< the run with only this fault (equal to the run's with one)
  double slowdown = 0;           ///< step_time_alone_s / the fault-free step time
  std::uint64_t flows_hit = 0;   ///< network flows re-routed (down) or re-shared (degraded)
  /// Why: the breakdown stages whose time this fault alone changed by more than a picosecond,
  /// largest increase first (they sum to the step-time change).
  std::vector<stage_delta> stages;
  std::optional<device_loss_report> device_loss;  ///< device_loss: what it did to the run
};

/// The `faults` object of the metrics: the run against the same scenario without faults.
struct fault_report {
  std::vector<fault_row> faults;
  double baseline_step_time_s = 0;  ///< the same scenario and seed without `faults:`
  double baseline_tokens_per_s = 0;
  double step_time_s = 0;  ///< with every fault (the run's own)
  double tokens_per_s = 0;
  double slowdown = 0;         ///< step_time_s / baseline_step_time_s
  double throughput_loss = 0;  ///< 1 - tokens_per_s / baseline_tokens_per_s
  std::vector<stage_delta> stages;  ///< as fault_row::stages, with every fault
};

}  // namespace moesim::sim::run
