#include "sim/io/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace moesim::io::svg {

namespace {

constexpr double width = 720;
constexpr double plot_h = 260;
constexpr double top = 40;
constexpr double char_w = 6.6;  // average width of a 11px sans-serif character
constexpr double legend_row = 18;

std::string px(double v) {
  if (std::abs(v) < 0.05) v = 0;  // no "-0.0"
  return fmt::format("{:.1f}", v);
}

/// `s` cut to about `max_px` wide, with an ellipsis when cut.
std::string fit(const std::string& s, double max_px) {
  const auto n = static_cast<std::size_t>(std::max(1.0, max_px / char_w));
  if (s.size() <= n) return s;
  return s.substr(0, n > 1 ? n - 1 : 1) + "\u2026";
}

std::string text(double x, double y, const std::string& s, const char* anchor = "start",
                 const char* extra = "") {
  return fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"{}\"{}>{}</text>\n", px(x), px(y),
                     anchor, extra, escape(s));
}

std::string open_svg(double height, const std::string& title) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" width=\"{0}\" "
      "height=\"{1}\" viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"11\">\n"
      "<title>{2}</title>\n<rect width=\"{0}\" height=\"{1}\" fill=\"#ffffff\"/>\n"
      "<text x=\"{3}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" "
      "font-weight=\"bold\">{2}</text>\n",
      px(width), px(height), escape(title), px(width / 2));
}

/// Columns of a legend: as many as fit the longest name, 1 to 3.
std::size_t legend_columns(const std::vector<std::string>& names) {
  double longest = 1;
  for (const auto& n : names) longest = std::max(longest, static_cast<double>(n.size()));
  const double need = longest * char_w + 30;
  return std::clamp<std::size_t>(static_cast<std::size_t>((width - 96) / need), 1, 3);
}

/// Legend entries (colour swatch + name) in rows of `cols` below the plot, from y0.
/// The dash pattern of line `k`, so lines drawn over one another stay visible.
std::string dash(std::size_t k) {
  static constexpr const char* patterns[] = {"", " stroke-dasharray=\"8 4\"",
                                             " stroke-dasharray=\"2 3\""};
  return patterns[k % 3];
}

/// Legend entries (colour swatch + name) in rows of `cols` below the plot, from y0; with
/// `lines`, the swatch is a short line in the series' dash pattern.
std::string legend(const std::vector<std::pair<std::string, std::string>>& entries, double x0,
                   double y0, std::size_t cols, bool lines = false) {
  const double col_w = (width - 96) / static_cast<double>(cols);
  std::string out;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const double x = x0 + col_w * static_cast<double>(i % cols);
    const std::size_t row = i / cols;  // whole rows
    const double y = y0 + legend_row * static_cast<double>(row);
    if (lines) {
      out += fmt::format(
          "<g class=\"legend\"><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" "
          "stroke-width=\"2.5\"{}/>",
          px(x - 6), px(y - 4), px(x + 13), px(y - 4), entries[i].second, dash(i));
    } else {
      out += fmt::format(
          "<g class=\"legend\"><rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" "
          "fill=\"{}\"/>",
          px(x), px(y - 10), entries[i].second);
    }
    out += text(x + 17, y, fit(entries[i].first, col_w - 24)) + "</g>\n";
  }
  return out;
}

double legend_height(std::size_t entries, std::size_t cols) {
  const auto rows = (entries + cols - 1) / cols;
  return legend_row * static_cast<double>(rows);
}

/// A linear map from [lo, hi] to [a, b].
struct scale {
  double lo, hi, a, b;
  [[nodiscard]] double operator()(double v) const {
    return hi > lo ? a + (v - lo) / (hi - lo) * (b - a) : (a + b) / 2;
  }
};

