#pragma once
// Prefill/decode disaggregated serving (workload.serve.disaggregation), as DeepSeek and SGLang
// serve DeepSeek-V3: prefill instances run prompts, decode instances generate, on disjoint
// devices of one cluster, the KV cache of each finished prompt sent over the network between
// them. See disaggregation.cpp for the story.
#include "sim/engine/trace.hpp"
#include "sim/run/result.hpp"
#include "sim/run/run_options.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::sim::run {

/// The request stream of s.workload.serve through its prefill and decode instances. s must have
/// passed check_feasible (which checks every instance through check_disaggregation).
run_result simulate_disaggregated(const scenario& s, trace_recorder& trace, const run_options& opt);

}  // namespace moesim::sim::run
