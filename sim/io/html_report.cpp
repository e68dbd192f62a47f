// The page's frame and its metrics and sweep sections (the trace section: html_trace.cpp).
// When it grows past about 600 lines the sweep section moves out next.
#include "sim/io/html_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "sim/io/error.hpp"
#include "sim/io/html_report_detail.hpp"
#include "sim/io/metrics.hpp"
#include "sim/io/svg.hpp"
#include "sim/io/sweep.hpp"
#include "sim/io/units.hpp"

namespace moesim::io {

namespace {

using svg::escape;

using detail::nan;
using detail::num;

std::string seconds_cell(double v) {
  if (v == 0) return "0";
  return std::isfinite(v) ? format_seconds(v) : "-";
}

std::string cell(const std::string& s, bool numeric = true) {
  return fmt::format("<td{}>{}</td>", numeric ? " class=\"n\"" : "", escape(s));
}

std::string head_row(const std::vector<std::string>& names) {
  std::string out = "<tr>";
  for (const auto& n : names) out += "<th>" + escape(n) + "</th>";
  return out + "</tr>\n";
}

std::string anchor(std::size_t i) {
  return fmt::format("input-{}", i + 1);
}

// ---- metrics ------------------------------------------------------------------------------

/// The rows a metrics file compares: its `comparison.ranked` strategies, or the run itself.
std::vector<const json*> strategy_rows(const json& m) {
  std::vector<const json*> rows;
  if (m.contains("comparison")) {
    for (const auto& r : m.at("comparison").at("ranked")) rows.push_back(&r);
  } else {
    rows.push_back(&m);
  }
  return rows;
}

std::string strategy_name(const json& row) {
  if (row.contains("strategy")) return row.at("strategy").get<std::string>();
  return "as written";
}

std::string comparison_table(const json& m) {
  const auto rows = strategy_rows(m);
  const bool serving = m.contains("serving");
  std::vector<std::string> head{"rank",
                                "strategy",
                                serving ? "iteration (mean)" : "step time",
                                "tokens/s",
                                "tokens/s per device",
                                "MFU",
                                "peak HBM per device",
                                "dropped"};
  if (serving) {
    for (const char* h : {"TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "goodput (req/s)"}) {
      head.emplace_back(h);
    }
  }
  std::string out = "<div class=\"wide\"><table class=\"strategies\">\n" + head_row(head);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const json& r = *rows[i];
    const json& s = r.at("summary");
    out += "<tr>" + cell(std::to_string(i + 1)) + cell(strategy_name(r), false) +
           cell(seconds_cell(num(s, "step_time_s"))) + cell(svg::number(num(s, "tokens_per_s"))) +
           cell(svg::number(num(s, "tokens_per_s_per_device"))) +
           cell(fmt::format("{:.1f}%", 100 * num(s, "mfu"))) +
           cell(format_bytes(num(s, "peak_hbm_bytes"))) +
           cell(fmt::format("{:.2f}%", 100 * num(r.at("routing"), "drop_rate")));
    if (serving) {
      const json& v = r.contains("serving") ? r.at("serving") : json::object();
      const json& ttft = v.contains("ttft_s") ? v.at("ttft_s") : json::object();
      const json& tpot = v.contains("tpot_s") ? v.at("tpot_s") : json::object();
      out += cell(seconds_cell(num(ttft, "p50"))) + cell(seconds_cell(num(ttft, "p99"))) +
             cell(seconds_cell(num(tpot, "p50"))) + cell(seconds_cell(num(tpot, "p99"))) +
             cell(svg::number(num(v, "goodput_requests_per_s")));
    }
    out += "</tr>\n";
  }
  out += "</table></div>\n";
  if (m.contains("comparison")) {
    out += fmt::format("<p class=\"note\">Ranked by {}.</p>\n",
                       escape(m.at("comparison").at("objective").get<std::string>()));
  }
  return out;
}

/// The step-time breakdown: a table (ms per category, non-zero columns) and stacked bars.
std::string breakdown(const json& m) {
  const auto rows = strategy_rows(m);
  svg::stacked_bars bars;
  bars.title = m.contains("serving") ? "Iteration time by category (critical path)"
                                     : "Step time by category (critical path)";
  bars.y_label = "milliseconds";
  for (const auto& [k, v] : rows.front()->at("breakdown_s").items()) {
    bars.parts.push_back(k);
    bars.values.emplace_back();
  }
  for (const json* r : rows) {
    bars.bars.push_back(strategy_name(*r));
    for (std::size_t p = 0; p < bars.parts.size(); ++p) {
      bars.values[p].push_back(1e3 * num(r->at("breakdown_s"), bars.parts[p].c_str()));
    }
  }
  std::vector<std::size_t> cols;
  for (std::size_t p = 0; p < bars.parts.size(); ++p) {
    if (std::any_of(bars.values[p].begin(), bars.values[p].end(), [](double v) { return v > 0; })) {
      cols.push_back(p);
    }
  }
  std::vector<std::string> head{"strategy"};
  for (const auto p : cols) head.push_back(bars.parts[p]);
  std::string table = "<div class=\"wide\"><table class=\"breakdown\">\n" + head_row(head);
  for (std::size_t b = 0; b < bars.bars.size(); ++b) {
    table += "<tr>" + cell(bars.bars[b], false);
    for (const auto p : cols) table += cell(seconds_cell(bars.values[p][b] / 1e3));
    table += "</tr>\n";
  }
  table += "</table></div>\n";
  return "<h3>Where the time goes</h3>\n" + svg::draw(bars) + table;
}

/// Beyond this many columns a heatmap column is the mean of consecutive ones (9216 devices
/// would be 46,000 cells, megabytes of SVG); the title says how many.
constexpr std::size_t max_columns = 256;

/// The [first, last] index ranges of `n` columns grouped to at most max_columns.
std::vector<std::pair<std::size_t, std::size_t>> column_groups(std::size_t n) {
  const std::size_t group = std::max<std::size_t>((n + max_columns - 1) / max_columns, 1);
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t first = 0; first < n; first += group) {
    out.emplace_back(first, std::min(n, first + group) - 1);
  }
  return out;
}

std::string grouped_title(std::string title, std::size_t n, const char* x_label) {
  const std::size_t group = (n + max_columns - 1) / max_columns;
  return group > 1 ? fmt::format("{} (a column is the mean of {} {}s)", title, group, x_label)
                   : title;
}

/// The mean of `value(i)` over [first, last], skipping NaN (NaN when all are).
template <class F>
double group_mean(std::pair<std::size_t, std::size_t> g, F value) {
  double sum = 0;
  std::size_t count = 0;
  for (std::size_t i = g.first; i <= g.second; ++i) {
    const double v = value(i);
    if (!std::isfinite(v)) continue;
    sum += v;
    ++count;
  }
  return count > 0 ? sum / static_cast<double>(count) : nan;
}

/// One heatmap over the objects of `items`: a column per object (labelled by its `index`
/// key), a row per (label, key) figure, each row on its own scale (the rows' units differ).
std::string figure_heatmap(std::string title, const char* x_label, const json& items,
                           const char* index,
                           const std::vector<std::pair<const char*, const char*>>& figures) {
  svg::heatmap h;
  h.title = grouped_title(std::move(title), items.size(), x_label);
  h.x_label = x_label;
  h.scale_rows = true;
  h.values.resize(figures.size());
  for (const auto& [label, key] : figures) h.rows.emplace_back(label);
  const auto name = [&](std::size_t i) {
    return std::to_string(items.at(i).at(index).get<long long>());
  };
  for (const auto& g : column_groups(items.size())) {
    h.cols.push_back(g.first == g.second ? name(g.first) : name(g.first) + "-" + name(g.second));
    for (std::size_t k = 0; k < figures.size(); ++k) {
      h.values[k].push_back(
          group_mean(g, [&](std::size_t i) { return num(items.at(i), figures[k].second); }));
    }
  }
  return svg::draw(h);
}

/// A layer x column heatmap of `moesim run --layer-loads` (routing.layers[].`key`, one value
/// per expert or EP rank), one colour scale over the grid. Empty when the run has none.
std::string layer_heatmap(const json& layers, const char* key, const char* title,
                          const char* x_label) {
  if (layers.empty() || !layers.at(0).contains(key)) return {};
  const std::size_t n = layers.at(0).at(key).size();
  svg::heatmap h;
  h.title = grouped_title(title, n, x_label);
  h.x_label = x_label;
  h.y_label = "MoE layer";
  const auto groups = column_groups(n);
  for (const auto& g : groups) {
    h.cols.push_back(g.first == g.second ? std::to_string(g.first)
                                         : fmt::format("{}-{}", g.first, g.second));
  }
  for (const json& l : layers) {
    h.rows.push_back(std::to_string(l.at("layer").get<long long>()));
    const json& v = l.at(key);
    auto& row = h.values.emplace_back();
    for (const auto& g : groups) {
      row.push_back(group_mean(g, [&](std::size_t i) { return i < v.size() ? num(v[i]) : nan; }));
    }
  }
  return svg::draw(h);
}

/// Heatmaps of the figures per expert, per MoE layer and per device, and of the per-layer loads
/// when the run wrote them.
std::string heatmaps(const json& m) {
  std::string out = "<h3>Load across experts, layers and devices</h3>\n";
  out += figure_heatmap("Expert load (per step, averaged over layers)", "expert", m.at("experts"),
                        "expert", {{"tokens routed", "tokens"}, {"tokens dropped", "dropped"}});
  out += figure_heatmap("MoE layers", "MoE layer", m.at("routing").at("layers"), "layer",
                        {{"device load max/mean", "load_max_over_mean"},
                         {"experts touched", "unique_experts"},
                         {"drop rate", "drop_rate"}});
  out += figure_heatmap("Devices", "device", m.at("devices"), "device",
                        {{"compute busy (s)", "compute_busy_s"},
                         {"weight loads busy (s)", "hbm_busy_s"},
                         {"network busy (s)", "network_busy_s"},
                         {"expert copies received", "tokens_routed_in"},
                         {"memory planned (bytes)", "memory_bytes"}});
  const json& layers = m.at("routing").at("layers");
  const std::string by_expert =
      layer_heatmap(layers, "expert_tokens", "Tokens per (MoE layer, expert)", "expert");
  out += by_expert;
  out += layer_heatmap(layers, "rank_tokens", "Tokens per (MoE layer, EP rank)", "EP rank");
  out += by_expert.empty()
             ? "<p class=\"note\">Run with <code>moesim run --metrics FILE --layer-loads</code> "
               "for layer &times; expert and layer &times; EP-rank heatmaps; hover a cell for its "
               "value.</p>\n"
             : "<p class=\"note\">Hover a cell for its value.</p>\n";
  return out;
}

std::string serving_section(const json& v) {
  std::string out = "<h3>Serving</h3>\n<table class=\"latency\">\n" +
                    head_row({"latency", "mean", "p50", "p90", "p99"});
  for (const auto& [name, key] : std::vector<std::pair<const char*, const char*>>{
           {"TTFT", "ttft_s"}, {"TPOT", "tpot_s"}, {"ITL", "itl_s"}, {"end to end", "e2e_s"}}) {
    if (!v.contains(key)) continue;
    const json& s = v.at(key);
    out += "<tr>" + cell(name, false) + cell(seconds_cell(num(s, "mean"))) +
           cell(seconds_cell(num(s, "p50"))) + cell(seconds_cell(num(s, "p90"))) +
           cell(seconds_cell(num(s, "p99"))) + "</tr>\n";
  }
  out += "</table>\n";
  out += fmt::format(
      "<p>{} requests in {}; {} requests/s, goodput {} requests/s within the SLO; output "
      "{} tokens/s; {} preemptions.</p>\n",
      svg::number(num(v, "requests")), seconds_cell(num(v, "window_s")),
      svg::number(num(v, "requests_per_s")), svg::number(num(v, "goodput_requests_per_s")),
      svg::number(num(v, "output_tokens_per_s")), svg::number(num(v, "preemptions")));
  if (!v.contains("speculative")) return out;
  const json& spec = v.at("speculative");
  if (!spec.contains("points") || spec.at("points").empty()) return out;
  // One chart per policy, one line per K: speedup against batch size (the plain-decoding
  // points, K 0, are the 1.0 every line is measured against).
  std::vector<std::string> policies;
  std::map<std::string, std::map<long long, svg::series>> lines;
  for (const auto& p : spec.at("points")) {
    const auto policy = p.at("policy").get<std::string>();
    const auto k = p.at("k").get<long long>();
    if (k == 0) continue;
    if (!lines.contains(policy)) policies.push_back(policy);
    svg::series& s = lines[policy][k];
    s.name = fmt::format("K = {}", k);
    s.x.push_back(num(p, "batch"));
    s.y.push_back(num(p, "speedup"));
  }
  out += "<h3>Speculative decoding</h3>\n";
  for (const auto& policy : policies) {
    svg::line_chart c;
    c.title = fmt::format("Speculative speedup, policy {} ({} drafter)", policy,
                          spec.value("drafter", std::string("?")));
    c.x_label = "batch (sequences, log scale)";
    c.y_label = "speedup over plain decoding";
    c.log_x = true;
    for (auto& [k, s] : lines[policy]) c.lines.push_back(std::move(s));
    out += svg::draw(c);
  }
  return out;
}

std::string list(const json& items, const char* cls) {
  std::string out = fmt::format("<ul class=\"{}\">\n", cls);
  for (const auto& a : items) out += "<li>" + escape(a.get<std::string>()) + "</li>\n";
  return out + "</ul>\n";
}

std::string metrics_section(const json& m) {
  const json& s = m.at("summary");
  std::string out = fmt::format(
      "<p>{} &middot; seed {} &middot; {} devices &middot; network model {}</p>\n",
      escape(m.value("workload", std::string("?"))), m.at("seed").dump(),
      svg::number(num(s, "devices")), escape(m.value("network_model", std::string("?"))));
  out += "<h3>Strategies</h3>\n" + comparison_table(m);
  out += breakdown(m);
  if (m.contains("serving")) out += serving_section(m.at("serving"));
  out += heatmaps(m);
  if (m.contains("layout") && !m.at("layout").empty()) {
    out += "<h3>Layout</h3>\n" + list(m.at("layout"), "layout");
  }
  out += "<h3>Approximations in force</h3>\n" + list(m.at("approximations"), "approximations");
  return out;
}

// ---- sweeps -------------------------------------------------------------------------------

struct metric_view {
  const char* label;
  double factor;
};

/// `serving`: the sweep's points serve, so step_time_s is the mean iteration time.
metric_view view_of(const std::string& metric, bool serving) {
  if (serving && metric == "step_time_s") return {"iteration time, mean (ms)", 1e3};
  static const std::map<std::string, metric_view> views{
      {"step_time_s", {"step time (ms)", 1e3}},
      {"tokens_per_s", {"tokens/s", 1}},
      {"drop_rate", {"tokens dropped (%)", 100}},
      {"dispatch_bytes_per_step", {"dispatch per step (MB)", 1e-6}},
      {"peak_hbm_bytes", {"peak HBM per device (GB)", 1e-9}},
      {"ttft_p50_s", {"TTFT p50 (ms)", 1e3}},
      {"ttft_p99_s", {"TTFT p99 (ms)", 1e3}},
      {"tpot_p50_s", {"TPOT p50 (ms)", 1e3}},
      {"tpot_p99_s", {"TPOT p99 (ms)", 1e3}}};
  const auto it = views.find(metric);
  return it != views.end() ? it->second : metric_view{nullptr, 1};
}

bool is_number(const std::string& s) {
  try {
    (void)parse_number(s);
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

std::string sweep_section(const json& doc) {
  std::vector<std::string> axes;
  for (const auto& a : doc.at("axes")) axes.push_back(a.get<std::string>());
  const json& points = doc.at("points");
  // The x axis: the first axis whose every value is a number; else the first, as categories.
  std::size_t xa = 0;
  bool numeric = false;
  for (std::size_t a = 0; a < axes.size() && !numeric; ++a) {
    numeric = std::all_of(points.begin(), points.end(), [&](const json& p) {
      return is_number(p.at("values").at(axes[a]).get<std::string>());
    });
    if (numeric) xa = a;
  }
  std::vector<std::string> categories;
  const auto x_of = [&](const json& p) {
    const auto v = p.at("values").at(axes[xa]).get<std::string>();
    if (numeric) return parse_number(v);
    auto it = std::find(categories.begin(), categories.end(), v);
    if (it == categories.end()) it = categories.insert(categories.end(), v);
    return static_cast<double>(it - categories.begin());
  };
  // Series: the other axes' values and the strategy, in order of first appearance.
  std::vector<std::string> keys;
  std::map<std::string, std::vector<std::pair<double, const json*>>> rows;
  std::size_t infeasible = 0;
  for (const auto& p : points) {
    const double x = x_of(p);
    for (const auto& row : p.at("rows")) {
      if (!row.at("feasible").get<bool>()) {
        ++infeasible;
        continue;
      }
      std::string key;
      for (std::size_t a = 0; a < axes.size(); ++a) {
        if (a == xa) continue;
        key += fmt::format("{}{}={}", key.empty() ? "" : ", ", axes[a],
                           p.at("values").at(axes[a]).get<std::string>());
      }
      // The strategy names the line when the scenario has several ("base" = as written).
      if (p.at("rows").size() > 1) {
        key += (key.empty() ? "" : ", ") + row.at("strategy").get<std::string>();
      }
      if (key.empty()) key = "base";
      if (!rows.contains(key)) keys.push_back(key);
      rows[key].emplace_back(x, &row);
    }
  }
  const bool serving = std::any_of(rows.begin(), rows.end(), [](const auto& kv) {
    return std::any_of(kv.second.begin(), kv.second.end(), [](const auto& xr) {
      return std::isfinite(num(xr.second->at("metrics"), "ttft_p50_s"));
    });
  });
  std::string out = fmt::format(
      "<p>{} points of {} ({} axes: {}), {} seed(s){}; {} infeasible row(s).</p>\n", points.size(),
      svg::number(num(doc, "points_total")), axes.size(),
      escape(fmt::format("{}", fmt::join(axes, ", "))), svg::number(num(doc, "seeds")),
      num(doc, "seeds") > 1 ? " (the mean; error bars: the 95% confidence interval of the mean)"
                            : "",
      infeasible);
  for (const auto& metric : sweep_metric_names()) {
    svg::line_chart c;
    const metric_view v = view_of(metric, serving);
    const std::string label = v.label ? v.label : metric;
    c.title = fmt::format("{} vs {}", label, axes[xa]);
    c.x_label = axes[xa];
    c.y_label = label;
    bool any = false;
    for (const auto& k : keys) {
      auto pts = rows[k];
      std::stable_sort(pts.begin(), pts.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      svg::series s{k, {}, {}, {}};
      for (const auto& [x, row] : pts) {
        const json& metrics = row->at("metrics");
        const json value = metrics.contains(metric) ? metrics.at(metric) : json(nullptr);
        const double y = num(value) * v.factor;
        any = any || std::isfinite(y);
        s.x.push_back(x);
        s.y.push_back(y);
        // Over several seeds: the 95% confidence interval of the mean as an error bar.
        s.err.push_back(value.is_object() ? num(value, "ci95") * v.factor : 0.0);
      }
      c.lines.push_back(std::move(s));
    }
    if (!any) continue;
    if (!numeric) c.x_categories = categories;
    out += svg::draw(c);
  }
  // The table of every row.
  std::vector<std::string> head{"point"};
  head.insert(head.end(), axes.begin(), axes.end());
  head.emplace_back("strategy");
  for (const auto& metric : sweep_metric_names()) {
    const metric_view v = view_of(metric, serving);
    head.emplace_back(v.label ? v.label : metric);
  }
  out += "<h3>Points</h3>\n<div class=\"wide\"><table class=\"sweep\">\n" + head_row(head);
  for (const auto& p : points) {
    for (const auto& row : p.at("rows")) {
      out += "<tr>" + cell(p.at("point").dump());
      for (const auto& a : axes) out += cell(p.at("values").at(a).get<std::string>(), false);
      out += cell(row.at("strategy").get<std::string>(), false);
      if (!row.at("feasible").get<bool>()) {
        out +=
            fmt::format("<td class=\"infeasible\" colspan=\"{}\">infeasible: {}</td></tr>\n",
                        sweep_metric_names().size(), escape(row.at("reason").get<std::string>()));
        continue;
      }
      for (const auto& metric : sweep_metric_names()) {
        out += cell(
            svg::number(num(row.at("metrics"), metric.c_str()) * view_of(metric, serving).factor));
      }
      out += "</tr>\n";
    }
  }
  return out + "</table></div>\n";
}

// ---- traces -------------------------------------------------------------------------------

/// The busiest links of a Chrome trace from `moesim run --trace`: the counters of its "links"
/// process (GB/s over each transfer, recorded for links above half their capacity), the five
/// with the most bytes drawn over time.
constexpr const char* style = R"(<style>
body{font-family:sans-serif;margin:24px auto;padding:0 16px;max-width:1000px;color:#222;
background:#fff}
h1{font-size:24px}
h2{font-size:19px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:36px}
h3{font-size:15px;margin-top:22px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #d0d0d0;padding:3px 7px;white-space:nowrap}
th{background:#f2f2f2;text-align:left;white-space:normal;vertical-align:bottom}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.infeasible{color:#a33;white-space:normal}
.wide{overflow-x:auto}
svg.chart{display:block;margin:10px 0;max-width:100%;height:auto}
.note{color:#555;font-size:13px}code,pre{background:#f5f5f5;padding:1px 4px}
pre{padding:8px;overflow-x:auto}
</style>
)";

}  // namespace

report_kind report_kind_of(const report_input& in) {
  if (!in.doc.is_object()) {
    throw input_error(in.name + ": not a moesim metrics, sweep or trace file (not a JSON object)");
  }
  if (in.doc.contains("schema")) {
    const json& s = in.doc.at("schema");
    if (s == metrics_schema) return report_kind::metrics;
    if (s == sweep_schema) return report_kind::sweep;
    throw input_error(
        fmt::format("{}: schema {}: expected {} (moesim run --metrics) or {} "
                    "(moesim sweep)",
                    in.name, s.dump(), metrics_schema, sweep_schema));
  }
  if (in.doc.contains("traceEvents")) return report_kind::trace;
  throw input_error(fmt::format(
      "{}: no \"schema\" key: expected a metrics file ({}), a sweep file ({}) or a trace "
      "(moesim run --trace)",
      in.name, metrics_schema, sweep_schema));
}

std::string html_report(const std::vector<report_input>& inputs) {
  std::string body;
  std::string contents = "<ul>\n";
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const report_input& in = inputs[i];
    const report_kind kind = report_kind_of(in);
    const char* what = kind == report_kind::metrics ? "metrics"
                       : kind == report_kind::sweep ? "sweep"
                                                    : "trace";
    const std::string title = kind == report_kind::trace
                                  ? in.name
                                  : fmt::format("{} ({})", in.doc.value("scenario", "?"), in.name);
    contents += fmt::format("<li><a href=\"#{}\">{}</a> &middot; {}</li>\n", anchor(i),
                            escape(title), what);
    body += fmt::format("<section id=\"{}\" class=\"{}\">\n<h2>{}</h2>\n", anchor(i), what,
                        escape(title));
    try {
      body += kind == report_kind::metrics ? metrics_section(in.doc)
              : kind == report_kind::sweep ? sweep_section(in.doc)
                                           : detail::trace_section(in.doc);
    } catch (const json::exception& e) {
      throw input_error(fmt::format("{}: not a complete {} file: {}", in.name, what, e.what()));
    } catch (const std::invalid_argument& e) {
      throw input_error(fmt::format("{}: {}", in.name, e.what()));
    }
    body += "</section>\n";
  }
  contents += "</ul>\n";
  std::string page =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>moesim report</title>\n";
  page += style;
  page += "</head>\n<body>\n<h1>moesim report</h1>\n" + contents + body;
  page +=
      "<section id=\"perfetto\">\n<h2>Opening a trace in Perfetto</h2>\n"
      "<p>Run the scenario with a trace, then open <a href=\"https://ui.perfetto.dev\">"
      "ui.perfetto.dev</a> and drop the file on it (Open trace file); it runs in the browser "
      "and uploads nothing. Each device is a process with one track per stream; links carry "
      "throughput counters.</p>\n<pre>moesim run scenarios/quickstart.yaml --trace "
      "quickstart.trace.json\nmoesim report quickstart.trace.json -o report.html   # its busiest "
      "links over time</pre>\n</section>\n";
  page += "<p class=\"note\">Generated by moesim report.</p>\n</body>\n</html>\n";
  return page;
}

}  // namespace moesim::io
