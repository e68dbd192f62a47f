#pragma once
// `moesim report FILES... -o report.html`: one self-contained HTML page (no scripts, no network,
// charts as inline SVG from sim/io/svg.hpp) over metrics files (`moesim run --metrics`, schema
// moesim.metrics/1), sweep results (`moesim sweep`, PREFIX.json, moesim.sweep/1) and Chrome
// traces (`moesim run --trace`). Per file a section: for metrics the strategies' comparison
// table (step time, tokens/s, memory, drops; serving latency percentiles and goodput), the
// step-time breakdown as stacked bars, heatmaps of the expert, layer and device figures, the
// speculative speedup grid when present, and the approximations in force; for a sweep one
// chart per metric against the first numeric axis (one line per combination of the other axes
// and strategy) and the table of points; for a trace the throughput of its busiest links over
// time. The page is a pure function of the inputs (no dates, no paths beyond those given), so
// the same files give the same bytes.
#include <string>
#include <vector>

#include "sim/io/schema.hpp"

namespace moesim::io {

enum class report_kind { metrics, sweep, trace };

struct report_input {
  std::string name;  ///< as given on the command line; shown on the page
  json doc;
};

/// What `in` is, by its schema (metrics, sweep) or shape (a Chrome trace: an object with
/// "traceEvents"). Throws input_error "<name>: ..." naming what was expected otherwise.
report_kind report_kind_of(const report_input& in);

/// The page. Throws input_error "<name>: <key path>: ..." for a document of a known schema
/// that lacks a key the report reads. O(size of the inputs).
std::string html_report(const std::vector<report_input>& inputs);

}  // namespace moesim::io
