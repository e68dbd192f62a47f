#pragma once
// An in-memory timeline of what happened: spans on tracks and counter samples. The simulator
// records into it; sim/io writes it as Chrome trace-event JSON (Perfetto). Recording is
// optional: a disabled recorder drops everything at the cost of one branch.
//
// Selection (to keep large runs' traces small): spans on the track `no_track` are dropped, so a
// caller that gives unselected sources no track records nothing for them; a time window drops
// spans and counter intervals that do not overlap it. Notes are key/value metadata about the
// trace itself (what was selected and left out), written with it.
//
// Tracks are (process, thread) pairs identified by small integers assigned in order of first
// registration, so the output order is deterministic. Times are simulation picoseconds.
#include <cstdint>
#include <limits>
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
  /// A track id that records nothing: spans on it are dropped.
  static constexpr std::uint32_t no_track = std::numeric_limits<std::uint32_t>::max();

  explicit trace_recorder(bool enabled = true) : enabled_(enabled) {}

  [[nodiscard]] bool enabled() const noexcept { return enabled_; }
  /// Whether spans on `track_id` can be recorded (callers skip formatting their args if not).
  [[nodiscard]] bool records(std::uint32_t track_id) const noexcept {
    return enabled_ && track_id != no_track;
  }

  /// Keeps only spans and counter intervals that overlap [from, to] (inclusive); the default
  /// window is everything.
  void set_window(time_ps from, time_ps to) noexcept {
    from_ = from;
    to_ = to;
  }
  [[nodiscard]] bool overlaps(time_ps start, time_ps end) const noexcept {
    return start <= to_ && end >= from_;
  }

  /// Track id for (process_name, thread_name), created on first use. O(log tracks).
  std::uint32_t track(const std::string& process_name, const std::string& thread_name);

  void span(std::uint32_t track_id, std::string name, std::string category, time_ps start,
            time_ps duration, std::vector<trace_arg> args = {}) {
    if (!records(track_id) || !overlaps(start, start + duration)) return;
    spans_.push_back(
        {track_id, std::move(name), std::move(category), start, duration, std::move(args)});
  }

  void counter(const std::string& process_name, std::string name, time_ps at, double value);
  /// The counter at `value` over [start, end] and back to 0 at its end: two samples, both kept
  /// when the interval overlaps the window, both dropped otherwise.
  void counter_interval(const std::string& process_name, const std::string& name, time_ps start,
                        time_ps end, double value);

  /// Adds a note on the trace (key, formatted value) for its metadata; notes keep their order.
  void note(std::string key, std::string value, bool numeric = false) {
    notes_.push_back({std::move(key), std::move(value), numeric});
  }
  [[nodiscard]] const std::vector<trace_arg>& notes() const noexcept { return notes_; }

  [[nodiscard]] const std::vector<trace_track>& tracks() const noexcept { return tracks_; }
  [[nodiscard]] const std::vector<trace_span>& spans() const noexcept { return spans_; }
  [[nodiscard]] const std::vector<trace_counter>& counters() const noexcept { return counters_; }
  [[nodiscard]] const std::vector<std::string>& process_names() const noexcept {
    return processes_;
  }

 private:
  std::uint32_t process_id(const std::string& process_name);

  bool enabled_;
  time_ps from_ = std::numeric_limits<time_ps>::min();
  time_ps to_ = std::numeric_limits<time_ps>::max();
  std::vector<trace_arg> notes_;
  std::vector<std::string> processes_;
  std::map<std::string, std::uint32_t> process_ids_;
  std::vector<trace_track> tracks_;
  std::map<std::pair<std::uint32_t, std::string>, std::uint32_t> track_ids_;
  std::vector<trace_span> spans_;
  std::vector<trace_counter> counters_;
};

}  // namespace moesim::sim
