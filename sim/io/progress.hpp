#pragma once
// The progress line of a run of one or more simulations (a scenario and its strategies), for
// a terminal:
//   moesim: 59%, simulations 1/3 done, passes 400/680, 12 s elapsed, ETA 8 s
// (passes: of the simulations that have started; a single simulation shows no count of
// simulations, and "setting up" until its first pass).
// Simulations report passes, a micro-batch through one model chunk (sim/run/run_options.hpp); the
// fraction done is the mean of the simulations' fractions (a finished one counts 1), and the
// ETA assumes the rest goes at the pace so far. Wall-clock time is passed in by the caller, so
// the meter is a pure function of what it was told (tests inject the clock); nothing of it
// reaches an output file.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace moesim::io {

/// A moment's counts, as progress_meter sums them.
struct progress_counts {
  std::size_t simulations = 1;
  std::size_t finished = 0;
  std::uint64_t done = 0;   ///< passes done, over the simulations that reported
  std::uint64_t total = 0;  ///< their totals (0 before any report)
  double fraction = 0;      ///< of the whole run, 0..1
};

/// The line for `c` after `elapsed_s` seconds of wall time.
[[nodiscard]] std::string format_progress(const progress_counts& c, double elapsed_s);

/// "8 s", "2 min 05 s", "1 h 02 min".
[[nodiscard]] std::string format_duration(double seconds);

class progress_meter {
 public:
  /// The line first shows `delay_s` after the start (short runs stay silent) and is redrawn at
  /// most every `interval_s`.
  explicit progress_meter(std::size_t simulations, double delay_s = 1.0, double interval_s = 0.25);

  /// From any thread, lock-free: simulation `i` has done `done` of `total` passes.
  void update(std::size_t i, std::uint64_t done, std::uint64_t total) noexcept;
  /// From any thread: simulation `i` has ended (finished or failed).
  void finish(std::size_t i) noexcept;

  [[nodiscard]] progress_counts counts() const noexcept;

  /// The line to draw at `now_s` seconds after the start, or nothing when it is before the
  /// delay or within the interval of the last line drawn. One drawing thread only.
  [[nodiscard]] std::optional<std::string> poll(double now_s);
  /// Whether poll ever returned a line (the caller erases it at the end).
  [[nodiscard]] bool drawn() const noexcept { return last_s_.has_value(); }

 private:
  struct entry {
    std::atomic<std::uint64_t> done{0};
    std::atomic<std::uint64_t> total{0};
    std::atomic<bool> finished{false};
  };
  std::size_t simulations_;
  std::unique_ptr<entry[]> entries_;  // atomics cannot move, so no vector
  double delay_s_;
  double interval_s_;
  std::optional<double> last_s_;
};

}  // namespace moesim::io
