#pragma once
// The calibration table: published measurements (../shared/calibration.md) that moesim must
// reproduce, each with how moesim simulates it. `moesim accuracy` prints it and the ctest
// calibration test checks it: one list, here, for both.
//
// Rows say where a measured figure was also used to set a preset parameter (then the row checks
// the mechanism that applies the parameter, not an independent prediction). Rows the model does
// not yet reproduce carry `known_gap` (why); the test requires every other row to pass and these
// to still fail, so the table stays truthful when a mechanism improves.
//
// Cost: each row builds its cluster and runs one simulation (well under a second each).
#include <functional>
#include <string>
#include <vector>

namespace moesim::io {

struct calibration_row {
  std::string name;    ///< e.g. "8x H100 ring all-reduce busbw"
  std::string source;  ///< where the measured figure comes from
  std::string unit;    ///< unit of measured and simulated, e.g. "GB/s"
  double measured = 0;
  double tolerance = 0;   ///< relative, e.g. 0.10 for +-10%
  std::string note;       ///< e.g. "defines efficiency.link"
  std::string known_gap;  ///< non-empty: the model is known to miss this row, and why
  std::function<double()> simulate;
};

struct calibration_result {
  const calibration_row* row = nullptr;
  double simulated = 0;
  double error = 0;  ///< (simulated - measured) / measured
  bool pass = false;
};

/// The rows (calibration.md sections 2, 3 and 6), in table order.
[[nodiscard]] const std::vector<calibration_row>& calibration_rows();

/// Simulates one row.
[[nodiscard]] calibration_result evaluate(const calibration_row& row);

}  // namespace moesim::io
