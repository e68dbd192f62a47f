#pragma once
// The drivers: each runs one kind of workload on the pass executor (executor.hpp) and reads as
// the story of its loop.
//   training.cpp   the training step: 1F1B over the pipeline, gradient sync, optimizer
//   inference.cpp  fixed-batch inference: decode steps or a prefill of the scenario's batch
//   serving.cpp    the serving loop: requests, continuous batching, latencies
// Each takes a scenario already checked feasible and throws std::invalid_argument for a
// workload it cannot run, with the reason.
#include "sim/engine/trace.hpp"
#include "sim/run/result.hpp"
#include "sim/run/run_options.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::sim::run {

/// s.workload.steps training steps (workload kind train).
run_result simulate_training(const scenario& s, trace_recorder& trace, const run_options& opt);

/// s.workload.steps decode steps, or prefills, of the scenario's batch (kinds decode, prefill).
run_result simulate_fixed_batch(const scenario& s, trace_recorder& trace, const run_options& opt);

/// The request stream of s.workload.serve through a continuous-batching scheduler (kind serve).
run_result simulate_serving(const scenario& s, trace_recorder& trace, const run_options& opt);

}  // namespace moesim::sim::run
