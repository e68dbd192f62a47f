#include "sim/io/units.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

#include "sim/engine/csv_text.hpp"

namespace moesim::io {

namespace {

struct unit {
  std::string_view name;
  double factor;
};

constexpr double k1 = 1e3, m1 = 1e6, g1 = 1e9, t1 = 1e12, p1 = 1e15, e1 = 1e18;
constexpr double ki = 1024.0, mi = ki * ki, gi = mi * ki, ti = gi * ki, pi = ti * ki;

constexpr std::array byte_units{unit{"B", 1},    unit{"kB", k1},  unit{"KB", k1},  unit{"MB", m1},
                                unit{"GB", g1},  unit{"TB", t1},  unit{"PB", p1},  unit{"KiB", ki},
                                unit{"MiB", mi}, unit{"GiB", gi}, unit{"TiB", ti}, unit{"PiB", pi}};

constexpr std::array bandwidth_units{
    unit{"B/s", 1},       unit{"kB/s", k1},     unit{"KB/s", k1},     unit{"MB/s", m1},
    unit{"GB/s", g1},     unit{"TB/s", t1},     unit{"KiB/s", ki},    unit{"MiB/s", mi},
    unit{"GiB/s", gi},    unit{"TiB/s", ti},    unit{"bps", 0.125},   unit{"b/s", 0.125},
    unit{"kbps", k1 / 8}, unit{"Kbps", k1 / 8}, unit{"Mbps", m1 / 8}, unit{"Gbps", g1 / 8},
    unit{"Tbps", t1 / 8}, unit{"kb/s", k1 / 8}, unit{"Kb/s", k1 / 8}, unit{"Mb/s", m1 / 8},
    unit{"Gb/s", g1 / 8}, unit{"Tb/s", t1 / 8}};

constexpr std::array time_units{unit{"ps", 1e-12}, unit{"ns", 1e-9}, unit{"us", 1e-6},
                                unit{"µs", 1e-6},  unit{"ms", 1e-3}, unit{"s", 1},
                                unit{"min", 60},   unit{"h", 3600}};

constexpr std::array flops_units{
    unit{"FLOPS", 1},    unit{"FLOP/s", 1},   unit{"kFLOPS", k1},  unit{"MFLOPS", m1},
    unit{"GFLOPS", g1},  unit{"TFLOPS", t1},  unit{"PFLOPS", p1},  unit{"EFLOPS", e1},
    unit{"GFLOP/s", g1}, unit{"TFLOP/s", t1}, unit{"PFLOP/s", p1}, unit{"EFLOP/s", e1},
    unit{"OPS", 1},      unit{"GOPS", g1},    unit{"TOPS", t1},    unit{"POPS", p1}};

// Splits "12.5 GiB" into the number and the unit text.
std::pair<double, std::string_view> split_number(std::string_view text, std::string_view what) {
  text = sim::csv::trim(text);
  std::size_t end = 0;
  while (end < text.size()) {
    const char c = text[end];
    const bool numeric = (c >= '0' && c <= '9') || c == '.' || c == '+' || c == '-' ||
                         ((c == 'e' || c == 'E') && end > 0 && end + 1 < text.size() &&
                          ((text[end + 1] >= '0' && text[end + 1] <= '9') || text[end + 1] == '-' ||
                           text[end + 1] == '+'));
    if (!numeric) break;
    ++end;
  }
  if (end == 0) throw std::invalid_argument(std::string("expected ") + std::string(what));
  const double value = parse_number(text.substr(0, end));
  return {value, sim::csv::trim(text.substr(end))};
}

template <std::size_t N>
std::string unit_list(const std::array<unit, N>& units) {
  std::string s;
  for (const auto& u : units) {
    if (!s.empty()) s += ", ";
    s += u.name;
  }
  return s;
}

template <std::size_t N>
double apply_unit(double value, std::string_view unit_text, const std::array<unit, N>& units,
                  dimension dim, bool bare_allowed) {
  if (unit_text.empty()) {
    if (bare_allowed) return value;
    throw std::invalid_argument(fmt::format("expected {} with a unit, e.g. \"{}\"",
                                            dimension_name(dim), dimension_example(dim)));
  }
  for (const auto& u : units) {
    if (u.name == unit_text) return value * u.factor;
  }
  throw std::invalid_argument(fmt::format("unknown unit '{}' for {} (accepted: {})", unit_text,
                                          dimension_name(dim), unit_list(units)));
}

std::string format_scaled(double v, const std::array<std::pair<double, std::string_view>, 6>& s) {
  for (const auto& [factor, name] : s) {
    if (std::fabs(v) >= factor) return fmt::format("{:.3g} {}", v / factor, name);
  }
  return fmt::format("{:.3g} {}", v / s.back().first, s.back().second);
}

}  // namespace

double parse_number(std::string_view text) {
  text = sim::csv::trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    throw std::invalid_argument("expected a number");
  }
  if (!std::isfinite(value)) throw std::invalid_argument("expected a finite number");
  return value;
}

