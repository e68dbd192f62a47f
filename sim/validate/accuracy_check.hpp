#pragma once
// The accuracy baseline guard: today's `moesim accuracy --json` against the stored one
// (tests/accuracy/baseline.json), so accuracy cannot drift silently. The README's Validation
// table is generated from the baseline, so any change of what it shows needs the baseline
// updated (tools/update-accuracy.sh); a row that passed in the baseline and fails now is a
// regression, reported as such.
//
// Failures (the ctest `accuracy` test fails):
// - a row that passes in the baseline fails now or is gone (a regression);
// - a row fails with no stated gap ("FAIL");
// - a row states a gap but passes (the gap text is stale: remove it);
// - a row is new, gone, or shows different figures or text than the baseline (as the README
//   prints them, io::format_figure and friends: 4 significant digits, errors to 0.1%).
// Notices (printed, not failures on their own): a row passes now that did not in the baseline.
#include <string>
#include <vector>

#include "sim/io/schema.hpp"

namespace moesim::validate {

struct accuracy_check {
  std::vector<std::string> failures;
  std::vector<std::string> notices;
};

/// Compares two `accuracy_json` documents ({"rows": [...]}) row by row, keyed by "case".
/// Throws io::input_error when either is not of that shape. O(rows log rows).
[[nodiscard]] accuracy_check check_accuracy(const io::json& current, const io::json& baseline);

}  // namespace moesim::validate
