#pragma once
// Small chart primitives drawn as inline SVG text for the HTML report (sim/io/html_report.hpp):
// line charts, stacked bars and heatmaps with axes, ticks, labels and legends. No scripts, no
// external resources; fonts are the page's sans-serif. Output is a pure function of the input:
// coordinates are printed with a fixed number of decimals, so the same chart gives the same
// bytes. Every piece of text goes through `escape`. Cost: O(points) per chart.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace moesim::io::svg {

/// Text for HTML/SVG content and attribute values: & < > " ' escaped.
std::string escape(std::string_view s);

/// A number for a tick or a cell: up to 4 significant digits, no trailing zeros ("0.125",
/// "2.5"), whole below a million ("51640"), with SI suffixes above ("55.2M", "1.5G"), "0" for
/// zero, "-" for NaN.
std::string number(double v);

/// Tick positions covering [lo, hi] at a 1-2-5 step, about `target` of them, all within
/// [lo, hi] rounded outwards to the step (the axis then spans the first to the last tick).
/// lo == hi gives ticks around the value (0..1 for zero). Precondition: finite lo <= hi,
/// target >= 2.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

/// The i-th colour of a qualitative palette readable on white and by colour-blind readers
/// (Okabe-Ito, then Tableau; it cycles after 16).
std::string colour(std::size_t i);

/// A sequential colour for t in [0, 1] (light yellow to dark blue, interpolated); t is
/// clamped, NaN gives grey.
std::string heat_colour(double t);

/// One curve: (x[i], y[i]) points in the given order; a NaN y leaves a gap. `err`, when not
/// empty, holds each point's error-bar half-width (e.g. a 95% confidence interval; 0 or NaN:
/// none), drawn as y +- err[i].
struct series {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
  std::vector<double> err;
};

struct line_chart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<series> lines;
  /// When non-empty, x values are indices into these and the ticks are these labels.
  std::vector<std::string> x_categories;
  bool log_x = false;  ///< log2/log10 axis (x > 0 only; others are skipped)
  bool steps = false;  ///< draw each series as a step function (counters over time)
  bool y_from_zero = true;
};

/// One bar per `bars` entry, stacked from `parts`: values[part][bar] (>= 0; NaN counts 0).
/// Parts that are zero in every bar are left out of the bars and the legend.
struct stacked_bars {
  std::string title;
  std::string y_label;
  std::vector<std::string> bars;
  std::vector<std::string> parts;
  std::vector<std::vector<double>> values;
};

/// A grid of cells values[row][col] (NaN = no value, grey). With `scale_rows`, each row is
/// coloured relative to its own minimum and maximum (rows of different units); otherwise one
/// scale over the whole grid, drawn as a colour bar. Column labels are thinned to fit.
struct heatmap {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<std::string> rows;
  std::vector<std::string> cols;
  std::vector<std::vector<double>> values;
  bool scale_rows = false;
};

/// The chart as an <svg> element (role="img", with a <title>), ending in a newline.
std::string draw(const line_chart& c);
std::string draw(const stacked_bars& c);
std::string draw(const heatmap& c);

}  // namespace moesim::io::svg