/// The y axis: grid lines, ticks and labels at `ticks`, and the rotated label.
std::string y_axis(const std::vector<double>& ticks, const scale& y, double left, double right,
                   const std::string& label) {
  std::string out;
  for (const double t : ticks) {
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#e3e3e3\"/>\n",
                       px(left), px(y(t)), px(right));
    out += text(left - 6, y(t) + 4, number(t), "end");
  }
  out += fmt::format(
      "<text x=\"14\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {0})\">{1}"
      "</text>\n",
      px(top + plot_h / 2), escape(label));
  return out;
}

std::string frame(double left, double right, double bottom) {
  return fmt::format("<path d=\"M{0} {1}V{2}H{3}\" fill=\"none\" stroke=\"#333333\"/>\n", px(left),
                     px(top), px(bottom), px(right));
}

std::string no_data(double height) {
  return text(width / 2, height / 2, "(no data)", "middle", " fill=\"#777777\"");
}

/// Point i's error-bar half-width: 0 when it has none.
double error_of(const series& s, std::size_t i) {
  const double e = i < s.err.size() ? s.err[i] : 0.0;
  return std::isfinite(e) && e > 0 ? e : 0.0;
}

/// Ticks of a log axis over [lo, hi] (lo > 0): powers of 2 for a range up to 2^12, else of 10.
std::vector<double> log_ticks(double lo, double hi) {
  const double base = hi / lo <= 4096 ? 2 : 10;
  std::vector<double> t;
  for (double v = std::pow(base, std::floor(std::log(lo) / std::log(base) + 1e-9));
       v <= hi * (1 + 1e-9); v *= base) {
    if (v >= lo * (1 - 1e-9)) t.push_back(v);
  }
  if (t.empty()) t = {lo, hi};
  return t;
}

}  // namespace

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "-";
  if (std::abs(v) < 1e-12) return "0";
  const double a = std::abs(v);
  if (a < 1e-3 || a >= 1e15) return fmt::format("{:.3g}", v);
  if (a >= 1e6) {
    // SI suffixes: 55.2M, 1.5G, 3T.
    const char* suffix[] = {"M", "G", "T"};
    int i = 0;
    double m = v / 1e6;
    while (std::abs(m) >= 1000 && i < 2) {
      m /= 1000;
      ++i;
    }
    return fmt::format("{:.4g}{}", m, suffix[i]);
  }
  if (a >= 1e4) return fmt::format("{:.0f}", v);
  return fmt::format("{:.4g}", v);
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (hi <= lo && lo == 0) {
    hi = 1;  // all zeros: a 0..1 axis, zero at the bottom
  } else if (hi <= lo) {
    const double pad = std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target - 1);
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (const double m : {1.0, 2.0, 2.5, 5.0}) {
    if (raw <= m * mag * (1 + 1e-9)) {
      step = m * mag;
      break;
    }
  }
  const double first = std::floor(lo / step + 1e-9) * step;
  const double last = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> out;
  for (int i = 0;; ++i) {
    const double v = first + step * i;
    if (v > last + step * 1e-6) break;
    out.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  }
  return out;
}

std::string colour(std::size_t i) {
  static constexpr const char* palette[] = {
      "#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442", "#000000",
      "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#9c755f", "#76b7b2", "#bab0ac"};
  return palette[i % std::size(palette)];
}

