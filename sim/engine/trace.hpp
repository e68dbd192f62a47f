#pragma once
// An in-memory timeline of what happened: spans on tracks and counter samples. The simulator
// records into it; sim/io writes it as Chrome trace-event JSON (Perfetto). Recording is
// optional: a disabled recorder drops everything at the cost of one branch.
//
// Tracks are (process, thread) pairs identified by small integers assigned in order of first
// registration, so the output order is deterministic. Times are simulation picoseconds.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sim/engine/time.hpp"

namespace moesim::sim {

struct trace_arg {
  std::string key;
  std::string value;  ///< already formatted; numbers are written unquoted when `numeric`
  bool numeric = false;
};

struct trace_span {
  std::uint32_t track;
  std::string name;
  std::string category;
  time_ps start;
  time_ps duration;
  std::vector<trace_arg> args;
};

struct trace_counter {
  std::uint32_t process;
  std::string name;
  time_ps at;
  double value;
};

struct trace_track {
  std::uint32_t process;
  std::uint32_t thread;
  std::string process_name;
  std::string thread_name;
};

class trace_recorder {
 public:
  explicit trace_recorder(bool enabled = true) : enabled_(enabled) {}

  [[nodiscard]] bool enabled() const noexcept { return enabled_; }

  /// Track id for (process_name, thread_name), created on first use. O(log tracks).
  std::uint32_t track(const std::string& process_name, const std::string& thread_name);

  void span(std::uint32_t track_id, std::string name, std::string category, time_ps start,
            time_ps duration, std::vector<trace_arg> args = {}) {
    if (!enabled_) return;
    spans_.push_back(
        {track_id, std::move(name), std::move(category), start, duration, std::move(args)});
  }

  void counter(const std::string& process_name, std::string name, time_ps at, double value);

  [[nodiscard]] const std::vector<trace_track>& tracks() const noexcept { return tracks_; }
  [[nodiscard]] const std::vector<trace_span>& spans() const noexcept { return spans_; }
  [[nodiscard]] const std::vector<trace_counter>& counters() const noexcept { return counters_; }
  [[nodiscard]] const std::vector<std::string>& process_names() const noexcept {
    return processes_;
  }

 private:
  std::uint32_t process_id(const std::string& process_name);

  bool enabled_;
  std::vector<std::string> processes_;
  std::map<std::string, std::uint32_t> process_ids_;
  std::vector<trace_track> tracks_;
  std::map<std::pair<std::uint32_t, std::string>, std::uint32_t> track_ids_;
  std::vector<trace_span> spans_;
  std::vector<trace_counter> counters_;
};

}  // namespace moesim::sim
