#pragma once
// Runs one resolved scenario to completion and returns what it measured. The simulation,
// network and devices live inside the call: nothing is shared between calls, so any number can
// run in one process (and in parallel threads, one simulation each).
#include "sim/engine/trace.hpp"
#include "sim/run/result.hpp"
#include "sim/run/run_options.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::sim::run {

/// Records into `trace` if it is enabled, what opt.trace selects. Throws std::invalid_argument for
/// a scenario the workload cannot run (with the reason), other exceptions for internal errors.
run_result simulate(const scenario& s, trace_recorder& trace, const run_options& opt = {});

}  // namespace moesim::sim::run