std::string heat_colour(double t) {
  if (std::isnan(t)) return "#d9d9d9";
  t = std::clamp(t, 0.0, 1.0);
  // YlGnBu stops (ColorBrewer), interpolated in RGB.
  static constexpr int stops[][3] = {
      {255, 255, 217}, {199, 233, 180}, {65, 182, 196}, {34, 94, 168}, {8, 29, 88}};
  const double f = t * 4;
  const auto i = std::min<std::size_t>(3, static_cast<std::size_t>(f));
  const double u = f - static_cast<double>(i);
  int rgb[3];
  for (int k = 0; k < 3; ++k) {
    rgb[k] = static_cast<int>(std::lround(stops[i][k] + u * (stops[i + 1][k] - stops[i][k])));
  }
  return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

std::string draw(const line_chart& c) {
  const double left = 72;
  const double right = width - 24;
  const double bottom = top + plot_h;
  std::vector<std::string> names;
  for (const auto& s : c.lines) names.push_back(s.name);
  const std::size_t cols = legend_columns(names);
  const double height = bottom + 50 + legend_height(c.lines.size(), cols) + 8;
  std::string out = open_svg(height, c.title);
  const bool cat = !c.x_categories.empty();
  const auto usable = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!c.log_x || x > 0);
  };
  double xlo = std::numeric_limits<double>::infinity();
  double xhi = -xlo;
  double ylo = c.y_from_zero ? 0.0 : xlo;
  double yhi = c.y_from_zero ? 0.0 : -xlo;
  bool any = false;
  for (const auto& s : c.lines) {
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!usable(s.x[i], s.y[i])) continue;
      any = true;
      xlo = std::min(xlo, s.x[i]);
      xhi = std::max(xhi, s.x[i]);
      const double e = error_of(s, i);
      ylo = std::min(ylo, s.y[i] - e);
      yhi = std::max(yhi, s.y[i] + e);
    }
  }
  if (!any) return out + no_data(height) + "</svg>\n";
  if (cat) {
    xlo = -0.5;
    xhi = static_cast<double>(c.x_categories.size()) - 0.5;
  }
  const std::vector<double> yt = nice_ticks(ylo, yhi);
  const scale y{yt.front(), yt.back(), bottom, top};
  std::vector<double> xt;
  std::vector<std::string> xl;
  if (cat) {
    const double slot = (right - left) / static_cast<double>(c.x_categories.size());
    for (std::size_t i = 0; i < c.x_categories.size(); ++i) {
      xt.push_back(static_cast<double>(i));
      xl.push_back(fit(c.x_categories[i], slot - 4));
    }
  } else if (c.log_x) {
    xt = log_ticks(xlo, xhi);
    for (const double t : xt) xl.push_back(number(t));
  } else {
    xt = nice_ticks(xlo, xhi);
    xlo = xt.front();
    xhi = xt.back();
    for (const double t : xt) xl.push_back(number(t));
  }
  const auto fx = [&](double v) {
    if (c.log_x) {
      const scale s{std::log(xlo), std::log(xhi), left + 12, right - 12};
      return s(std::log(v));
    }
    return scale{xlo, xhi, left, right}(v);
  };
  out += y_axis(yt, y, left, right, c.y_label);
  for (std::size_t i = 0; i < xt.size(); ++i) {
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#333333\"/>\n",
                       px(fx(xt[i])), px(bottom), px(bottom + 4));
    out += text(fx(xt[i]), bottom + 16, xl[i], "middle");
  }
  out += text((left + right) / 2, bottom + 34, c.x_label, "middle");
  out += frame(left, right, bottom);
  std::vector<std::pair<std::string, std::string>> entries;
  for (std::size_t k = 0; k < c.lines.size(); ++k) {
    const auto& s = c.lines[k];
    const std::string col = colour(k);
    entries.emplace_back(s.name, col);
    std::string d;
    std::string marks;
    bool pen = false;
    std::size_t points = 0;
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!usable(s.x[i], s.y[i])) {
        pen = false;
        continue;
      }
      const double X = fx(s.x[i]);
      const double Y = y(s.y[i]);
      if (!pen) {
        d += fmt::format("M{} {}", px(X), px(Y));
      } else if (c.steps) {
        d += fmt::format("H{}V{}", px(X), px(Y));
      } else {
        d += fmt::format("L{} {}", px(X), px(Y));
      }
      pen = true;
      ++points;
      if (const double e = error_of(s, i); e > 0) {
        marks += fmt::format(
            "<path d=\"M{0} {1}V{2}M{3} {1}H{4}M{3} {2}H{4}\" stroke=\"{5}\" "
            "stroke-width=\"1.2\"><title>{6}: {7} +- {8}</title></path>\n",
            px(X), px(y(s.y[i] + e)), px(y(s.y[i] - e)), px(X - 4), px(X + 4), col, escape(s.name),
            number(s.y[i]), number(e));
      }
      if (!c.steps) {
        marks += fmt::format(
            "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"><title>{}: {}, {}</title></circle>\n",
            px(X), px(Y), col, escape(s.name),
            cat ? escape(c.x_categories.at(static_cast<std::size_t>(s.x[i]))) : number(s.x[i]),
            number(s.y[i]));
      }
    }
    if (points == 0) continue;
    out += fmt::format("<g class=\"series\"><title>{}</title>\n", escape(s.name));
    out += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n", d,
                       col, dash(k));
    out += marks + "</g>\n";
  }
  out += legend(entries, left, bottom + 58, cols, true);
  return out + "</svg>\n";
}

