#pragma once
// What a `device_loss` fault did to a serving run (sim/run/device_loss.hpp has the mechanism;
// the metrics' faults.events[].device_loss object, sim/io/fault_metrics.hpp, prints it).
// Plain data; "before" is the serving run's decode iterations (and their forward MoE layer
// passes) that started before the loss was applied, "after" those that started after it.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace moesim::sim::run {

/// One side (before / after the loss) of the load and traffic figures, per forward MoE layer
/// pass (means over the passes of that side).
struct device_loss_side {
  std::int64_t layer_passes = 0;
  /// The busiest live EP rank's (token, expert) copies in a pass, and that over the mean of
  /// the live ranks (1 = even).
  double busiest_rank_copies = 0;
  double max_over_mean = 0;
  double dispatch_bytes = 0;  ///< the dispatch all-to-all's bytes between devices, per pass
  double copies_dropped = 0;  ///< (token, expert) copies to experts left without a copy
  std::int64_t iterations = 0;
  double iteration_s = 0;            ///< mean iteration time
  double output_tokens_per_s = 0;    ///< output tokens emitted over the side's iteration time
};

struct device_loss_report {
  std::size_t fault = 0;    ///< index in scenario::faults
  int device = 0;           ///< the cluster device the fault named
  int rank = 0;             ///< its attention-DP / EP rank (with tp > 1, its whole TP group)
  double applied_at_s = 0;  ///< the first iteration boundary at or after at_s
  /// (layer, expert) copies the rank held, over the MoE layers.
  std::int64_t expert_copies_held = 0;
  /// (layer, expert) pairs whose copy on the rank was lost but that keep a copy elsewhere.
  std::int64_t experts_failed_over = 0;
  /// (layer, expert) pairs left without any copy, in (layer, expert) order.
  std::vector<std::pair<int, int>> experts_lost;
  std::map<int, int> experts_lost_per_layer;  ///< layer -> experts lost in it
  std::string lost_expert_tokens = "dropped";  ///< what happens to tokens routed to them
  /// The rank's requests, moved to the surviving ranks (running, then waiting), each to
  /// recompute its KV there: prompt and emitted tokens.
  std::int64_t requests_requeued = 0;
  std::int64_t requests_running = 0;  ///< of those, running on the rank at the loss
  std::int64_t kv_tokens_recomputed = 0;
  /// From at_s until every re-queued request has emitted its next token (or 0 when none
  /// was re-queued); -1 when one of them never did within the run.
  double recovery_s = 0;
  device_loss_side before;
  device_loss_side after;
  double slowdown = 0;  ///< after.iteration_s / before.iteration_s (0 without both)
  /// 1 - after.output_tokens_per_s / before.output_tokens_per_s (0 without both)
  double throughput_loss = 0;
  std::string why;      ///< the figures that explain the slowdown, for people
};

}  // namespace moesim::sim::run
