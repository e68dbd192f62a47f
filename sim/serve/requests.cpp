#include "sim/serve/requests.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <stdexcept>
#include <string>

namespace moesim::serve {

namespace {

[[noreturn]] void refuse(const std::string& what) {
  throw std::invalid_argument("serve requests: " + what);
}

bool positive_finite(double v) {
  return std::isfinite(v) && v > 0;
}

// Lengths are held as int64 and summed by the scheduler; a draw beyond this is a
// distribution far outside anything servable, capped so rounding cannot overflow.
constexpr double max_length = 9.0e15;

}  // namespace

void check_length_dist(const length_dist& d, const std::string& what) {
  const auto bad = [&](const std::string& detail) { refuse(what + ": " + detail); };
  switch (d.shape) {
    case length_dist::kind::fixed:
      if (!(std::isfinite(d.value) && d.value >= 1 && d.value <= max_length)) {
        bad(fmt::format("fixed length must be at least 1 token, got {}", d.value));
      }
      return;
    case length_dist::kind::uniform:
      if (!(std::isfinite(d.min) && std::isfinite(d.max) && d.min >= 1 && d.max <= max_length)) {
        bad(fmt::format("uniform bounds must be at least 1 token, got [{}, {}]", d.min, d.max));
      }
      if (d.min > d.max) bad(fmt::format("uniform min {} is above max {}", d.min, d.max));
      return;
    case length_dist::kind::lognormal:
      if (!(std::isfinite(d.mean) && d.mean >= 1 && d.mean <= max_length)) {
        bad(fmt::format("lognormal mean must be at least 1 token, got {}", d.mean));
      }
      if (!positive_finite(d.cv)) bad(fmt::format("lognormal cv must be > 0, got {}", d.cv));
      if (!(std::isfinite(d.min) && std::isfinite(d.max) && d.min >= 0 && d.max >= 0)) {
        bad(fmt::format("lognormal clamp must be >= 0, got [{}, {}]", d.min, d.max));
      }
      if (d.min > 0 && d.max > 0 && d.min > d.max) {
        bad(fmt::format("lognormal clamp min {} is above max {}", d.min, d.max));
      }
      return;
  }
}

void check_request_spec(const request_spec& spec) {
  if (spec.arrivals == arrival_kind::poisson || spec.arrivals == arrival_kind::gamma) {
    if (!positive_finite(spec.rate_per_s)) {
      refuse(fmt::format("rate_per_s must be finite and > 0, got {}", spec.rate_per_s));
    }
  }
  if (spec.arrivals == arrival_kind::gamma && !positive_finite(spec.cv)) {
    refuse(fmt::format("gamma cv must be finite and > 0, got {}", spec.cv));
  }
  if (spec.arrivals == arrival_kind::closed && spec.concurrency < 1) {
    refuse("a closed loop needs concurrency >= 1");
  }
  if (!(std::isfinite(spec.duration_s) && spec.duration_s >= 0)) {
    refuse(fmt::format("duration_s must be finite and >= 0, got {}", spec.duration_s));
  }
  if (!(std::isfinite(spec.prefix_hit_rate) && spec.prefix_hit_rate >= 0 &&
        spec.prefix_hit_rate <= 1)) {
    refuse(fmt::format("prefix_hit_rate must be in [0, 1], got {}", spec.prefix_hit_rate));
  }
  if (spec.prefix_tokens < 0) {
    refuse(fmt::format("prefix_tokens must be >= 0, got {}", spec.prefix_tokens));
  }
  if (spec.arrivals == arrival_kind::trace) {
    if (spec.trace.empty()) refuse("a trace needs at least one request");
    sim::time_ps previous = 0;
    for (std::size_t i = 0; i < spec.trace.size(); ++i) {
      const request& r = spec.trace[i];
      if (r.arrival < previous) {
        refuse(fmt::format("trace row {} arrives at {} ps, before the previous row's {} ps", i,
                           r.arrival, previous));
      }
      if (r.prompt_tokens < 1 || r.output_tokens < 1 || r.cached_prompt_tokens < 0 ||
          r.cached_prompt_tokens >= r.prompt_tokens) {
        refuse(
            fmt::format("trace row {}: need prompt_tokens >= 1, output_tokens >= 1 and 0 <= "
                        "cached_prompt_tokens < prompt_tokens, got {}, {}, {}",
                        i, r.prompt_tokens, r.output_tokens, r.cached_prompt_tokens));
      }
      previous = r.arrival;
    }
    return;
  }
  if (spec.duration_s == 0 && spec.count == 0) {
    refuse("an open or closed loop needs a bound: duration_s > 0 or count > 0");
  }
  check_length_dist(spec.prompt, "prompt");
  check_length_dist(spec.output, "output");
}

std::int64_t draw_length(const length_dist& d, rng& g) {
  double x = 0;
  switch (d.shape) {
    case length_dist::kind::fixed:
      x = std::round(d.value);
      break;
    case length_dist::kind::uniform: {
      const auto lo = static_cast<std::uint64_t>(std::ceil(d.min));
      const auto hi = static_cast<std::uint64_t>(std::floor(d.max));
      // A range holding no integer (min 1.5, max 1.7) degenerates to its lower bound.
      return static_cast<std::int64_t>(hi < lo ? lo : lo + g.below(hi - lo + 1));
    }
    case length_dist::kind::lognormal: {
      const double sigma2 = std::log1p(d.cv * d.cv);
      const double mu = std::log(d.mean) - sigma2 / 2;
      x = std::round(std::exp(mu + std::sqrt(sigma2) * g.normal()));
      x = std::max(x, 1.0);
      if (d.min > 0) x = std::max(x, std::ceil(d.min));
      if (d.max > 0) x = std::min(x, std::floor(d.max));
      break;
    }
  }
  return static_cast<std::int64_t>(std::clamp(x, 1.0, max_length));
}

request_source::request_source(const request_spec& spec, std::uint64_t seed)
    : spec_((check_request_spec(spec), spec)),
      duration_ps_(sim::ps_from_seconds(spec.duration_s)),
      arrivals_(rng::stream(seed, "serve.arrivals")),
      lengths_(rng::stream(seed, "serve.lengths")),
      prefix_(rng::stream(seed, "serve.prefix")) {
  if (spec_.arrivals != arrival_kind::closed) advance();
}

void request_source::advance() {
  next_arrival_.reset();
  if (spec_.count != 0 && issued_ >= spec_.count) return;
  sim::time_ps t = 0;
  if (spec_.arrivals == arrival_kind::trace) {
    if (issued_ >= spec_.trace.size()) return;
    t = spec_.trace[issued_].arrival;
  } else {
    double gap_s = 0;
    if (spec_.arrivals == arrival_kind::poisson) {
      gap_s = arrivals_.exponential(spec_.rate_per_s);
    } else {
      // Gamma(k, theta) has CV 1/sqrt(k) and mean k * theta = 1 / rate.
      const double k = 1 / (spec_.cv * spec_.cv);
      gap_s = arrivals_.gamma(k) / (k * spec_.rate_per_s);
    }
    const sim::time_ps gap = sim::ps_from_seconds(gap_s);
    if (gap > sim::time_max - last_arrival_) {
      throw std::invalid_argument(
          fmt::format("serve requests: arrival {} beyond the clock's range (9.2e6 s); bound the "
                      "stream by duration_s",
                      issued_));
    }
    t = last_arrival_ + gap;
  }
  if (duration_ps_ != 0 && t >= duration_ps_) return;
  next_arrival_ = t;
}

request request_source::draw_request(sim::time_ps arrival) {
  request r;
  r.id = issued_++;
  r.arrival = arrival;
  r.prompt_tokens = draw_length(spec_.prompt, lengths_);
  r.output_tokens = draw_length(spec_.output, lengths_);
  // Drawn for every request, hit or not, so the hit rate alone decides which ones hit.
  if (prefix_.uniform01() < spec_.prefix_hit_rate) {
    r.cached_prompt_tokens = std::min(spec_.prefix_tokens, r.prompt_tokens - 1);
  }
  return r;
}

std::optional<request> request_source::next_open() {
  assert(spec_.arrivals != arrival_kind::closed);
  if (!next_arrival_) return std::nullopt;
  const sim::time_ps at = *next_arrival_;
  last_arrival_ = at;
  request r;
  if (spec_.arrivals == arrival_kind::trace) {
    r = spec_.trace[issued_];
    r.id = issued_++;
  } else {
    r = draw_request(at);
  }
  advance();
  return r;
}

request request_source::next_closed(sim::time_ps now) {
  assert(spec_.arrivals == arrival_kind::closed && can_issue(now) && now >= last_arrival_);
  last_arrival_ = now;
  return draw_request(now);
}

bool request_source::can_issue(sim::time_ps now) const noexcept {
  return !exhausted() && (duration_ps_ == 0 || now < duration_ps_);
}

bool request_source::exhausted() const noexcept {
  if (spec_.arrivals != arrival_kind::closed) return !next_arrival_;
  return spec_.count != 0 && issued_ >= spec_.count;
}

}  // namespace moesim::serve
