#pragma once
// A deterministic stream of serving requests drawn from a request_spec and a seed.
//
// Open loops (poisson, gamma, trace) are pulled in arrival order with next_open(); a closed
// loop is driven by its caller, which asks for a new request whenever a client is free
// (next_closed). Ids count from 0 in the order requests are handed out.
//
// Randomness comes only from moesim::rng (sim/engine/random.hpp), in independent streams per
// purpose under the seed: "serve.arrivals" (inter-arrival gaps), "serve.lengths" (prompt then
// output length of each request) and "serve.prefix" (prefix-cache hits). Changing the length
// distributions therefore never moves the arrival times, and vice versa.
#include <cstdint>
#include <optional>

#include "sim/engine/random.hpp"
#include "sim/serve/request.hpp"
#include "sim/serve/request_spec.hpp"

namespace moesim::serve {

/// Throws std::invalid_argument naming the field when `spec` cannot be drawn from: a rate or
/// cv not finite and > 0, closed concurrency 0, an open or closed loop bounded neither by
/// duration_s nor count, a trace without rows or with rows out of order or out of range,
/// or a length distribution check_length_dist refuses.
void check_request_spec(const request_spec& spec);

/// Throws std::invalid_argument (prefixed with `what`) unless every draw of `d` is an integer
/// >= 1: fixed value >= 1; uniform 1 <= min <= max; lognormal mean >= 1, cv > 0, clamps >= 0
/// and min <= max when both are given.
void check_length_dist(const length_dist& d, const std::string& what);

/// One length from `d`, tokens, >= 1. fixed: round(value). uniform: an integer in [min, max],
/// each equally likely. lognormal: exp(N(mu, sigma^2)) with sigma^2 = ln(1 + cv^2) and
/// mu = ln(mean) - sigma^2 / 2 (so the draw's mean is `mean` and its CV `cv`), rounded to
/// nearest, at least 1, and clamped to [min, max] where those are non-zero. One or more
/// draws from `g` (uniform: one; lognormal: the normal sampler's). Precondition: `d` passes
/// check_length_dist.
std::int64_t draw_length(const length_dist& d, rng& g);

class request_source {
 public:
  /// Checks `spec` (check_request_spec) and copies what it needs; the trace rows are copied
  /// too, so `spec` need not outlive the source.
  request_source(const request_spec& spec, std::uint64_t seed);

  /// poisson, gamma, trace: the next request in arrival order, or nullopt once the next one
  /// would arrive at or after duration_s or count requests have been handed out (and for a
  /// trace, after its last row). Trace rows keep their lengths and cached prefix; their ids
  /// are renumbered from 0. Precondition: not a closed loop.
  std::optional<request> next_open();

  /// When next_open() will return a request and its arrival time, without drawing it; nullopt
  /// when it will not. Precondition: not a closed loop.
  [[nodiscard]] std::optional<sim::time_ps> peek_arrival() const noexcept { return next_arrival_; }

  /// closed: a new request arriving at `now` with freshly drawn lengths. Preconditions: a
  /// closed loop, can_issue(now), and `now` not earlier than the previous call's.
  request next_closed(sim::time_ps now);

  /// closed: whether a request may arrive at `now` (fewer than count handed out, and `now`
  /// before duration_s).
  [[nodiscard]] bool can_issue(sim::time_ps now) const noexcept;

  /// No request will follow: open loops, peek_arrival() is empty; closed, count is reached
  /// (a closed loop bounded by duration_s alone ends when can_issue(now) turns false).
  [[nodiscard]] bool exhausted() const noexcept;

  /// Requests handed out so far (the next one's id).
  [[nodiscard]] std::uint64_t issued() const noexcept { return issued_; }

 private:
  /// Draws the gap to the next open-loop arrival, or ends the stream at a bound.
  void advance();
  /// The lengths and cached prefix of a new request (id and arrival set by the caller).
  request draw_request(sim::time_ps arrival);

  request_spec spec_;
  sim::time_ps duration_ps_ = 0;  ///< 0 = unbounded
  rng arrivals_;
  rng lengths_;
  rng prefix_;
  std::uint64_t issued_ = 0;
  sim::time_ps last_arrival_ = 0;
  std::optional<sim::time_ps> next_arrival_;  ///< open loops: the drawn next arrival
};

}  // namespace moesim::serve
