#pragma once
// Draws a progress_meter's line (sim/io/progress.hpp) in place on stderr, from a thread of its
// own, when enabled (the run verb enables it when stderr is a terminal and --quiet is off);
// erases the line when destroyed, before the summary or an error is printed. It writes to
// nothing else, so outputs and stdout are the same with or without it.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "sim/io/progress.hpp"

namespace moesim::cli {

class progress_display {
 public:
  progress_display(io::progress_meter& meter, bool enabled);
  ~progress_display();
  progress_display(const progress_display&) = delete;
  progress_display& operator=(const progress_display&) = delete;

  /// Whether stderr is a terminal (where a line redrawn in place makes sense).
  [[nodiscard]] static bool stderr_is_terminal() noexcept;

 private:
  void loop();

  io::progress_meter& meter_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace moesim::cli
