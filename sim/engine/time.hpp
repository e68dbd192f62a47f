#pragma once
// Simulated time: an integer count of picoseconds. Never a double for the clock: doubles lose
// picosecond resolution beyond ~2.5 hours of simulated time and make event order depend on
// rounding. int64 ps covers ±106 days.
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace moesim::sim {

using time_ps = std::int64_t;

inline constexpr time_ps ps_per_ns = 1'000;
inline constexpr time_ps ps_per_us = 1'000'000;
inline constexpr time_ps ps_per_ms = 1'000'000'000;
inline constexpr time_ps ps_per_s = 1'000'000'000'000;
inline constexpr time_ps time_max = std::numeric_limits<time_ps>::max();

/// Seconds (finite, >= 0) to picoseconds, rounded to nearest. Throws std::invalid_argument on
/// NaN, negative, or values beyond the clock's range: a duration that cannot be represented is
/// a modelling error, not something to clamp silently.
inline time_ps ps_from_seconds(double seconds) {
  if (!(seconds >= 0.0) || seconds * 1e12 >= 9.2e18) {
    throw std::invalid_argument("duration out of the simulator's range (0 .. 9.2e6 s)");
  }
  return static_cast<time_ps>(std::llround(seconds * 1e12));
}

/// Picoseconds to seconds (for outputs only; never feed the result back into the clock).
inline constexpr double seconds(time_ps t) {
  return static_cast<double>(t) * 1e-12;
}

/// Time to move `bytes` at `bytes_per_s` (> 0), rounded up to whole picoseconds so that a
/// non-empty transfer never takes zero time.
inline time_ps transfer_ps(double bytes, double bytes_per_s) {
  if (bytes <= 0.0) return 0;
  return ps_from_seconds(std::ceil(bytes / bytes_per_s * 1e12) * 1e-12);
}

}  // namespace moesim::sim
