#pragma once
// Checks shared by the verbs' numeric options (CLI11 validators: they see the text as typed, so
// a refusal names the option and the value, exit 2), and the one flag that lifts the work
// limits on every verb (sim/engine/limits.hpp).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <vector>

#include "sim/engine/limits.hpp"
#include "sim/io/error.hpp"

namespace moesim::cli {

/// A finite number in [lo, hi]: CLI::Range lets "nan" through (no comparison holds for it) and
/// reads "inf"; this refuses both, and trailing garbage.
inline CLI::Validator finite_range(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        double v = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, v);
        if (ec != std::errc() || ptr != end || !std::isfinite(v) || v < lo || v > hi) {
          return "expected a finite number from " + CLI::detail::to_string(lo) + " to " +
                 CLI::detail::to_string(hi) + ", got '" + text + "'";
        }
        return "";
      },
      "FLOAT in [" + CLI::detail::to_string(lo) + " - " + CLI::detail::to_string(hi) + "]");
}

/// A seed: an integer from 0 to 2^64-1 written in digits (CLI11 would wrap "-1" to 2^64-1).
inline CLI::Validator seed_value() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        unsigned long long v = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, v);
        if (text.empty() || ec != std::errc() || ptr != end) {
          return "expected an integer from 0 to 18446744073709551615, got '" + text + "'";
        }
        return "";
      },
      "UINT64");
}

/// One of `names`: an unknown name is refused with the nearest known one and the list, e.g.
/// "unknown value 'flw'; did you mean 'flow'? (expected one of: flow, analytical)".
inline CLI::Validator one_of(const std::vector<std::string>& names) {
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  return CLI::Validator(
      [names, known](std::string& text) -> std::string {
        if (std::find(names.begin(), names.end(), text) != names.end()) return "";
        const std::string near = io::did_you_mean(text, names);
        return "unknown value '" + text + "'" +
               (near.empty() ? "" : "; did you mean '" + near + "'?") +
               " (expected one of: " + known + ")";
      },
      "{" + known + "}");
}

/// --allow-large: lift the work limits (devices, flows, requests, tokens, memory, sweep points).
inline CLI::Option* add_allow_large(CLI::App* sub, bool& flag,
                                    const std::string& names = limits::allow_large_flag) {
  return sub->add_flag(names, flag,
                       "Run even when the estimated work exceeds moesim's limits (devices, "
                       "flows, requests, tokens, memory, sweep points; README: Limits)");
}

}  // namespace moesim::cli
