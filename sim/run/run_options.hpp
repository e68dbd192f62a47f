#pragma once
// How to run a scenario (never what: the results do not depend on these options).
#include <cstdint>
#include <functional>

#include "sim/run/trace_selection.hpp"

namespace moesim::sim::run {

/// Reports a simulation's progress: `done` of `total` passes, a pass being one micro-batch
/// through one model chunk, forward or backward, over all steps and simulated data-parallel
/// replicas (folded micro-batches are not counted). Passes rather than whole micro-batches,
/// so that the count moves while a deep pipeline fills.
using progress_fn = std::function<void(std::uint64_t done, std::uint64_t total)>;

struct run_options {
  /// Worker threads for the routing maths of one simulation (router and batch scaling); the
  /// results are byte-identical for any count.
  int threads = 1;
  /// What the trace keeps, when one is recorded (trace_selection.hpp).
  trace_selection trace{};
  /// Called on the simulating thread each time a pass ends (not in the event loop's inner
  /// work); it must be cheap, and thread-safe when simulations run in parallel.
  progress_fn progress{};
};

}  // namespace moesim::sim::run
