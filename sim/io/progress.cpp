#include "sim/io/progress.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace moesim::io {

std::string format_duration(double seconds) {
  const auto s = static_cast<long long>(std::llround(std::max(0.0, seconds)));
  if (s < 60) return fmt::format("{} s", s);
  if (s < 3600) return fmt::format("{} min {:02} s", s / 60, s % 60);
  return fmt::format("{} h {:02} min", s / 3600, s % 3600 / 60);
}

std::string format_progress(const progress_counts& c, double elapsed_s) {
  std::string line = fmt::format("moesim: {:.0f}%", std::floor(100 * c.fraction));
  if (c.simulations > 1) {
    line += fmt::format(", simulations {}/{} done", c.finished, c.simulations);
  }
  line += c.total > 0 ? fmt::format(", passes {}/{}", c.done, c.total) : ", setting up";
  line += fmt::format(", {} elapsed", format_duration(elapsed_s));
  if (c.fraction > 0 && c.fraction < 1) {
    line += ", ETA " + format_duration(elapsed_s * (1 - c.fraction) / c.fraction);
  }
  return line;
}

progress_meter::progress_meter(std::size_t simulations, double delay_s, double interval_s)
    : simulations_(simulations),
      entries_(std::make_unique<entry[]>(simulations)),
      delay_s_(delay_s),
      interval_s_(interval_s) {}

void progress_meter::update(std::size_t i, std::uint64_t done, std::uint64_t total) noexcept {
  entries_[i].total.store(total, std::memory_order_relaxed);
  entries_[i].done.store(done, std::memory_order_relaxed);
}

void progress_meter::finish(std::size_t i) noexcept {
  entries_[i].finished.store(true, std::memory_order_relaxed);
}

progress_counts progress_meter::counts() const noexcept {
  progress_counts c;
  c.simulations = simulations_;
  double sum = 0;
  for (std::size_t i = 0; i < simulations_; ++i) {
    const entry& e = entries_[i];
    const std::uint64_t total = e.total.load(std::memory_order_relaxed);
    const std::uint64_t done = std::min(e.done.load(std::memory_order_relaxed), total);
    c.done += done;
    c.total += total;
    if (e.finished.load(std::memory_order_relaxed)) {
      ++c.finished;
      sum += 1;
    } else if (total > 0) {
      sum += static_cast<double>(done) / static_cast<double>(total);
    }
  }
  c.fraction = simulations_ > 0 ? sum / static_cast<double>(simulations_) : 1;
  return c;
}

std::optional<std::string> progress_meter::poll(double now_s) {
  if (now_s < delay_s_) return std::nullopt;
  if (last_s_ && now_s - *last_s_ < interval_s_) return std::nullopt;
  last_s_ = now_s;
  return format_progress(counts(), now_s);
}

}  // namespace moesim::io
