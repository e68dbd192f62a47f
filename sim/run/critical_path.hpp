#pragma once
// The critical path of a run, by category. Every timed op is recorded with its interval and
// the ops it waited for (data dependencies and the previous op on its stream). Walking back
// from the op that ends last, always to the predecessor that ended last, gives the chain of ops
// that set the run's length; each op's duration is charged to its category, and the gaps
// between a predecessor's end and an op's start (latencies, barriers) to "idle".
// So the breakdown sums exactly to the end time of the last op.
//
// Every op has an owner (its pipeline stage). The walk stays on the owner of the last op: when
// an op's latest dependency belongs to another owner (an activation or gradient from another
// stage), the wait since the owner's own latest dependency is charged to pipeline_bubble and the
// walk continues from that own dependency. So the breakdown reads as the timeline of the stage
// that finishes last, its waits for other stages being the pipeline bubble (Megatron's
// (pp-1)·(t_f + t_b) / vp for balanced stages).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sim/engine/time.hpp"
#include "sim/run/result.hpp"

namespace moesim::sim::run {

/// Categories, in the order the breakdown lists them.
enum class category : std::uint8_t {
  attention,
  router,
  expert_compute,
  expert_weight_load,
  dense_ffn,
  dispatch,
  combine,
  tp_collective,
  dp_collective,
  pipeline_bubble,
  lm_head,
  optimizer,
  idle,
};
inline constexpr int category_count = 13;
[[nodiscard]] std::string_view to_string(category c) noexcept;

class op_log {
 public:
  using op_id = std::int64_t;

  /// Records an op of `owner` on [start, end) that waited for `deps` (ids of earlier ops; -1
  /// entries are ignored). Returns its id. O(deps).
  op_id add(category c, time_ps start, time_ps end, std::span<const op_id> deps, int owner = 0);

  [[nodiscard]] time_ps end_of(op_id id) const { return ops_[static_cast<std::size_t>(id)].end; }

  [[nodiscard]] std::size_t size() const noexcept { return ops_.size(); }

  /// Seconds per category along the critical path ending at the latest-ending op, with every
  /// category listed (zeros included). O(ops on the path). With `owner` >= 0 the walk starts
  /// from that owner's latest-ending op instead (e.g. the busiest pipeline stage, whose
  /// timeline explains the step better than the first stage's waits), and the time from its
  /// end to the last op's counts as pipeline_bubble; the sum is the same.
  [[nodiscard]] breakdown critical_path(int owner = -1) const;

 private:
  struct op {
    category cat;
    time_ps start;
    time_ps end;
    op_id latest_dep;  ///< the dependency that ended last, -1 if none
    op_id latest_own;  ///< the dependency of the same owner that ended last, -1 if none
    int owner;
  };
  std::vector<op> ops_;
};

}  // namespace moesim::sim::run
