#pragma once
// Expert residency at run time (moe.placement): where a run's experts live, how loaded each
// device is, and, with rebalancing, how the placement follows the loads. A small plug-in of the
// pass executor (which reads placement() and reports each forward MoE layer pass through
// on_layer) and of the drivers (which call step_end after each step or serving iteration).
//
// Initial placement: contiguous, round_robin and random need no loads; load_aware, eplb and
// topology_aware are placed on the loads of `warmup` passes of the scenario's own routing (the
// real router on sampled tokens, routing_sampler, with the run's keys 0..warmup-1 on a sampler
// of its own so the timed run's routing is untouched), co-activation counted from the sampled
// per-token decisions for topology_aware. The placement problem's devices are the EP ranks,
// its nodes the NVSwitch nodes (or torus slices) they span, its groups the router's groups.
//
// Rebalancing (every `every` steps): a new placement from the expert loads of the latest
// `window` forward passes, the changed slots' weights moved between devices as real flows (one
// per TP rank, expert weight bytes / tp each, from the nearest device that held the expert):
//   stop_the_world  the stage's next pass waits until every move has arrived (the stall)
//   background      passes go on with the old placement; each layer switches when its own
//                   weights have arrived, the moves contending with the exchange for the links
//                   (vLLM's async EPLB, vllm/distributed/eplb/async_worker.py, transfers one
//                   layer at a time while the model runs).
// The fresh placement is first relabelled to keep what the devices hold (place::keep_in_place:
// nodes, then devices within them, matched by experts in common), since a strategy run again
// may deal the same expert sets to other devices. Only changed slots move, and an expert the
// rank already holds is not fetched again, as vLLM's
// rearrange_expert_weights_inplace does (vllm/distributed/eplb/rebalance_execute.py:
// move_to_buffer's is_unchanged and is_received_locally).
// With `min_gain` the rebalance instead improves the current placement move by move, each move
// made only when its balance gain per expert copy transferred reaches min_gain
// (place::rebalance_moves, sim/place/rebalance.hpp): fewer bytes for less balance.
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "sim/engine/task.hpp"
#include "sim/place/placement.hpp"
#include "sim/run/executor.hpp"
#include "sim/run/expert_placement.hpp"
#include "sim/run/machine.hpp"
#include "sim/run/result.hpp"
#include "sim/run/layer_routing.hpp"

namespace moesim::sim::run {

/// One move of the weight diff: expert `expert` of `layer` copied from EP rank `from` to `to`.
struct weight_move {
  int layer = 0;
  int expert = 0;
  int from = 0;
  int to = 0;
};
/// The moves that turn `before` into `after` in `layer`: each expert a rank holds after and not
/// before, fetched from the rank that held it before nearest to it (`distance`, ep x ep; ties
/// to the lowest rank). O(ranks x slots).
[[nodiscard]] std::vector<weight_move> weight_diff(const expert_placement& before,
                                                   const expert_placement& after, int layer,
                                                   const std::vector<int>& distance);

class expert_residency final : public layer_observer {
 public:
  /// `s.moe.placement` must be set. Places the experts (warm-up routing as above) for the EP
  /// group of (rep 0, stage 0); `tokens_per_source` is a pass's tokens per EP rank. (Under a
  /// per_rank or hierarchical exchange the routing counts with single_copy_ranks();
  /// check_feasible refuses redundant experts or rebalancing there.)
  expert_residency(machine& m, const scenario& s, std::int64_t tokens_per_source, bool training);

  [[nodiscard]] const expert_placement& placement() const noexcept { return placement_; }
  /// The same placement, for a device_loss to remove a lost rank's copies from
  /// (device_loss.hpp; check_device_losses refuses rebalancing with it).
  [[nodiscard]] expert_placement& placement_for_faults() noexcept { return placement_; }
  /// Under a per_rank or hierarchical exchange, for the routing's counts: per model layer (up
  /// to the last routed one) the EP rank holding each expert of the initial placement (rows of
  /// layers without experts empty). Empty when the exchange is per_copy, or when an expert may
  /// have several copies or move (redundant experts, rebalancing; check_feasible refuses those
  /// with these exchanges). O(layers x slots).
  [[nodiscard]] std::vector<std::vector<int>> single_copy_ranks() const;
  /// Each EP rank's node (NVSwitch node or torus slice), numbered from 0.
  [[nodiscard]] const std::vector<int>& rank_node() const noexcept { return node_; }

  /// A forward MoE layer pass ran with `placed`; `token_bytes` per dispatched token copy.
  void on_layer(int layer, const layer_routing& lr, const expert_placement::pass_assignment& placed,
                double token_bytes) override;

  /// After step `step` (0-based) of (rep, stage), whose MoE layers are `layers`: rebalances
  /// when due (not after the last step). stop_the_world extends `*last` by the stall.
  task step_end(int rep, int stage, int step, int steps, const std::vector<int>& layers,
                op_id* last);

  /// The `placement` metrics object; `steps` divides the per-step figures.
  [[nodiscard]] placement_report report(double steps) const;

 private:
  /// The placement problem of this run's EP group on `loads` (and `coact`), per routed layer.
  [[nodiscard]] place::problem problem_of(std::vector<std::vector<double>> loads,
                                          std::vector<std::vector<double>> coact) const;
  /// `placed` as the executor's slot tables.
  [[nodiscard]] expert_placement tables_of(const place::placement& placed) const;

  machine& m_;
  const scenario& s_;
  const placement_config& cfg_;
  std::vector<int> layers_;  ///< the routed layers, ascending
  std::vector<int> node_;
  std::vector<int> distance_;
  int nodes_ = 1;
  place::placement placed_;  ///< the latest placement (a rebalance's target once decided)
  expert_placement placement_;
  // Measured.
  std::vector<double> spread_;  ///< per forward layer pass: device load max / mean
  std::vector<int> epoch_;      ///< per forward layer pass: rebalances done before it
  double cross_node_bytes_ = 0;
  double dispatch_bytes_ = 0;
  std::vector<std::deque<std::vector<std::int64_t>>> window_;  ///< per routed layer
  int rebalances_ = 0;
  double moved_bytes_ = 0;
  double stall_s_ = 0;
  double warmup_tokens_ = 0;
};

}  // namespace moesim::sim::run