std::string draw(const stacked_bars& c) {
  const double left = 72;
  const double right = width - 24;
  const double bottom = top + plot_h;
  std::vector<std::size_t> shown;
  for (std::size_t p = 0; p < c.parts.size() && p < c.values.size(); ++p) {
    for (const double v : c.values[p]) {
      if (v > 0) {
        shown.push_back(p);
        break;
      }
    }
  }
  std::vector<std::string> names;
  names.reserve(shown.size());
  for (const auto p : shown) names.push_back(c.parts[p]);
  const std::size_t cols = legend_columns(names);
  const double height = bottom + 44 + legend_height(shown.size(), cols) + 8;
  std::string out = open_svg(height, c.title);
  if (c.bars.empty() || shown.empty()) return out + no_data(height) + "</svg>\n";
  const auto part = [&](std::size_t p, std::size_t b) {
    const double v = b < c.values[p].size() ? c.values[p][b] : 0.0;
    return std::isfinite(v) && v > 0 ? v : 0.0;
  };
  double max_total = 0;
  for (std::size_t b = 0; b < c.bars.size(); ++b) {
    double t = 0;
    for (const std::size_t p : shown) t += part(p, b);
    max_total = std::max(max_total, t);
  }
  const std::vector<double> yt = nice_ticks(0, max_total);
  const scale y{yt.front(), yt.back(), bottom, top};
  out += y_axis(yt, y, left, right, c.y_label);
  const double slot = (right - left) / static_cast<double>(c.bars.size());
  const double bar_w = std::min(80.0, slot * 0.6);
  std::vector<std::pair<std::string, std::string>> entries;
  entries.reserve(shown.size());
  for (const std::size_t p : shown) entries.emplace_back(c.parts[p], colour(entries.size()));
  for (std::size_t b = 0; b < c.bars.size(); ++b) {
    const double x = left + slot * (static_cast<double>(b) + 0.5);
    double base = 0;
    out += fmt::format("<g class=\"bar\"><title>{}</title>\n", escape(c.bars[b]));
    for (std::size_t k = 0; k < shown.size(); ++k) {
      const double v = part(shown[k], b);
      if (v <= 0) continue;
      out += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}: {}"
          "</title></rect>\n",
          px(x - bar_w / 2), px(y(base + v)), px(bar_w), px(y(base) - y(base + v)),
          entries[k].second, escape(c.parts[shown[k]]), number(v));
      base += v;
    }
    out += "</g>\n";
    out += text(x, bottom + 16, fit(c.bars[b], slot - 4), "middle");
  }
  out += frame(left, right, bottom);
  out += legend(entries, left, bottom + 40, cols);
  return out + "</svg>\n";
}

