#include "tools/moesim/progress_display.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace moesim::cli {

namespace {

// The line, cut to the terminal's width so that "\r" returns to its start.
std::string fit(std::string line) {
  winsize w{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 1 && line.size() >= w.ws_col) {
    line.resize(static_cast<std::size_t>(w.ws_col - 1));
  }
  return line;
}

}  // namespace

bool progress_display::stderr_is_terminal() noexcept {
  return isatty(STDERR_FILENO) == 1;
}

progress_display::progress_display(io::progress_meter& meter, bool enabled)
    : meter_(meter), start_(std::chrono::steady_clock::now()) {
  if (enabled) thread_ = std::thread([this] { loop(); });
}

progress_display::~progress_display() {
  if (!thread_.joinable()) return;
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
  if (meter_.drawn()) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }
}

void progress_display::loop() {
  std::unique_lock lock(mutex_);
  // Wakes 10 times a second; the meter draws at most every 0.25 s, after 1 s.
  while (!wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop_; })) {
    const double now =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (const auto line = meter_.poll(now)) {
      std::fprintf(stderr, "\r%s\033[K", fit(*line).c_str());
      std::fflush(stderr);
    }
  }
}

}  // namespace moesim::cli
