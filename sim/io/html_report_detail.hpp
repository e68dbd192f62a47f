#pragma once
// Internals of `moesim report` (html_report.hpp) shared by its source files.
#include <limits>
#include <string>

#include "sim/io/schema.hpp"

namespace moesim::io::detail {

inline constexpr double nan = std::numeric_limits<double>::quiet_NaN();

/// A number of a document: NaN for null or absent; a {mean, ci95} object (sweeps over seeds)
/// gives its mean.
inline double num(const json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_object() && j.contains("mean")) return num(j.at("mean"));
  return nan;
}

inline double num(const json& j, const char* key) {
  return j.is_object() && j.contains(key) ? num(j.at(key)) : nan;
}

/// The section of a Chrome trace (`moesim run --trace`): the throughput of its busiest links
/// over simulated time, from the trace's `links` counters. O(events).
std::string trace_section(const json& t);

}  // namespace moesim::io::detail
