#pragma once
// The README's generated sections: text between marker comments
//   <!-- generated: NAME (tools/update-readme.sh) -->
//   ...
//   <!-- end generated -->
// is rewritten from stored inputs by `moesim report readme` (tools/update-readme.sh), and the
// ctest `docs` label checks that it is what the generator would write, so figures in the README
// come from one source and cannot drift silently:
// - validation: the accuracy baseline (`moesim accuracy --json`, tests/accuracy/baseline.json);
// - flagship: per-scenario summaries of `moesim run --metrics` (scenario_summary) merged with
//   the hand-written "why" of each scenario (tools/readme/scenario-notes.yaml);
// - performance: `moesim bench NAME --record` files (tools/bench/report.hpp);
// - speculative: the grids of the speculative scenarios as shipped (speculative_summary of
//   their `moesim run --metrics`, stored in tools/readme/speculative.json).
// Everything here is pure text and JSON in, text out.
#include <optional>
#include <string>
#include <vector>

#include "sim/io/schema.hpp"

namespace moesim::io {

/// The opening marker of section `name`.
[[nodiscard]] std::string generated_marker(const std::string& name);
inline constexpr const char* generated_end = "<!-- end generated -->";

/// The text between section `name`'s markers (without them), or nullopt when the markers are
/// missing. Throws input_error when the opening marker has no end marker after it.
[[nodiscard]] std::optional<std::string> generated_section(const std::string& text,
                                                           const std::string& name);
/// `text` with section `name`'s content replaced by `content` (which should end in a newline).
/// Throws input_error when the markers are missing.
[[nodiscard]] std::string replace_generated_section(const std::string& text,
                                                    const std::string& name,
                                                    const std::string& content);

/// A markdown table cell: '|' escaped, line breaks as spaces.
[[nodiscard]] std::string markdown_cell(const std::string& text);

/// The Validation table from `moesim accuracy --json`: one row per case, then the known gaps
/// with what would fix them. Throws input_error when `accuracy` is not {"rows": [...]}.
[[nodiscard]] std::string validation_table(const json& accuracy);

/// What the flagship table needs of one `moesim run --metrics` file: scenario, workload,
/// devices, objective, the base's summary figures and critical-path breakdown, and the ranked
/// strategies' figures. Throws input_error when `metrics` is not a moesim.metrics/1 document.
[[nodiscard]] json scenario_summary(const json& metrics);

struct scenario_note {
  std::string scenario;
  std::string why;  ///< the hand-written column
};
/// tools/readme/scenario-notes.yaml: a list of {scenario, why}, in table order.
[[nodiscard]] std::vector<scenario_note> load_scenario_notes(const std::string& path);

/// The flagship table: one row per note, in note order, from the summary of that scenario in
/// `summaries` ({"scenarios": [summary...]}). Throws input_error naming a scenario that has a
/// note and no summary.
[[nodiscard]] std::string flagship_table(const json& summaries,
                                         const std::vector<scenario_note>& notes);

/// What the speculative section needs of one `moesim run --metrics` file with a grid:
/// scenario, drafter, acceptance source and each point's {batch, k, policy, speedup} (the base's
/// grid). Throws input_error when the metrics hold no grid. O(points).
[[nodiscard]] json speculative_summary(const json& metrics);
/// The speculative section from {"scenarios": [speculative_summary...]}: per scenario a table of
/// speedup by batch (rows) and policy and k (columns), and for each column the adjacent batches
/// between which speedup crosses 1 (readme_speculative.cpp). O(points log points).
[[nodiscard]] std::string speculative_tables(const json& summaries);

/// A figure as the Validation table (and `moesim accuracy`) prints it: 4 significant digits
/// ("369.4", "1.781", "0.5"). The accuracy baseline guard compares rows in this form.
[[nodiscard]] std::string format_figure(double v);
/// A relative error as the table prints it: "+2.4%", "-47.6%", "+0.0%".
[[nodiscard]] std::string format_error(double relative);
/// A relative tolerance: "10%", "2%", "0%".
[[nodiscard]] std::string format_tolerance(double relative);
/// A count with a k/M/G suffix, 3 significant digits: "457k", "33.4k", "702M".
[[nodiscard]] std::string format_count(double v);

}  // namespace moesim::io
