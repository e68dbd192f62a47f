#include "sim/io/schema.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace moesim::io {

namespace detail {

void fail(const doc::node& n, const std::string& path, const std::string& what) {
  throw input_error(n.where(), path, what);
}

std::string join_path(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return path + "." + std::string(key);
}

std::string format_number(double v) {
  return fmt::format("{:g}", v);
}

bool is_integer_literal(std::string_view text) {
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) text.remove_prefix(1);
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

const std::string& scalar_text(const doc::node& n, const std::string& path,
                               const std::string& expected) {
  if (!n.is_scalar() || n.quoted()) {
    fail(n, path,
         "expected " + expected + ", got " + (n.is_scalar() ? "the string " : "") + n.describe());
  }
  return n.text();
}

}  // namespace detail

namespace {
std::string range_text(double min, double max, bool min_exclusive) {
  const bool has_min = min > -std::numeric_limits<double>::max();
  const bool has_max = max < std::numeric_limits<double>::max();
  if (has_min && has_max) {
    return fmt::format("{} {:g} and <= {:g}", min_exclusive ? ">" : ">=", min, max);
  }
  if (has_min) return fmt::format("{} {:g}", min_exclusive ? ">" : ">=", min);
  if (has_max) return fmt::format("<= {:g}", max);
  return "";
}

void check_range(const doc::node& n, const std::string& path, double v, double min, double max,
                 bool min_exclusive, const std::string& expected) {
  if (v < min || (min_exclusive && v == min) || v > max) {
    detail::fail(n, path, n.text() + " is out of range (expected " + expected + ")");
  }
}
}  // namespace

std::string number_spec::expected() const {
  const std::string r = range_text(min, max, min_exclusive);
  return r.empty() ? "a number" : "a number " + r;
}

void number_spec::read(const doc::node& n, double& out, const std::string& path) const {
  const std::string& t = detail::scalar_text(n, path, expected());
  double v = 0;
  try {
    v = parse_number(t);
  } catch (const std::invalid_argument&) {
    detail::fail(n, path, "expected " + expected() + ", got " + n.describe());
  }
  check_range(n, path, v, min, max, min_exclusive, expected());
  out = v;
}

json number_spec::schema() const {
  json s{{"type", "number"}};
  if (min > -std::numeric_limits<double>::max()) {
    s[min_exclusive ? "exclusiveMinimum" : "minimum"] = min;
  }
  if (max < std::numeric_limits<double>::max()) s["maximum"] = max;
  return s;
}

void bool_spec::read(const doc::node& n, bool& out, const std::string& path) const {
  const std::string& t = detail::scalar_text(n, path, "true or false");
  if (t == "true" || t == "True") {
    out = true;
  } else if (t == "false" || t == "False") {
    out = false;
  } else {
    detail::fail(n, path, "expected true or false, got " + n.describe());
  }
}

void string_spec::read(const doc::node& n, std::string& out, const std::string& path) const {
  if (!n.is_scalar()) detail::fail(n, path, "expected a string, got " + n.describe());
  if (non_empty && n.text().empty()) detail::fail(n, path, "expected a non-empty string");
  out = n.text();
}

json string_spec::schema() const {
  json s{{"type", "string"}};
  if (non_empty) s["minLength"] = 1;
  return s;
}

void quantity_spec::read(const doc::node& n, double& out, const std::string& path) const {
  const std::string expected =
      std::string(dimension_name(dim)) + " such as \"" + std::string(dimension_example(dim)) + "\"";
  if (!n.is_scalar()) detail::fail(n, path, "expected " + expected + ", got " + n.describe());
  double v = 0;
  try {
    v = parse_quantity(n.text(), dim);
  } catch (const std::invalid_argument& e) {
    detail::fail(n, path, std::string(e.what()) + ", got " + n.describe());
  }
  const std::string r = range_text(min, max, min_exclusive);
  if (v < min || (min_exclusive && v == min) || v > max) {
    detail::fail(n, path,
                 n.text() + " is out of range (expected " + std::string(dimension_name(dim)) + " " +
                     r + " in base units)");
  }
  out = v;
}

json quantity_spec::schema() const {
  return {{"type", {"string", "number"}},
          {"description", fmt::format("{} with a unit, e.g. \"{}\"", dimension_name(dim),
                                      dimension_example(dim))}};
}

void duration_spec::read(const doc::node& n, sim::time_ps& out, const std::string& path) const {
  double seconds = 0;
  quantity_spec{dimension::seconds}.read(n, seconds, path);
  // The key's own range first, in seconds: a duration beyond it may be beyond the clock's too
  // (9.2e6 s), and the key's range is the one to name.
  const bool beyond = seconds > sim::seconds(max);
  sim::time_ps v = max;
  if (!beyond) {
    try {
      v = sim::ps_from_seconds(seconds);
    } catch (const std::invalid_argument& e) {
      detail::fail(n, path, e.what());
    }
  }
  if (beyond || v < min || v > max) {
    detail::fail(n, path,
                 n.text() + " is out of range (expected a duration from " +
                     format_seconds(sim::seconds(min)) + " to " +
                     format_seconds(sim::seconds(max)) + ")");
  }
  out = v;
}

json duration_spec::schema() const {
  return {{"type", "string"}, {"description", "a duration with a unit, e.g. \"1.5 us\""}};
}

}  // namespace moesim::io
