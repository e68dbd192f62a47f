// The README's speculative section (readme_report.hpp): per speculative scenario, speedup by
// batch and draft length for each policy, and where speedup crosses 1.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "sim/io/error.hpp"
#include "sim/io/readme_report.hpp"

namespace moesim::io {

json speculative_summary(const json& metrics) {
  const json* sp = nullptr;
  if (metrics.contains("serving") && metrics["serving"].contains("speculative")) {
    sp = &metrics["serving"]["speculative"];
  }
  if (sp == nullptr || !sp->contains("points") || (*sp)["points"].empty()) {
    throw input_error(
        "speculative summary: the metrics hold no serving.speculative.points (run "
        "a scenario with a grid)");
  }
  json points = json::array();
  for (const auto& p : (*sp)["points"]) {
    points.push_back({{"batch", p.at("batch")},
                      {"k", p.at("k")},
                      {"policy", p.at("policy")},
                      {"speedup", p.at("speedup")}});
  }
  return {{"scenario", metrics.at("scenario")},
          {"drafter", sp->value("drafter", "")},
          {"acceptance_source", sp->value("acceptance_source", "")},
          {"points", points}};
}

namespace {

// "between batch a and b" for each adjacent pair of batches where speedup - 1 changes sign
// (a point at exactly 1 counts as a crossing at that batch).
std::string crossings(const std::vector<std::pair<int, double>>& by_batch) {
  std::string out;
  for (std::size_t i = 0; i < by_batch.size(); ++i) {
    const auto [b, s] = by_batch[i];
    std::string here;
    if (s == 1.0) here = fmt::format("{}", b);
    if (i + 1 < by_batch.size()) {
      const auto [b2, s2] = by_batch[i + 1];
      if ((s - 1) * (s2 - 1) < 0) here = fmt::format("{}-{}", b, b2);
    }
    if (!here.empty()) out += (out.empty() ? "" : ", ") + here;
  }
  return out.empty() ? "none" : out;
}

}  // namespace

std::string speculative_tables(const json& summaries) {
  if (!summaries.contains("scenarios") || !summaries["scenarios"].is_array()) {
    throw input_error("speculative tables: expected {\"scenarios\": [...]}");
  }
  std::string out;
  for (const auto& s : summaries["scenarios"]) {
    // policy -> k -> batch -> speedup
    std::map<std::string, std::map<int, std::map<int, double>>> grid;
    std::set<int> batches;
    for (const auto& p : s.at("points")) {
      const auto policy = p.at("policy").get<std::string>();
      const int batch = p.at("batch").get<int>();
      batches.insert(batch);
      if (policy == "none") continue;
      grid[policy][p.at("k").get<int>()][batch] = p.at("speedup").get<double>();
    }
    out += fmt::format("`{}` ({}; acceptance: {}): speedup over plain decoding",
                       s.at("scenario").get<std::string>(), s.value("drafter", ""),
                       s.value("acceptance_source", ""));
    out += ", by batch (rows) and policy / draft tokens k (columns)\n\n| batch |";
    std::string rule = "|---|";
    for (const auto& [policy, ks] : grid) {
      for (const auto& [k, row] : ks) {
        out += fmt::format(" {} k={} |", policy, k);
        rule += "---|";
      }
    }
    out += "\n" + rule + "\n";
    for (const int b : batches) {
      out += fmt::format("| {} |", b);
      for (const auto& [policy, ks] : grid) {
        for (const auto& [k, row] : ks) {
          const auto it = row.find(b);
          out += it == row.end() ? " |" : fmt::format(" {:.2f} |", it->second);
        }
      }
      out += "\n";
    }
    out += "| crosses 1 between batches |";
    for (const auto& [policy, ks] : grid) {
      for (const auto& [k, row] : ks) {
        out += " " + crossings({row.begin(), row.end()}) + " |";
      }
    }
    out += "\n\n";
  }
  return out;
}

}  // namespace moesim::io
