#pragma once
// The pass executor: one pass (forward or backward) of a batch through one model chunk on one
// pipeline stage's devices, per EP group:
//   attention (+ router)  compute stream of every rank, roofline (op_costs.hpp)
//   tp all-reduce         when tp > 1, over each TP group (no sequence parallelism)
//   dispatch              all-to-all-v of the token copies the real router chose (the routing
//                         source), one flow per leg of the exchange (exchange.hpp) and TP rank;
//                         it starts when the whole group has routed (collective semantics)
//   experts               on each rank as soon as its own tokens have arrived; every activated
//                         expert streams its full weights from HBM
//   combine               the reverse all-to-all-v once every rank's experts are done
//   tp all-reduce         of the layer's output when tp > 1
// Dense layers run a dense FFN instead; the last chunk ends (forward) or starts (backward) with
// the output head. The backward pass runs the phases in reverse with 2x the work (op_costs.hpp),
// reusing the forward's routing. Phases are barriers of the EP group: the next layer starts when
// the whole group has its combine.
//
// Drivers (training, fixed-batch inference, serving) decide which passes run when; the executor
// knows no schedule. What a pass carries is its request: which devices (replica, stage), which
// chunk, which routing (the routing source's key) and the batch's shape on each device (one
// for all, or each EP rank's own under attention-DP serving). A pass
// is a sim::task: the driver's process awaits it inline, so it adds no events of its own.
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "sim/engine/task.hpp"
#include "sim/run/exchange.hpp"
#include "sim/run/expert_offload.hpp"
#include "sim/run/machine.hpp"
#include "sim/run/model_chunks.hpp"
#include "sim/run/op_costs.hpp"
#include "sim/run/pipeline_schedule.hpp"
#include "sim/run/layer_routing.hpp"

namespace moesim::sim::run {

/// Where a pass's routing comes from (sampled, replayed, or prefetched by another thread).
class routing_source {
 public:
  virtual ~routing_source() = default;
  /// The routing of pass `pass` of replica `rep` through MoE layer `layer`; a backward pass
  /// asks again for what its forward took.
  virtual std::shared_ptr<const layer_routing> routing(int rep, int pass, int layer,
                                                       bool forward) = 0;
};

struct pass_request {
  int rep = 0;    ///< simulated data-parallel replica
  int stage = 0;  ///< pipeline stage whose devices run it
  int model_chunk = 0;
  pass_kind kind = pass_kind::forward;
  int pass = 0;      ///< the routing source's key for this pass
  pass_shape shape;  ///< the batch on each device
  op_id after = -1;  ///< the op the pass follows on the critical path
  /// Attention-DP serving: each EP rank's own batch (index = EP rank; its TP peers run the
  /// same), which then replaces `shape` everywhere: each rank's attention, norms, router, dense
  /// FFN, shared experts, TP all-reduces and head run its own tokens, and the routing source
  /// routes each source rank's own tokens. A rank without tokens still runs every compute op
  /// (its kernels launch and read their weights; its TP all-reduce has nothing to reduce) and
  /// joins the all-to-alls, as SGLang's idle batch and TensorRT-LLM's dummy request
  /// (py_executor.py, _pad_attention_dp_dummy_request) do. Empty: `shape` on every rank.
  std::vector<pass_shape> ranks;
};

/// Told of each forward MoE layer pass (moe.placement's metrics and rebalancing windows).
class layer_observer {
 public:
  virtual ~layer_observer() = default;
  virtual void on_layer(int layer, const layer_routing& lr,
                        const expert_placement::pass_assignment& placed, double token_bytes) = 0;
};

class pass_executor {
 public:
  /// `chunks` (kept by reference) says which layers a chunk runs; `chunks.training`: the last
  /// chunk carries the multi-token-prediction modules and heads. `placement` (kept by
  /// reference; null: the contiguous split of s's experts) says which rank computes which
  /// source's tokens of each expert.
  pass_executor(machine& m, expert_exchange& x, routing_source& routing, const scenario& s,
                const model_chunks& chunks, const expert_placement* placement = nullptr);

  /// Runs request `r` from now; when it returns, `*end` is the pass's last op. The caller keeps
  /// `r` alive until then (a named local of the awaiting coroutine: GCC 12 may destroy a
  /// temporary argument of a co_await expression twice).
  task run(const pass_request& r, op_id* end);

  /// `o` (kept; null: none) hears of every forward MoE layer pass from now on.
  void observe(layer_observer* o) noexcept { observer_ = o; }
  /// Expert offloading (`offload:`; expert_offload.hpp), null without it.
  [[nodiscard]] const expert_offload* offload() const noexcept { return offload_.get(); }
  [[nodiscard]] expert_offload* offload() noexcept { return offload_.get(); }

  /// Token bytes the forward dispatches sent between devices, so far.
  [[nodiscard]] double dispatch_bytes() const noexcept { return dispatch_bytes_; }

 private:
  struct expert_op {
    time_ps end = 0;
    time_ps start = 0;
    op_id stream_previous = -1;  ///< the op its compute stream ran before it
    category cat = category::expert_compute;
  };

  struct rank_op;
  template <class Op>
  std::pair<time_ps, op_id> on_ranks(const pass_request& r, category c, const std::string& name,
                                     time_ps at, op_id dep, Op&& op_of);
  /// EP rank e's batch: its own, or the pass's shape.
  [[nodiscard]] static const pass_shape& shape_of(const pass_request& r, int e);
  /// The batch with the most tokens on one rank (sizes padded expert buffers).
  [[nodiscard]] static const pass_shape& widest(const pass_request& r);
  task layer_moe(const pass_request& r, int layer, const std::string& tag, op_id* cur);
  task layer_dense(const pass_request& r, const std::string& tag, op_id* cur);
  task tp_all_reduce(const pass_request& r, op_id* cur);
  expert_op run_experts(const pass_request& r, int e, const expert_placement::rank_load& held,
                        time_ps at, const std::string& tag);
  std::pair<time_ps, op_id> head(const pass_request& r, op_id dep);
  std::pair<std::shared_ptr<const layer_routing>, std::shared_ptr<expert_offload::layer_plan>>
  begin_offload(const pass_request& r, int layer);
  expert_op run_offloaded_experts(const pass_request& r, int e,
                                  const expert_offload::layer_plan& plan, time_ps arrived,
                                  const std::string& tag);
  [[nodiscard]] std::int64_t padded_slots(const pass_shape& shape) const;

  machine& m_;
  expert_exchange& x_;
  routing_source& routing_;
  const scenario& s_;
  const model_chunks& chunks_;
  expert_placement contiguous_;  ///< the contiguous split, when no placement was given
  const expert_placement& placement_;
  int tp_;
  int ep_;
  cluster::recompute_mode recompute_;
  double dispatch_bytes_ = 0;
  layer_observer* observer_ = nullptr;
  std::unique_ptr<expert_offload> offload_;
  /// Gate prefetch: routings taken a layer early, by (rep, pass, layer).
  std::map<std::tuple<int, int, int>, std::shared_ptr<const layer_routing>> lookahead_;
  /// TP all-reduce plans by (rep, stage, TP group or -1 for all, tokens).
  std::map<std::tuple<int, int, int, double>, std::shared_ptr<const net::collective_plan>>
      tp_plans_;
};

}  // namespace moesim::sim::run
