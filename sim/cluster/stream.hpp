#pragma once
// An in-order stream of work on one device resource (the compute units, the HBM copy engine),
// like a CUDA stream: an op starts when it is ready and the stream has finished everything
// enqueued before it. Durations are known when an op is enqueued, so the stream answers with
// its start and end at once; the caller schedules the follow-up event at the end.
#include <cstdint>

#include "sim/engine/time.hpp"

namespace moesim::sim::cluster {

struct stream_slot {
  time_ps start;
  time_ps end;
  std::int64_t previous_op;  ///< caller's id of the op that held the stream before, or -1
};

class stream {
 public:
  /// Reserves [max(ready, free), +duration). `op` is the caller's id for the op (recorded so
  /// the next op can name it as its stream predecessor). O(1).
  stream_slot enqueue(time_ps ready, time_ps duration, std::int64_t op) {
    const time_ps start = ready > free_at_ ? ready : free_at_;
    const std::int64_t prev = start == ready && ready > free_at_ ? -1 : last_op_;
    free_at_ = start + duration;
    busy_ps_ += duration;
    last_op_ = op;
    return {start, free_at_, prev};
  }
  [[nodiscard]] time_ps free_at() const noexcept { return free_at_; }
  [[nodiscard]] time_ps busy_ps() const noexcept { return busy_ps_; }

 private:
  time_ps free_at_ = 0;
  time_ps busy_ps_ = 0;
  std::int64_t last_op_ = -1;
};

}  // namespace moesim::sim::cluster
