#pragma once
// Runs one resolved scenario to completion and returns what it measured. The simulation,
// network and devices live inside the call: nothing is shared between calls, so any number can
// run in one process (and in parallel threads, one simulation each).
#include "sim/engine/trace.hpp"
#include "sim/run/result.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::sim::run {

/// How to run (never what: results do not depend on these).
struct run_options {
  /// Worker threads for the routing maths of one simulation (router and batch scaling); the
  /// results are byte-identical for any count.
  int threads = 1;
};

/// Records into `trace` if it is enabled. Throws std::invalid_argument for a scenario the
/// workload cannot run (with the reason), other exceptions for internal errors.
run_result simulate(const scenario& s, trace_recorder& trace, const run_options& opt = {});

}  // namespace moesim::sim::run
