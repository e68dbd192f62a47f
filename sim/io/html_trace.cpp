// The trace section of `moesim report` (html_report_detail.hpp): the trace's `links` counters
// (GB/s of a link over a transfer batch that kept it at least half busy) binned over simulated
// time, for the links that carried the most bytes.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "sim/io/html_report_detail.hpp"
#include "sim/io/svg.hpp"

namespace moesim::io::detail {

std::string trace_section(const json& t) {
  constexpr std::size_t shown = 5;
  std::map<long long, std::string> processes;
  for (const auto& e : t.at("traceEvents")) {
    if (e.value("ph", "") == "M" && e.value("name", "") == "process_name") {
      processes[e.at("pid").get<long long>()] = e.at("args").value("name", "");
    }
  }
  std::vector<std::string> names;
  std::map<std::string, svg::series> links;
  for (const auto& e : t.at("traceEvents")) {
    if (e.value("ph", "") != "C" || processes[e.value("pid", -1LL)] != "links") continue;
    const auto name = e.at("name").get<std::string>();
    if (!links.contains(name)) {
      names.push_back(name);
      links[name].name = name;
    }
    links[name].x.push_back(num(e, "ts") / 1e3);  // microseconds to ms
    links[name].y.push_back(num(e.at("args"), "value"));
  }
  std::string out = fmt::format("<p>{} trace events; {} links with traffic counters.</p>\n",
                                t.at("traceEvents").size(), names.size());
  if (names.empty()) {
    return out +
           "<p class=\"note\">No link counters in this trace: moesim records them for "
           "InfiniBand, DCN and ICI links while a transfer runs them above half their capacity "
           "(NVLink and PCIe traffic is on the devices' own tracks).</p>\n";
  }
  // Each link's samples in time order: a step function (a value holds to the next sample).
  double t0 = std::numeric_limits<double>::infinity();
  double t1 = -t0;
  std::vector<std::pair<double, std::string>> busiest;
  for (const auto& n : names) {
    svg::series& s = links[n];
    std::vector<std::size_t> idx(s.x.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::stable_sort(idx.begin(), idx.end(), [&](auto a, auto b) { return s.x[a] < s.x[b]; });
    svg::series sorted{s.name, {}, {}, {}};
    for (const auto i : idx) {
      sorted.x.push_back(s.x[i]);
      sorted.y.push_back(s.y[i]);
    }
    s = std::move(sorted);
    // Bytes carried: the integral (GB/s x ms = MB).
    double area = 0;
    for (std::size_t i = 0; i + 1 < s.x.size(); ++i) area += s.y[i] * (s.x[i + 1] - s.x[i]);
    busiest.emplace_back(-area, n);
    t0 = std::min(t0, s.x.front());
    t1 = std::max(t1, s.x.back());
  }
  std::stable_sort(busiest.begin(), busiest.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  // Transfers last microseconds: averaged over `bins` equal intervals, so the chart shows how
  // busy each link was over the run rather than a comb of spikes.
  constexpr int bins = 30;
  const double width = t1 > t0 ? (t1 - t0) / bins : 1.0;
  svg::line_chart c;
  c.title = fmt::format("Throughput of the {} busiest links (mean over {} intervals)",
                        std::min(shown, busiest.size()), bins);
  c.x_label = "simulated time (ms)";
  c.y_label = "GB/s";
  c.steps = true;
  for (std::size_t k = 0; k < busiest.size() && k < shown; ++k) {
    const svg::series& s = links[busiest[k].second];
    std::vector<double> sum(bins, 0.0);
    for (std::size_t i = 0; i + 1 < s.x.size(); ++i) {
      const double a = s.x[i];
      const double b = s.x[i + 1];
      if (s.y[i] == 0 || b <= a) continue;
      const int first = std::clamp(static_cast<int>((a - t0) / width), 0, bins - 1);
      const int last = std::clamp(static_cast<int>((b - t0) / width), 0, bins - 1);
      for (int j = first; j <= last; ++j) {
        const double lo = std::max(a, t0 + width * j);
        const double hi = std::min(b, t0 + width * (j + 1));
        if (hi > lo) sum[static_cast<std::size_t>(j)] += s.y[i] * (hi - lo);
      }
    }
    std::string name = s.name;
    if (name.size() > 5 && name.ends_with(" GB/s")) name.resize(name.size() - 5);
    svg::series binned{name, {}, {}, {}};
    for (int j = 0; j <= bins; ++j) {  // the last point closes the last interval
      binned.x.push_back(t0 + width * j);
      binned.y.push_back(sum[static_cast<std::size_t>(std::min(j, bins - 1))] / width);
    }
    c.lines.push_back(std::move(binned));
  }
  return out + svg::draw(c);
}

}  // namespace moesim::io::detail
