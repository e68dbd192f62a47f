#pragma once
// The validation table: published measurements (and exact results) that moesim must reproduce,
// each with how moesim simulates it. `moesim accuracy` prints it, the ctest `accuracy` label
// checks it against tests/accuracy/baseline.json, and the README's Validation section is
// generated from that baseline: one list, here, for all three.
//
// Each row has a citable id (`nccl-h100-ring-allreduce`), the published source quoted precisely
// (repository and file or issue, paper and table), the moesim command or scenario file that
// reproduces it, and `sets_factor`: the preset parameter the measured figure was also used to
// set (then the row checks the mechanism that applies the parameter, not an independent
// prediction, and does not count as validation). Rows the model does not yet reproduce carry
// `gap`: why, and what would fix it; they are shown with their error, never dropped.
//
// Cost: each row builds its cluster and runs one simulation, most well under a second. The
// longest (release build, session 14): the two DeepEP EP256 low-latency rows (an exact flow solve
// of one kernel on 32 nodes, over a minute each), trtllm-qwen3-235b-h100-dep8 (~45 s) and the
// serving rows (10-20 s); evaluate_rows runs rows on several threads.
#include <functional>
#include <string>
#include <vector>

#include "sim/io/schema.hpp"

namespace moesim::validate {

struct calibration_row {
  std::string id;           ///< citable case id, e.g. "nccl-h100-ring-allreduce"
  std::string title;        ///< e.g. "8x H100 ring all-reduce busbw"
  std::string source;       ///< the published source of `measured`, quoted precisely
  std::string scenario;     ///< the moesim command or scenario file that reproduces the row
  std::string unit;         ///< unit of measured and simulated, e.g. "GB/s"
  double measured = 0;      ///< the published figure (or the exact value of a formula)
  double tolerance = 0;     ///< relative, e.g. 0.10 for +-10%
  std::string sets_factor;  ///< preset parameter set from this row, e.g. "h100 efficiency.link"
  std::string note;         ///< how the row is read
  std::string gap;  ///< non-empty: the model is known to miss this row; why and what would fix it
  /// Empty: the row passes within `tolerance` of `measured`. "above" / "below": a published
  /// sign or crossover, passing when the simulated figure is above / below `measured`.
  std::string bound;
  std::function<double()> simulate;
};

struct calibration_result {
  const calibration_row* row = nullptr;
  double simulated = 0;
  double error = 0;  ///< (simulated - measured) / measured
  bool pass = false;
};

/// The rows, in table order. Ids are unique.
[[nodiscard]] const std::vector<calibration_row>& calibration_rows();

/// Appends the speculative decoding rows (speculative_rows.cpp: Cascade, MoESD).
void add_speculative_rows(std::vector<calibration_row>& rows);
/// Appends the expert offloading rows (offload_rows.cpp: mixtral-offloading, MoE-Infinity,
/// Fiddler).
void add_offload_rows(std::vector<calibration_row>& rows);

/// Simulates one row.
[[nodiscard]] calibration_result evaluate(const calibration_row& row);

/// Simulates `rows` (pointers into calibration_rows(), which must outlive the results) on a
/// pool of min(jobs, rows) threads, each row on one thread, taken in table order as threads free
/// up; the results are in `rows`' order and identical for any `jobs` >= 1 (a row's simulation
/// builds its own cluster and scenario and reads only the shared, immutable presets). When rows
/// throw, every thread still finishes, then the first throw in row order is rethrown.
/// Throws std::invalid_argument when `jobs` < 1.
[[nodiscard]] std::vector<calibration_result> evaluate_rows(
    const std::vector<const calibration_row*>& rows, int jobs);

/// Distinct experts touched by each of `batches` batches of `tokens` tokens: uniform random gate
/// scores (models::uniform_logits, as `moesim route --uniform` and DeepEP's tests draw them,
/// stream "accuracy.unique_experts" of seed 1) routed by the preset model's own router
/// (models::route_logits; group-limited for DeepSeek-V3). O(tokens * batches * experts).
[[nodiscard]] std::vector<int> unique_experts_samples(const std::string& model, int tokens,
                                                      int batches);

/// "pass", "known gap" (a row with a gap that misses) or "FAIL" (misses with no stated gap; a
/// row with a gap that passes is "pass": its gap is stale).
[[nodiscard]] std::string status_of(const calibration_result& r);

/// `moesim accuracy --json`: {"rows": [{"case", "title", "source", "scenario", "measured",
/// "simulated", "unit", "error", "tolerance", "pass", "status", "sets_factor", "note", "gap"}]}.
/// Numbers are JSON numbers; error and tolerance are relative.
[[nodiscard]] io::json accuracy_json(const std::vector<calibration_result>& results);

}  // namespace moesim::validate
