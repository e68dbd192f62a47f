#pragma once
// Design-space sweeps (`moesim sweep`): a base scenario plus a top-level `sweep:` block of axes
// over key paths, expanded into points; each point is the base with its values applied by
// apply_override (sim/io/overrides.hpp), so a value is checked exactly as in a file.
//
//   sweep:
//     grid:                       # cartesian product, the first axis varies slowest
//       parallelism.ep: [8, 16, 32]
//       moe.capacity_factor: [1.0, 1.25, 2.0]
//     zip:                        # lists of equal length taken side by side (one combined
//       moe.routing: [token_choice, expert_choice]    # axis, varying fastest)
//       moe.padded: [true, false]
//
// Either part may be absent, not both; an axis is a key path (as for --set, list indexes
// allowed) and a non-empty list of values (any YAML: scalars, mappings). Points are numbered
// from 0 in that order. The results (one row per point and strategy) are a JSON document
// ("schema": "moesim.sweep/1") and a CSV made from it; see docs in README "Sweeps".
#include <cstddef>
#include <string>
#include <vector>

#include "sim/io/doc.hpp"
#include "sim/io/schema.hpp"
#include "sim/run/result.hpp"

namespace moesim::io {

inline constexpr const char* sweep_schema = "moesim.sweep/1";
/// Sweeps larger than this need --force.
inline constexpr std::size_t sweep_point_limit = 100'000;

struct sweep_axis {
  std::string path;
  source_loc key_where;  ///< where the key path was written
  std::vector<doc::node> values;
};

struct sweep_spec {
  std::vector<sweep_axis> grid;
  std::vector<sweep_axis> zip;
  source_loc where;  ///< the `sweep:` block

  /// Number of points (saturating at SIZE_MAX). O(axes).
  [[nodiscard]] std::size_t points() const;
  /// The axes' key paths, grid then zip.
  [[nodiscard]] std::vector<std::string> axis_names() const;
  /// Point `i`'s values, one per axis in axis_names() order. Precondition: i < points().
  [[nodiscard]] std::vector<const doc::node*> point(std::size_t i) const;
};

/// Reads a `sweep:` block. Throws input_error (file:line:col) for a malformed block, an empty
/// axis, zipped lists of unequal length or an axis given twice.
sweep_spec read_sweep(const doc::node& sweep);

/// JSON Schema of the `sweep:` block (in `moesim schema`, so editors accept sweep files).
json sweep_json_schema();

/// Applies point `i` to `root` (a scenario tree without its sweep block).
void apply_point(doc::node& root, const sweep_spec& spec, std::size_t i);

/// A value as one line of YAML flow text: `1.25`, `[a, b]`, `{tp: 2, ep: 4}`.
std::string value_text(const doc::node& v);

/// Mean and half-width of the 95% confidence interval of the mean (Student t with n-1 degrees
/// of freedom); the half-width is 0 for fewer than 2 samples.
struct mean_ci {
  double mean = 0;
  double ci95 = 0;
};
mean_ci mean_ci95(const std::vector<double>& samples);
/// t quantile 0.975 for `df` >= 1 degrees of freedom (a table to 30, then a series).
double student_t975(std::size_t df);

/// The summary metrics of a row, in column order: step_time_s, tokens_per_s, drop_rate,
/// dispatch_bytes_per_step, peak_hbm_bytes, capacity_buffer_bytes (the memory plan's
/// "dispatch/combine buffers" item: send and receive buffers at capacity, bytes per device, the
/// largest stage's), ttft_p50_s, ttft_p99_s, tpot_p50_s, tpot_p99_s (the last four serving runs
/// only).
const std::vector<std::string>& sweep_metric_names();
/// Those metrics of one run; NaN where the run has none (latencies of a non-serving run).
std::vector<double> sweep_metrics(const sim::run::run_result& r);
/// Columns only sweeps whose runs have them get (after the others, in this order): a training
/// run with workload.training.resilience gives training_goodput (resilience.goodput) and
/// effective_training_s (resilience.time_s.useful), so a goodput-vs-checkpoint-interval sweep
/// is a grid over workload.training.resilience.checkpoint_interval_s.
const std::vector<std::string>& optional_sweep_metric_names();
/// Those of one run; empty when it has none.
std::vector<double> optional_sweep_metrics(const sim::run::run_result& r);

/// One point's JSON: {"point", "values": {axis: text}, "rows": [...]}. `runs[k][s]` is seed
/// k's result for strategy s (base first, named by `strategies`); empty `reason` = feasible.
json point_json(const sweep_spec& spec, std::size_t i, const std::vector<std::string>& strategies,
                const std::vector<std::vector<sim::run::run_result>>& runs,
                const std::string& reason);

/// The CSV of a sweep document: a header, then one line per row.
std::string sweep_csv(const json& doc);

/// The points of an earlier output `old` that match `spec` (same axes, seeds and values),
/// by point index; empty entries for points to run. Throws input_error when `old` is of a
/// different sweep.
std::vector<json> resumable_points(const json& old, const sweep_spec& spec, std::size_t seeds,
                                   std::size_t points, const std::string& origin);

}  // namespace moesim::io
