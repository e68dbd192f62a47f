#pragma once
// A run of micro-batches through the pipeline stages, step after step: the loop under training
// and fixed-batch inference. Each stage's process walks its pipeline schedule (1F1B or
// forward-only, pipeline_schedule.hpp), running each slot's passes through the pass executor;
// a pass waits for its input (the previous chunk's activations, the next chunk's gradients,
// or, in decode, the same micro-batch's previous step) and hands its output on, as flows
// between stages when they differ. After each step's slots a stage runs the driver's step end
// (training: gradient sync and the optimizer), awaited inline.
//
// Folding (named in the metrics): data-parallel replicas do the same work on other devices;
// with folding.dp_replicas, replica 0 alone is simulated (its devices' figures are copied to the
// others) while the drivers' collectives still span all real devices; folding.micro_batches
// simulates the first micro-batches of each step and adds the rest at the measured
// steady-state period. Traffic the folded replicas would add to shared links is not modelled.
//
// The critical path (critical_path.hpp) gives the breakdown, following the busiest stage; time
// it spent waiting for other stages' work counts as pipeline_bubble.
#include <functional>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "sim/engine/task.hpp"
#include "sim/engine/trace.hpp"
#include "sim/run/exchange.hpp"
#include "sim/run/executor.hpp"
#include "sim/run/expert_residency.hpp"
#include "sim/run/machine.hpp"
#include "sim/run/model_chunks.hpp"
#include "sim/run/pipeline_schedule.hpp"
#include "sim/run/result.hpp"
#include "sim/run/routing_prefetch.hpp"
#include "sim/run/routing_sampler.hpp"
#include "sim/run/routing_tally.hpp"
#include "sim/run/run_options.hpp"

namespace moesim::sim::run {

/// The routings of a pipeline run, keyed by (replica, pass, layer): computed ahead on worker
/// threads, recorded in the tally when a forward takes them, kept for the backward (training).
class pipeline_routing final : public routing_source {
 public:
  /// `expert_ranks`: routing_sampler's layer_expert_ranks.
  pipeline_routing(const scenario& s, const model_chunks& chunks, routing_key_space keys,
                   std::int64_t tokens, const ep_nodes& nodes, routing_tally& tally, int threads,
                   std::vector<std::vector<int>> expert_ranks = {});
  std::shared_ptr<const layer_routing> routing(int rep, int pass, int layer, bool forward) override;
  [[nodiscard]] const routing_sampler& sampler() const noexcept { return sampler_; }

 private:
  bool training_;
  routing_tally& tally_;
  routing_sampler sampler_;
  routing_prefetch prefetch_;  ///< after sampler_: its workers use it
  std::map<std::tuple<int, int, int>, std::shared_ptr<const layer_routing>> kept_;
};

class pipeline_run {
 public:
  /// What a stage does after its passes of a step (training: gradient sync, optimizer), awaited
  /// inline by the stage's process; it may extend the stage's critical path `*last`.
  using step_end = std::function<task(int rep, int stage, int step, op_id* last)>;
  using schedule_fn = std::vector<pipeline_slot> (*)(const schedule_options&, int stage);

  pipeline_run(const scenario& s, trace_recorder& trace, const run_options& opt, bool training);
  pipeline_run(const pipeline_run&) = delete;
  pipeline_run& operator=(const pipeline_run&) = delete;

  /// Runs every step with `schedule` on every stage of every simulated replica.
  run_result run(schedule_fn schedule, step_end end = {});

  [[nodiscard]] machine& cluster() noexcept { return m_; }
  [[nodiscard]] const model_chunks& chunks() const noexcept { return chunks_; }
  [[nodiscard]] int replicas() const noexcept { return replicas_; }

 private:
  struct ready_entry {
    explicit ready_entry(simulation& sim) : available(sim) {}
    flag available;
    op_id op = -1;
  };

  process run_stage(int rep, int stage, schedule_fn schedule, const step_end& end);
  process run_task(int rep, int stage, int step, pipeline_task t, op_id prev,
                   std::shared_ptr<countdown> done, std::shared_ptr<std::vector<op_id>> ends);
  ready_entry& ready(int rep, pass_kind kind, int pass, int model_chunk);
  void send(int rep, int from, int to, op_id after, ready_entry& out);
  static void publish(ready_entry& r, op_id op);

  // pipeline_report.cpp
  [[nodiscard]] run_result result() const;
  [[nodiscard]] int busiest_stage() const;
  [[nodiscard]] time_ps folded_time() const;
  [[nodiscard]] double model_flops_per_step() const;
  void approximations(run_result& r) const;

  const scenario& s_;
  progress_fn progress_;
  bool training_;
  int replicas_;
  int micro_batches_;
  int steps_;
  pass_shape shape_;
  model_chunks chunks_;
  machine m_;
  expert_exchange x_;
  routing_tally tally_;
  std::unique_ptr<expert_residency> residency_;  ///< with moe.placement; before routing_
  pipeline_routing routing_;
  pass_executor executor_;
  std::vector<std::unique_ptr<ready_entry>> ready_;
  time_ps end_time_ = 0;
  std::vector<time_ps> completions_;  ///< replica 0, step 0: when each micro-batch finished
  std::uint64_t passes_done_ = 0;     ///< tasks (pipeline passes) done, for progress_
};

}  // namespace moesim::sim::run