std::string_view dimension_name(dimension dim) {
  switch (dim) {
    case dimension::bytes:
      return "a size";
    case dimension::bytes_per_s:
      return "a bandwidth";
    case dimension::seconds:
      return "a duration";
    case dimension::flops_per_s:
      return "a compute rate";
  }
  return "a quantity";
}

std::string_view dimension_example(dimension dim) {
  switch (dim) {
    case dimension::bytes:
      return "80 GiB";
    case dimension::bytes_per_s:
      return "400 Gbps";
    case dimension::seconds:
      return "1.5 us";
    case dimension::flops_per_s:
      return "989 TFLOPS";
  }
  return "";
}

double parse_quantity(std::string_view text, dimension dim) {
  const std::string what =
      fmt::format("{}, e.g. \"{}\"", dimension_name(dim), dimension_example(dim));
  const auto [value, unit_text] = split_number(text, what);
  double result = 0;
  switch (dim) {
    case dimension::bytes:
      result = apply_unit(value, unit_text, byte_units, dim, true);
      break;
    case dimension::bytes_per_s:
      result = apply_unit(value, unit_text, bandwidth_units, dim, false);
      break;
    case dimension::seconds:
      result = apply_unit(value, unit_text, time_units, dim, false);
      break;
    case dimension::flops_per_s:
      result = apply_unit(value, unit_text, flops_units, dim, true);
      break;
  }
  if (result < 0) {
    throw std::invalid_argument(fmt::format("{} cannot be negative", dimension_name(dim)));
  }
  if (!std::isfinite(result)) {
    throw std::invalid_argument(fmt::format("{} too large to hold (over {:.2g} in base units)",
                                            dimension_name(dim),
                                            std::numeric_limits<double>::max()));
  }
  return result;
}

double parse_binary_size(std::string_view text) {
  const auto [value, unit_text] = split_number(text, "a size such as 8, 64K, 16M or 8G");
  std::string_view u = unit_text;
  if (!u.empty() && u.back() == 'B') u.remove_suffix(1);
  double factor = 1;
  if (u.empty()) {
    factor = 1;
  } else if (u == "K" || u == "Ki") {
    factor = ki;
  } else if (u == "M" || u == "Mi") {
    factor = mi;
  } else if (u == "G" || u == "Gi") {
    factor = gi;
  } else if (u == "T" || u == "Ti") {
    factor = ti;
  } else {
    throw std::invalid_argument(fmt::format(
        "unknown size suffix '{}' (accepted: K, M, G, T as powers of 1024, optionally followed "
        "by i, B or iB: 64K = 64KiB = 65536 bytes)",
        unit_text));
  }
  if (value < 0) throw std::invalid_argument("a size cannot be negative");
  return value * factor;
}

std::string format_bytes(double bytes) {
  return format_scaled(
      bytes, {{{pi, "PiB"}, {ti, "TiB"}, {gi, "GiB"}, {mi, "MiB"}, {ki, "KiB"}, {1, "B"}}});
}

std::string format_bandwidth(double bytes_per_s) {
  return format_scaled(
      bytes_per_s,
      {{{p1, "PB/s"}, {t1, "TB/s"}, {g1, "GB/s"}, {m1, "MB/s"}, {k1, "kB/s"}, {1, "B/s"}}});
}

std::string format_seconds(double s) {
  return format_scaled(
      s, {{{3600, "h"}, {1, "s"}, {1e-3, "ms"}, {1e-6, "us"}, {1e-9, "ns"}, {1e-12, "ps"}}});
}

std::string format_flops(double f) {
  return format_scaled(f, {{{e1, "EFLOP/s"},
                            {p1, "PFLOP/s"},
                            {t1, "TFLOP/s"},
                            {g1, "GFLOP/s"},
                            {m1, "MFLOP/s"},
                            {1, "FLOP/s"}}});
}

}  // namespace moesim::io
