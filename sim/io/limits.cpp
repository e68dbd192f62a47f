#include "sim/io/limits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>

#include "sim/io/error.hpp"
#include "sim/io/units.hpp"

namespace moesim::io {

namespace {

/// An estimate as an integer when it is one (a count), else with 3 significant digits.
std::string count_text(double v) {
  if (v >= 0 && v < 1e18 && v == std::floor(v)) return fmt::format("{:.0f}", v);
  return fmt::format("{:.3g}", v);
}

/// Mean of a length distribution, tokens.
double mean_length(const serve::length_dist& d) noexcept {
  switch (d.shape) {
    case serve::length_dist::kind::fixed:
      return d.value;
    case serve::length_dist::kind::uniform:
      return (d.min + d.max) / 2;
    case serve::length_dist::kind::lognormal:
      return d.max > 0 ? std::min(d.mean, d.max) : d.mean;
  }
  return 0;
}

}  // namespace

void enforce_limit(std::string_view what, double estimate, double limit, std::string_view unit,
                   std::string_view why, bool allow_large) {
  if (allow_large || !(estimate > limit)) return;
  throw input_error(fmt::format("{}: {} {}, more than the limit of {} ({}); pass {} to go ahead",
                                what, count_text(estimate), unit, count_text(limit), why,
                                limits::allow_large_flag));
}

double cluster_devices(const topo::cluster_spec& c) noexcept {
  if (c.fabric != topo::fabric_kind::torus) {
    return static_cast<double>(c.nodes) * static_cast<double>(c.gpus_per_node);
  }
  double n = 1;
  for (int a : c.shape) n *= static_cast<double>(a);
  return n * static_cast<double>(std::max(1, c.slices));
}

double all_to_all_flows(double ranks) noexcept {
  return ranks * std::max(0.0, ranks - 1);
}

double serve_request_estimate(const serve::request_spec& r) noexcept {
  if (r.arrivals == serve::arrival_kind::trace) return static_cast<double>(r.trace.size());
  const double count = static_cast<double>(r.count);
  double n = 0;
  if (r.arrivals != serve::arrival_kind::closed && r.duration_s > 0)
    n = r.rate_per_s * r.duration_s;
  if (count > 0) n = n > 0 ? std::min(n, count) : count;
  return n;
}

double serve_token_estimate(const serve::request_spec& r) noexcept {
  if (r.arrivals == serve::arrival_kind::trace) {
    double t = 0;
    for (const auto& q : r.trace) {
      t += static_cast<double>(q.prompt_tokens) + static_cast<double>(q.output_tokens);
    }
    return t;
  }
  return serve_request_estimate(r) * (mean_length(r.prompt) + mean_length(r.output));
}

namespace {

void check_devices(std::string_view what, double devices, bool allow_large) {
  enforce_limit(
      what, devices, limits::devices, "devices",
      fmt::format("the topology graph takes ~2.2 KB a device: ~{}", format_bytes(devices * 2200)),
      allow_large);
}

}  // namespace

void check_cluster_limits(const topo::cluster_spec& c, bool allow_large) {
  const std::string what =
      fmt::format("cluster {}{}", c.name,
                  c.fabric == topo::fabric_kind::torus ? " " + topo::format_shape(c.shape) : "");
  check_devices(what, cluster_devices(c), allow_large);
}

void check_scenario_limits(const sim::run::scenario& s, const std::string& origin,
                           bool allow_large) {
  const double flows = all_to_all_flows(s.parallelism.ep);
  enforce_limit(origin, flows, limits::flows,
                fmt::format("flows in one expert all-to-all over ep {}", s.parallelism.ep),
                "each flow takes ~380 bytes and ~16 us to simulate", allow_large);
  if (s.workload.serve) {
    const auto& r = s.workload.serve->requests;
    enforce_limit(origin, serve_request_estimate(r), limits::serve_requests,
                  "requests (workload.serve.arrivals: rate x duration_s)",
                  "~4.5 ms of wall time a request: hours", allow_large);
    enforce_limit(origin, serve_token_estimate(r), limits::serve_tokens,
                  "tokens to serve (requests x mean prompt + output)",
                  "~3.5 us of wall time a token: hours", allow_large);
  }
}

std::string read_input_file(const std::string& path, const std::string& cannot_open) {
  std::optional<std::string> text;
  try {
    text = limits::read_input_text(path);
  } catch (const std::invalid_argument& e) {
    throw input_error(e.what());
  }
  if (!text) throw input_error(cannot_open);
  return std::move(*text);
}

}  // namespace moesim::io
