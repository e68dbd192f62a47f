#pragma once
// Training and inference steps of a (MoE) transformer under a tp · ep · dp · pp layout, as
// timed events on devices (compute and HBM streams) and flows on the cluster's network.
//
// Layout (layout.hpp): attention and dense layers are data-parallel over ep · dp; experts are
// sharded over ep (experts/ep per rank, each split over tp) and replicated over dp; layers are
// cut into pp · vp model chunks (pipeline_schedule.hpp).
//
// A pass of one micro-batch through one layer on one pipeline stage, per EP group:
//   attention (+ router)  compute stream of every rank, roofline (op_costs.hpp)
//   tp all-reduce         when tp > 1, over each TP group (no sequence parallelism)
//   dispatch              all-to-all-v of the token copies the real router chose (sampled
//                         tokens, routing_sampler.hpp), one flow per (source, destination) and TP
//                         rank; it starts when the whole group has routed (collective semantics)
//   experts               on each rank as soon as its own tokens have arrived; every activated
//                         expert streams its full weights from HBM
//   combine               the reverse all-to-all-v once every rank's experts are done
//   tp all-reduce         of the layer's output when tp > 1
// Dense layers run a dense FFN instead. The backward pass runs the same phases in reverse with
// 2x the work (op_costs.hpp), reusing the forward's routing. Phases are barriers of the EP group:
// the next layer starts when the whole group has its combine.
//
// Steps: training runs the 1F1B schedule (interleaved when vp > 1), activations and gradients
// sent between stages as flows, then per stage the data-parallel gradient reduction (all-reduce,
// or reduce-scatter + all-gather of the parameters with ZeRO >= 1) over the attention-DP groups
// (dense weights) and the expert-DP groups (expert weights), then the optimizer step (a
// memory-bound Adam update). Inference runs micro-batches forward through the stages; decode
// steps follow each other per micro-batch. `workload.overlap` runs two tasks of a stage at once
// (training: each steady-state forward with a backward, DualPipe-style; inference: two
// micro-batches), sharing the compute stream so one's all-to-all hides under the other's
// compute.
//
// Folding (named in the metrics, folding.dp_replicas): data-parallel replicas do the same work
// on other devices; with folding, replica 0 alone is simulated (its devices' figures are copied
// to the others) while the gradient collectives still run over all real devices. Traffic the
// folded replicas would add to shared links during the passes is not modelled.
//
// The critical path (critical_path.hpp) gives the breakdown; time the last stage spent waiting
// for other stages' work counts as pipeline_bubble.
#include "sim/engine/trace.hpp"
#include "sim/run/result.hpp"
#include "sim/run/run_options.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::sim::run {

/// Simulates s.workload.steps steps of `s` (already checked feasible). Throws
/// std::invalid_argument for a workload the executor cannot run, with the reason.
run_result simulate_steps(const scenario& s, trace_recorder& trace, const run_options& opt = {});

}  // namespace moesim::sim::run
