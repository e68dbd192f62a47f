#pragma once
// Inference steps (prefill and decode) of an MoE model under expert parallelism.
//
// Layout: devices = ep * dp (tp = pp = 1 here); EP group g holds devices [g*ep, (g+1)*ep)
// (order tp-ep-dp-pp, innermost first); attention runs data-parallel on every device over
// its own `batch_per_device` sequences; each group holds all experts, experts/ep per device.
//
// One step, per layer and EP group, as timed events:
//   attention   compute stream, roofline: projections + scores over the KV cache
//   router      compute stream: gate GEMM (the decisions themselves come from the real
//               router on sampled tokens, routing_sampler)
//   dispatch    all-to-all-v of the token copies chosen by the router, started when the whole
//               group has routed (collective semantics), one flow per (source, destination)
//   experts     on each device when its incoming dispatch has arrived: grouped GEMMs of its
//               local experts with the tokens they received; every activated expert streams its
//               full weights from HBM, so small batches are memory-bound
//   combine     the reverse all-to-all-v once the whole group's experts are done
// dense layers run a dense FFN instead; the step ends with the LM head.
// The critical path (critical_path.hpp) splits the step time into these categories.
#include "sim/engine/trace.hpp"
#include "sim/run/result.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::sim::run {

run_result simulate_inference(const scenario& s, trace_recorder& trace);

}  // namespace moesim::sim::run
