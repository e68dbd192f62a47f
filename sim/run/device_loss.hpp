#pragma once
// Device loss in serving (`faults:` kind device_loss, sim/run/faults.hpp): what happens when a
// GPU of an expert-parallel serving instance dies, as SGLang's elastic EP and vLLM's
// fault-tolerant EP keep serving on the survivors.
//
// Contract (README "Faults"):
//  - The device named by `device` stops at `at_s`. Under attention-DP serving it is one EP
//    rank's device; with tp > 1 its whole TP group (the rank) stops, since its peers cannot
//    run their shards without it. The loss is applied at the first iteration boundary at or
//    after `at_s` (`applied_at_s`): the iteration in flight at `at_s` completes as if the
//    device were alive, and no detection or reconfiguration time is added (a real
//    all-to-all would stall on the dead peer until a timeout: that time is not simulated).
//  - Experts: every (layer, expert) copy the rank held is gone (expert_placement::remove_rank).
//    An expert with a surviving copy (redundant experts, moe.placement.redundant_experts) is
//    failed over: the real router's decisions are unchanged, and the tokens it sent to that
//    expert go to the surviving copies by the placement's rules (a source's own copy first,
//    then replica_choice over the rest), so the per-rank loads and the all-to-all traffic
//    matrix change. An expert left without any copy is lost: the (token, expert) copies
//    routed to it are dropped (the token's output for that expert is zero and the combine
//    sums its other experts, as a capacity drop does), counted per pass; the router is not
//    re-run to pick a next-best expert. Lost experts are listed as (layer, expert).
//  - Requests: the rank's requests (running in admission order, then waiting) move to the
//    surviving ranks by the assignment policy (serving_instance.hpp: fewest prompt tokens
//    held), each queued there as a preempted sequence is (vLLM's preemption by
//    recomputation): its KV (prompt and emitted tokens) is recomputed, its emitted tokens,
//    first-token time and token gaps kept, so TTFT and TPOT span the move. None fails.
//    The lost rank admits nothing afterwards; its slot in the lockstep group runs an empty
//    batch and sends or receives nothing.
//  - Figures (device_loss_report.hpp), over the decode iterations (no rank computes prompt
//    tokens: the steady state, apart from prefills and the moved requests' recomputation)
//    before and after the loss: per forward MoE layer pass the busiest live rank's token
//    copies and max/mean over the live ranks, the dispatch's bytes between devices, the copies
//    dropped; per iteration the mean time and output tokens per second; the slowdown (after
//    over before iteration time) and the reasons. The transient is the recovery time: at_s
//    until every moved request emitted its next token.
// Serving runs (workload kind serve, aggregated, per_copy exchange, not padded, without
// speculative decoding, offloading or rebalancing) and training runs with
// workload.training.resilience (a restart from a checkpoint, sim/run/resilience.hpp):
// check_device_losses refuses the rest.
//
// Ownership: the tracker keeps `next` (the residency's observer, or null) by pointer; the
// serving instance owns the tracker. Not thread-safe (the instance's event loop).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/engine/time.hpp"
#include "sim/run/device_loss_report.hpp"
#include "sim/run/executor.hpp"
#include "sim/run/expert_placement.hpp"
#include "sim/run/scenario.hpp"
#include "sim/serve/scheduler.hpp"

namespace moesim::sim::run {

/// A device_loss the scenario cannot run: fault `fault`'s key `key` (relative to the fault
/// item, e.g. "kind" or "device"), and why.
struct device_loss_problem {
  std::size_t fault = 0;
  std::string key;
  std::string message;
};
/// The first device_loss of `s` that cannot run (see the header), else nullopt. Device ids
/// are checked against the cluster by the loader first. O(faults).
[[nodiscard]] std::optional<device_loss_problem> check_device_losses(const scenario& s);

/// What the rank's loss did to one placement, before any pass runs on it: the experts it held
/// in `moe_layers`, failed over or lost. Removes the rank from `p` (remove_rank). O(layers x
/// (experts + slots)).
struct expert_loss {
  std::int64_t copies_held = 0;
  std::int64_t failed_over = 0;
  std::vector<std::pair<int, int>> lost;  ///< (layer, expert), ascending
};
[[nodiscard]] expert_loss lose_rank(expert_placement& p, int rank,
                                    const std::vector<int>& moe_layers);

/// A serving instance's device losses: when each is due, and the figures of each.
class device_loss_tracker final : public layer_observer {
 public:
  /// `s`'s device_loss faults, each mapped to its EP rank; `next` hears every layer pass too.
  device_loss_tracker(const scenario& s, layer_observer* next);

  /// The losses due at an iteration boundary at `now` not yet applied, in time order (fault
  /// indices). O(losses).
  [[nodiscard]] std::vector<std::size_t> due(time_ps now) const;
  [[nodiscard]] int rank_of(std::size_t fault) const;
  /// Loss `fault` is applied now: its expert figures and the requests moved (the
  /// sequences as evicted, `running` of them running). Later passes and iterations count
  /// after it.
  void applied(std::size_t fault, time_ps now, const expert_loss& experts,
               const std::vector<serve::detail::sequence>& moved, std::size_t running);

  void on_layer(int layer, const layer_routing& lr, const expert_placement::pass_assignment& placed,
                double token_bytes) override;
  /// An iteration with `its` (one per rank) is about to run: its layer passes and time count
  /// in the figures when it is a decode iteration (no rank computes prompt tokens).
  void begin_iteration(const std::vector<serve::iteration>& its);
  /// That iteration ran from `start` to `end`.
  void on_iteration(time_ps start, time_ps end, const std::vector<serve::iteration>& its);

  /// One report per device_loss fault applied, in application order.
  [[nodiscard]] std::vector<device_loss_report> reports() const;

 private:
  /// The passes and iterations between two consecutive losses (segment k: after k losses).
  struct segment {
    std::int64_t passes = 0;
    double busiest = 0;
    double max_over_mean = 0;
    double bytes = 0;
    double dropped = 0;
    std::int64_t iterations = 0;
    double seconds = 0;
    double output_tokens = 0;
  };
  struct pending_loss {
    std::size_t fault = 0;
    time_ps at = 0;
    int device = 0;
    int rank = 0;
    bool applied = false;
    device_loss_report report;
    std::set<std::uint64_t> waiting_for;  ///< moved requests yet to emit their next token
    time_ps recovered = -1;
  };
  [[nodiscard]] static device_loss_side side_of(const segment& g);

  layer_observer* next_;
  std::vector<pending_loss> losses_;  ///< in time order (ties in fault order)
  std::vector<std::size_t> order_;    ///< losses_ indices in application order
  std::vector<std::uint8_t> lost_;    ///< [rank]
  std::vector<segment> segments_{1};
  bool decode_ = false;  ///< the running iteration is a decode iteration
};

}  // namespace moesim::sim::run
