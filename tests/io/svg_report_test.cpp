// The report's chart primitives (sim/io/svg.hpp) and the HTML page (sim/io/html_report.hpp).
// `ctest -R "report: browser"` opens a real report in Chromium.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "sim/io/error.hpp"
#include "sim/io/html_report.hpp"
#include "sim/io/metrics.hpp"
#include "sim/io/svg.hpp"
#include "sim/io/sweep.hpp"

using namespace moesim;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("svg: text is escaped, numbers are short") {
  CHECK(io::svg::escape("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&#39;");
  CHECK(io::svg::number(0) == "0");
  CHECK(io::svg::number(0.125) == "0.125");
  CHECK(io::svg::number(2.5) == "2.5");
  CHECK(io::svg::number(12345) == "12345");
  CHECK(io::svg::number(55200000) == "55.2M");
  CHECK(io::svg::number(1.5e9) == "1.5G");
  CHECK(io::svg::number(std::nan("")) == "-");
}

TEST_CASE("svg: ticks step 1-2-5 and cover the range") {
  CHECK(io::svg::nice_ticks(0, 10) == std::vector<double>{0, 2.5, 5, 7.5, 10});
  const auto t = io::svg::nice_ticks(0.3, 7.1);
  CHECK(t.front() <= 0.3);
  CHECK(t.back() >= 7.1);
  CHECK(t.size() >= 3);
  CHECK(t.size() <= 9);
  CHECK(io::svg::nice_ticks(0, 0).front() == 0);  // all zeros: 0 at the bottom
  CHECK(io::svg::nice_ticks(0, 0).back() == 1);
  const auto one = io::svg::nice_ticks(4, 4);  // a single value still gets an axis
  CHECK(one.front() < 4);
  CHECK(one.back() > 4);
}

TEST_CASE("svg: colours") {
  CHECK(io::svg::colour(0) != io::svg::colour(1));
  CHECK(io::svg::colour(0) == io::svg::colour(16));
  CHECK(io::svg::heat_colour(0) == "#ffffd9");
  CHECK(io::svg::heat_colour(1) == "#081d58");
  CHECK(io::svg::heat_colour(2) == "#081d58");
  CHECK(io::svg::heat_colour(std::nan("")) == "#d9d9d9");
}

TEST_CASE("svg: a line chart has its axes, series, legend and gaps, the same bytes each time") {
  io::svg::line_chart c;
  c.title = "step <time>";
  c.x_label = "capacity factor";
  c.y_label = "ms";
  c.lines = {{"a & b", {1, 2, 3}, {1, std::nan(""), 3}, {}}, {"c", {1, 2}, {2, 2}, {0.5, 0}}};
  const std::string s = io::svg::draw(c);
  CHECK(s == io::svg::draw(c));
  CHECK(s.rfind("<svg ", 0) == 0);
  CHECK(s.find("step &lt;time&gt;") != std::string::npos);
  CHECK(s.find("<time>") == std::string::npos);
  CHECK(count(s, "<g class=\"series\">") == 2);
  CHECK(count(s, "<g class=\"legend\">") == 2);
  CHECK(s.find("a &amp; b") != std::string::npos);
  CHECK(count(s, "<circle") == 4);  // the NaN point is left out
  CHECK(count(s, "+- 0.5</title>") == 1);  // one error bar (0 draws none)
  // The gap: the first series' path starts twice.
  const auto first = s.find("<path d=\"M", s.find("<g class=\"series\">"));
  const auto end = s.find('"', first + 9);
  CHECK(count(s.substr(first, end - first), "M") == 2);
  io::svg::line_chart empty;
  empty.title = "nothing";
  CHECK(io::svg::draw(empty).find("(no data)") != std::string::npos);
}

TEST_CASE("svg: stacked bars leave out all-zero parts, heatmaps draw every cell") {
  io::svg::stacked_bars b;
  b.title = "t";
  b.bars = {"x", "y"};
  b.parts = {"p", "zero", "q"};
  b.values = {{1, 2}, {0, 0}, {3, std::nan("")}};
  const std::string s = io::svg::draw(b);
  CHECK(count(s, "<g class=\"bar\">") == 2);
  CHECK(count(s, "<g class=\"legend\">") == 2);
  CHECK(s.find(">zero<") == std::string::npos);
  io::svg::heatmap h;
  h.title = "h";
  h.rows = {"r1", "r2"};
  h.cols = {"0", "1", "2"};
  h.values = {{0, 1, 2}, {5, 5, std::nan("")}};
  const std::string m = io::svg::draw(h);
  CHECK(count(m, "<rect x=") >= 6 + 10);  // cells and the colour bar
  CHECK(m.find("#d9d9d9") != std::string::npos);
  h.scale_rows = true;
  CHECK(io::svg::draw(h).find("max 5") != std::string::npos);
}

TEST_CASE("html report: inputs are told apart by schema, bad ones refused") {
  CHECK(io::report_kind_of({"m", {{"schema", io::metrics_schema}}}) == io::report_kind::metrics);
  CHECK(io::report_kind_of({"s", {{"schema", io::sweep_schema}}}) == io::report_kind::sweep);
  CHECK(io::report_kind_of({"t", {{"traceEvents", io::json::array()}}}) == io::report_kind::trace);
  CHECK_THROWS_WITH(io::report_kind_of({"x.json", {{"schema", "other/1"}}}),
                    Catch::Contains("x.json: schema \"other/1\": expected moesim.metrics/1"));
  CHECK_THROWS_AS(io::report_kind_of({"x.json", io::json::array()}), io::input_error);
  CHECK_THROWS_WITH(io::html_report({{"y.json", {{"schema", io::metrics_schema}}}}),
                    Catch::Contains("y.json: not a complete metrics file"));
}

TEST_CASE("html report: a sweep's curves against its numeric axis, names escaped") {
  io::json points = io::json::array();
  const char* cfs[] = {"1.0", "2.0"};
  for (int i = 0; i < 4; ++i) {
    io::json metrics = io::json::object();
    for (const auto& m : io::sweep_metric_names()) metrics[m] = nullptr;
    metrics["step_time_s"] = 0.001 * (i + 1);
    metrics["drop_rate"] = 0.1 / (i + 1);
    points.push_back(
        {{"point", i},
         {"values", {{"policy", i % 2 ? "<b>" : "a"}, {"cf", cfs[i / 2]}}},
         {"rows",
          {{{"strategy", "base"}, {"feasible", true}, {"reason", ""}, {"metrics", metrics}}}}});
  }
  points.push_back(
      {{"point", 4},
       {"values", {{"policy", "a"}, {"cf", "0"}}},
       {"rows", {{{"strategy", "base"}, {"feasible", false}, {"reason", "no <cap>"}}}}});
  const io::json doc{{"schema", io::sweep_schema}, {"scenario", "sw"},  {"seeds", 1},
                     {"axes", {"policy", "cf"}},   {"points_total", 5}, {"points", points}};
  const std::string page = io::html_report({{"sw.json", doc}});
  CHECK(page == io::html_report({{"sw.json", doc}}));
  // Two charts (the metrics with values), x = cf (the first numeric axis), one line per policy.
  CHECK(count(page, "<svg ") == 2);
  CHECK(page.find("step time (ms) vs cf") != std::string::npos);
  CHECK(count(page, "<g class=\"series\">") == 4);
  CHECK(page.find("policy=&lt;b&gt;") != std::string::npos);
  CHECK(page.find("<b>") == std::string::npos);
  CHECK(page.find("infeasible: no &lt;cap&gt;") != std::string::npos);
  CHECK(page.find("ui.perfetto.dev") != std::string::npos);
}

TEST_CASE("html report: a metrics file's tables and charts, large device counts grouped") {
  std::ifstream in(std::string(MOESIM_SOURCE_DIR) + "/tests/golden/quickstart.metrics.json");
  io::json m = io::json::parse(in);
  const std::string page = io::html_report({{"q.json", m}});
  CHECK(count(page, "<table class=\"strategies\">") == 1);
  CHECK(count(page, "<g class=\"bar\">") == 1);  // one strategy
  CHECK(count(page, "<svg ") == 4);              // breakdown and three heatmaps
  CHECK(count(page, "<ul class=\"approximations\">") == 1);
  CHECK(page.find("a column is the mean") == std::string::npos);
  // 600 devices: 3 to a column, 200 columns.
  io::json devices = io::json::array();
  for (int d = 0; d < 600; ++d) devices.push_back({{"device", d}, {"compute_busy_s", d}});
  m["devices"] = devices;
  const std::string big = io::html_report({{"q.json", m}});
  CHECK(big.find("Devices (a column is the mean of 3 devices)") != std::string::npos);
  CHECK(big.find("<title>compute busy (s), 597-599: 598</title>") != std::string::npos);
}

TEST_CASE("html report: layer loads (--layer-loads) give layer x expert and layer x rank maps") {
  std::ifstream in(std::string(MOESIM_SOURCE_DIR) + "/tests/golden/quickstart.metrics.json");
  io::json m = io::json::parse(in);
  CHECK(io::html_report({{"q.json", m}}).find("--layer-loads") != std::string::npos);
  // Two MoE layers of 600 experts on 2 ranks: expert columns grouped 3 to a column.
  io::json layers = io::json::array();
  for (int l = 0; l < 2; ++l) {
    io::json experts = io::json::array();
    for (int e = 0; e < 600; ++e) experts.push_back(l * 1000 + e);
    layers.push_back({{"layer", l}, {"expert_tokens", experts}, {"rank_tokens", {5, 7}}});
  }
  m["routing"]["layers"] = layers;
  const std::string page = io::html_report({{"q.json", m}});
  CHECK(count(page, "<svg ") == 6);  // breakdown, three figure heatmaps, two layer maps
  CHECK(page.find("Tokens per (MoE layer, expert) (a column is the mean of 3 experts)") !=
        std::string::npos);
  CHECK(page.find("Tokens per (MoE layer, EP rank)") != std::string::npos);
  CHECK(page.find("--layer-loads") == std::string::npos);
}

TEST_CASE("html report: a trace's busiest links, averaged over intervals") {
  io::json events = io::json::array();
  events.push_back(
      {{"ph", "M"}, {"pid", 0}, {"name", "process_name"}, {"args", {{"name", "device 0"}}}});
  events.push_back(
      {{"ph", "M"}, {"pid", 1}, {"name", "process_name"}, {"args", {{"name", "links"}}}});
  // Link a: 100 GB/s over [0, 30) us; link b: 50 GB/s over [0, 3) us; a device counter ignored.
  for (const auto& [name, end, value] : std::vector<std::tuple<const char*, double, double>>{
           {"ib a GB/s", 30, 100}, {"ib b GB/s", 3, 50}}) {
    events.push_back(
        {{"ph", "C"}, {"pid", 1}, {"name", name}, {"ts", 0}, {"args", {{"value", value}}}});
    events.push_back(
        {{"ph", "C"}, {"pid", 1}, {"name", name}, {"ts", end}, {"args", {{"value", 0}}}});
  }
  events.push_back(
      {{"ph", "C"}, {"pid", 0}, {"name", "KV cache used"}, {"ts", 1}, {"args", {{"value", 1}}}});
  const std::string page = io::html_report({{"t.json", {{"traceEvents", events}}}});
  CHECK(page.find("2 links with traffic counters") != std::string::npos);
  CHECK(page.find("Throughput of the 2 busiest links") != std::string::npos);
  // Busiest first (a carried 3 MB, b 0.15 MB), names without the unit.
  CHECK(page.find("<title>ib a</title>") < page.find("<title>ib b</title>"));
  CHECK(page.find("KV cache") == std::string::npos);
  const std::string none = io::html_report({{"t.json", {{"traceEvents", io::json::array()}}}});
  CHECK(none.find("No link counters in this trace") != std::string::npos);
}
