#pragma once
// Requests on the trace: each finished request drawn as three spans on a lane of the
// "requests" process, queued (arrival to its first iteration), prefill (to its first token) and
// decode (to its last), with its lengths as arguments. A lane holds requests one after another
// (a request takes the first lane free at its arrival), so spans never overlap on a track; at
// most `max_lanes` lanes, and requests that find none are counted, not drawn.
#include <cstdint>
#include <map>
#include <vector>

#include "sim/engine/trace.hpp"
#include "sim/serve/scheduler.hpp"

namespace moesim::sim::run {

class request_spans {
 public:
  request_spans(trace_recorder& trace, std::size_t max_lanes);

  /// The request ran its first iteration starting at `at` (later calls for it are ignored).
  void started(std::uint64_t request, time_ps at);
  /// Draws a finished request. O(lanes).
  void finished(const moesim::serve::finished_request& f);

  [[nodiscard]] std::uint64_t skipped() const noexcept { return skipped_; }

 private:
  trace_recorder& trace_;
  std::size_t max_lanes_;
  std::vector<time_ps> lane_end_;  ///< per lane: the end of its last span
  std::vector<std::uint32_t> lane_track_;
  std::map<std::uint64_t, time_ps> started_;  ///< requests running, by id
  std::uint64_t skipped_ = 0;
};

}  // namespace moesim::sim::run
