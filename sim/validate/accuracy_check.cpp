#include "sim/validate/accuracy_check.hpp"

#include <fmt/format.h>

#include <map>

#include "sim/io/error.hpp"
#include "sim/io/readme_report.hpp"

namespace moesim::validate {

using io::format_error;
using io::format_figure;
using io::format_tolerance;
using io::input_error;
using io::json;

namespace {

constexpr const char* update_hint =
    "run tools/update-accuracy.sh (rewrites tests/accuracy/baseline.json and the README's "
    "Validation table) and review the diff";

std::map<std::string, const json*> by_case(const json& doc, const char* which) {
  if (!doc.is_object() || !doc.contains("rows") || !doc["rows"].is_array()) {
    throw input_error(std::string(which) +
                      ": expected {\"rows\": [...]} as moesim accuracy --json "
                      "prints it");
  }
  std::map<std::string, const json*> out;
  for (const auto& row : doc["rows"]) {
    if (!row.is_object() || !row.contains("case") || !row["case"].is_string()) {
      throw input_error(std::string(which) + ": a row has no \"case\" string");
    }
    out[row["case"].get<std::string>()] = &row;
  }
  return out;
}

std::string text(const json& row, const char* key) {
  return row.contains(key) && row[key].is_string() ? row[key].get<std::string>() : std::string();
}
double number(const json& row, const char* key) {
  return row.contains(key) && row[key].is_number() ? row[key].get<double>() : 0.0;
}
bool passes(const json& row) {
  return row.contains("pass") && row["pass"] == true;
}

// What the README shows of a row, field by field; differences name the fields.
std::vector<std::string> shown_differences(const json& now, const json& before) {
  std::vector<std::string> diff;
  auto figure = [&](const char* key) {
    const auto a = format_figure(number(before, key));
    const auto b = format_figure(number(now, key));
    if (a != b) diff.push_back(fmt::format("{} {} -> {}", key, a, b));
  };
  figure("measured");
  figure("simulated");
  if (format_error(number(before, "error")) != format_error(number(now, "error"))) {
    diff.push_back(fmt::format("error {} -> {}", format_error(number(before, "error")),
                               format_error(number(now, "error"))));
  }
  if (format_tolerance(number(before, "tolerance")) != format_tolerance(number(now, "tolerance"))) {
    diff.push_back(fmt::format("tolerance {} -> {}", format_tolerance(number(before, "tolerance")),
                               format_tolerance(number(now, "tolerance"))));
  }
  for (const char* key :
       {"status", "unit", "title", "source", "scenario", "sets_factor", "note", "gap"}) {
    if (text(before, key) != text(now, key)) diff.push_back(std::string(key));
  }
  return diff;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

}  // namespace

accuracy_check check_accuracy(const json& current, const json& baseline) {
  const auto now = by_case(current, "moesim accuracy");
  const auto before = by_case(baseline, "the accuracy baseline");
  accuracy_check out;
  for (const auto& [id, b] : before) {
    if (now.contains(id)) continue;
    out.failures.push_back(
        passes(*b) ? fmt::format("REGRESSION {}: passed in the baseline and is gone: restore the "
                                 "row (a failing row stays, with its gap)",
                                 id)
                   : fmt::format("{}: in the baseline, gone now: {}", id, update_hint));
  }
  for (const auto& [id, c] : now) {
    const auto& row = *c;
    const std::string status = text(row, "status");
    const auto figures = fmt::format("error {} (tolerance {})", format_error(number(row, "error")),
                                     format_tolerance(number(row, "tolerance")));
    if (status == "FAIL") {
      out.failures.push_back(
          fmt::format("{}: fails with {} and states no gap: fix the model, or "
                      "state in sim/validate/calibration.cpp why it misses and what "
                      "would fix it",
                      id, figures));
    }
    if (passes(row) && !text(row, "gap").empty()) {
      out.failures.push_back(
          fmt::format("{}: passes with {} but states a known gap: remove the "
                      "gap in sim/validate/calibration.cpp",
                      id, figures));
    }
    const auto found = before.find(id);
    if (found == before.end()) {
      out.failures.push_back(fmt::format("{}: new row, not in the baseline: {}", id, update_hint));
      continue;
    }
    const auto& b = *found->second;
    if (passes(b) && !passes(row)) {
      out.failures.push_back(
          fmt::format("REGRESSION {}: passed in the baseline with error {}, "
                      "fails now with {}",
                      id, format_error(number(b, "error")), figures));
    } else if (!passes(b) && passes(row)) {
      out.notices.push_back(fmt::format("{}: passes now ({}; baseline: {}): {}", id, figures,
                                        text(b, "status"), update_hint));
    }
    const auto diff = shown_differences(row, b);
    if (!diff.empty()) {
      out.failures.push_back(
          fmt::format("{}: differs from the baseline ({}): {}", id, join(diff), update_hint));
    }
  }
  return out;
}

}  // namespace moesim::validate