std::string draw(const heatmap& c) {
  double label_w = 40;
  for (const auto& r : c.rows) label_w = std::max(label_w, char_w * static_cast<double>(r.size()));
  const double left = std::min(220.0, label_w + 34);
  const double right = width - (c.scale_rows ? 96 : 24);
  const double cell_h =
      c.rows.empty() ? 0 : std::clamp(plot_h / static_cast<double>(c.rows.size()), 4.0, 28.0);
  const double bottom = top + cell_h * static_cast<double>(c.rows.size());
  const double height = bottom + 44 + (c.scale_rows ? 14 : 30) + 8;
  std::string out = open_svg(height, c.title);
  if (c.rows.empty() || c.cols.empty()) return out + no_data(height) + "</svg>\n";
  const double cell_w = (right - left) / static_cast<double>(c.cols.size());
  const auto value = [&](std::size_t r, std::size_t k) {
    return r < c.values.size() && k < c.values[r].size() ? c.values[r][k]
                                                         : std::numeric_limits<double>::quiet_NaN();
  };
  const auto range = [&](std::size_t r0, std::size_t r1) {
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    for (std::size_t r = r0; r < r1; ++r) {
      for (std::size_t k = 0; k < c.cols.size(); ++k) {
        if (!std::isfinite(value(r, k))) continue;
        lo = std::min(lo, value(r, k));
        hi = std::max(hi, value(r, k));
      }
    }
    return std::pair{lo, hi};
  };
  const auto whole = range(0, c.rows.size());
  const bool thin_rows = cell_h < 11;
  for (std::size_t r = 0; r < c.rows.size(); ++r) {
    const auto [lo, hi] = c.scale_rows ? range(r, r + 1) : whole;
    const double Y = top + cell_h * static_cast<double>(r);
    for (std::size_t k = 0; k < c.cols.size(); ++k) {
      const double v = value(r, k);
      const double t = !std::isfinite(v) ? std::nan("")
                       : hi > lo         ? (v - lo) / (hi - lo)
                       : hi > 0          ? 0.5
                                         : 0.0;
      out += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}, {}: {}"
          "</title></rect>\n",
          px(left + cell_w * static_cast<double>(k)), px(Y), px(cell_w + 0.3), px(cell_h + 0.3),
          heat_colour(t), escape(c.rows[r]), escape(c.cols[k]), number(v));
    }
    if (!thin_rows || r % static_cast<std::size_t>(std::ceil(11 / cell_h)) == 0) {
      out += text(left - 6, Y + cell_h / 2 + 4, fit(c.rows[r], left - 12), "end");
    }
    if (c.scale_rows && std::isfinite(hi)) {
      out += text(right + 6, Y + cell_h / 2 + 4, "max " + number(hi));
    }
  }
  double longest = 1;
  for (const auto& k : c.cols) longest = std::max(longest, static_cast<double>(k.size()));
  const auto every = static_cast<std::size_t>(std::ceil((longest * char_w + 6) / cell_w));
  for (std::size_t k = 0; k < c.cols.size(); k += std::max<std::size_t>(1, every)) {
    out += text(left + cell_w * (static_cast<double>(k) + 0.5), bottom + 14, c.cols[k], "middle");
  }
  out += text((left + right) / 2, bottom + 32, c.x_label, "middle");
  out += fmt::format(
      "<text x=\"14\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {0})\">{1}"
      "</text>\n",
      px((top + bottom) / 2), escape(c.y_label));
  out += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333333\"/>\n",
      px(left), px(top), px(right - left), px(bottom - top));
  if (c.scale_rows) {
    out += text(right, bottom + 50, "each row coloured from its minimum to its maximum", "end",
                " fill=\"#555555\"");
  } else if (std::isfinite(whole.first)) {
    // The colour bar: ten steps from the minimum to the maximum.
    const double bar_x = left;
    const double bar_y = bottom + 42;
    for (int i = 0; i < 10; ++i) {
      out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"20\" height=\"10\" fill=\"{}\"/>\n",
                         px(bar_x + 20 * i), px(bar_y), heat_colour((i + 0.5) / 10));
    }
    out += text(bar_x - 4, bar_y + 9, number(whole.first), "end");
    out += text(bar_x + 204, bar_y + 9, number(whole.second));
  }
  return out + "</svg>\n";
}

}  // namespace moesim::io::svg
