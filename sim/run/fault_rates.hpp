#pragma once
// Faults at rates (`mtbf_h` items of `faults:`, sim/run/faults.hpp) expanded into concrete
// faults over a run's horizon (fault_horizon_s), deterministically from the scenario seed.
//
// An item with mtbf_h M hours over n targets (its device or link, else every device or every
// cable of the cluster) is n independent Poisson processes of rate 1/M each, drawn as their
// superposition: gaps Exp(n / M) and each fault's target uniform among the n (the same law).
// Item i draws from the stream rng::stream(seed, "faults").fork(i), so adding an item never
// moves another's faults. Items with at_s pass through. Cost: O(faults drawn + n log n).
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "sim/run/faults.hpp"
#include "sim/run/scenario.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::run {

/// The simulated span faults at a rate are drawn over: a training run's resilience horizon
/// (run_hours), a serving run's arrival window (duration_s, else a request trace's last
/// arrival); none for other runs (fixed-batch steps, serving bounded by a request count only).
[[nodiscard]] std::optional<double> fault_horizon_s(const scenario& s);

/// What rate items without a named target fall on: devices 0..devices-1, the cluster's cables.
struct fault_targets {
  std::int32_t devices = 0;
  std::vector<fault_link> cables;
};

/// The cluster's devices and cables (each cable once, named as `moesim topo --dot` does).
[[nodiscard]] fault_targets targets_of(const topo::topology& topo);

/// A concrete fault and the `faults:` item it came from.
struct timed_fault {
  fault_event event;  ///< at_s set, mtbf_h unset
  std::size_t item = 0;
  bool from_rate = false;
};

/// Targets of an item: 1 when it names its device or link, else the cluster's count.
[[nodiscard]] std::size_t target_count(const fault_event& item, const fault_targets& targets);

/// Faults an item is expected to give over `horizon_s` (its at_s fault: 1).
[[nodiscard]] double expected_faults(const fault_event& item, const fault_targets& targets,
                                     double horizon_s);

/// Every fault of `items` with at_s < horizon_s, in time order (ties: item order, then draw
/// order). Rate items need targets (std::invalid_argument otherwise).
[[nodiscard]] std::vector<timed_fault> expand_faults(std::span<const fault_event> items,
                                                     const fault_targets& targets,
                                                     std::uint64_t seed, double horizon_s);

}  // namespace moesim::sim::run
