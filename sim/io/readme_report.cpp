#include "sim/io/readme_report.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "sim/io/error.hpp"
#include "sim/io/units.hpp"

namespace moesim::io {

namespace {

std::string text_of(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}
double number_of(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}

// Readable names of the critical-path categories (metrics breakdown_s keys).
std::string term_name(const std::string& key) {
  static const std::vector<std::pair<std::string, std::string>> names{
      {"expert_compute", "expert compute"},
      {"expert_weight_load", "expert weights"},
      {"pipeline_bubble", "bubble"},
      {"lm_head", "output head"},
      {"dp_collective", "DP collective"},
      {"tp_collective", "TP collective"},
      {"dense_ffn", "dense FFN"}};
  for (const auto& [k, v] : names) {
    if (k == key) return v;
  }
  return key;
}

// Summary figures of one run (the base or a strategy) that the table reads.
json run_figures(const json& summary, const json& routing) {
  return {{"step_time_s", number_of(summary, "step_time_s")},
          {"tokens_per_s", number_of(summary, "tokens_per_s")},
          {"tokens_per_s_per_device", number_of(summary, "tokens_per_s_per_device")},
          {"model_tflops_per_device", number_of(summary, "model_tflops_per_device")},
          {"mfu", number_of(summary, "mfu")},
          {"drop_rate", number_of(routing, "drop_rate")}};
}

// "2.29 s, 592 TFLOPS/GPU (28% dropped)" for one run.
std::string run_label(const json& figures, bool train) {
  std::string out = format_seconds(number_of(figures, "step_time_s"));
  if (train)
    out += fmt::format(", {:.0f} TFLOPS/GPU", number_of(figures, "model_tflops_per_device"));
  const double dropped = number_of(figures, "drop_rate");
  if (dropped >= 0.0005) out += fmt::format(" ({:.0f}% dropped)", dropped * 100);
  return out;
}

}  // namespace

std::string generated_marker(const std::string& name) {
  return "<!-- generated: " + name + " (tools/update-readme.sh) -->";
}

std::optional<std::string> generated_section(const std::string& text, const std::string& name) {
  const std::string open = generated_marker(name) + "\n";
  const auto begin = text.find(open);
  if (begin == std::string::npos) return std::nullopt;
  const auto start = begin + open.size();
  const auto end = text.find(generated_end, start);
  if (end == std::string::npos) {
    throw input_error("README: section '" + name + "' has no '" + generated_end + "' after it");
  }
  return text.substr(start, end - start);
}

std::string replace_generated_section(const std::string& text, const std::string& name,
                                      const std::string& content) {
  if (!generated_section(text, name)) {
    throw input_error("README: no marker '" + generated_marker(name) + "' to generate into");
  }
  const std::string open = generated_marker(name) + "\n";
  const auto start = text.find(open) + open.size();
  const auto end = text.find(generated_end, start);
  return text.substr(0, start) + content + text.substr(end);
}

std::string markdown_cell(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string validation_table(const json& accuracy) {
  if (!accuracy.is_object() || !accuracy.contains("rows") || !accuracy["rows"].is_array()) {
    throw input_error("validation table: expected {\"rows\": [...]} (moesim accuracy --json)");
  }
  std::string out =
      "| case | what | measured | simulated | error | tolerance | result | factor | source | "
      "reproduce |\n|---|---|---|---|---|---|---|---|---|---|\n";
  std::string gaps;
  int predictions = 0;
  int predictions_passing = 0;
  int passing = 0;
  const auto& rows = accuracy["rows"];
  for (const auto& row : rows) {
    const std::string id = text_of(row, "case");
    const std::string unit = text_of(row, "unit");
    const std::string factor = text_of(row, "sets_factor");
    const bool pass = row.contains("pass") && row["pass"] == true;
    passing += pass ? 1 : 0;
    if (factor.empty()) {
      ++predictions;
      predictions_passing += pass ? 1 : 0;
    }
    std::string what = text_of(row, "title");
    if (!text_of(row, "note").empty()) what += "; " + text_of(row, "note");
    const std::string status = text_of(row, "status");
    out += fmt::format(
        "| `{}` | {} | {} {} | {} | {} | {} | {} | {} | {} | `{}` |\n", id, markdown_cell(what),
        format_figure(number_of(row, "measured")), markdown_cell(unit),
        format_figure(number_of(row, "simulated")), format_error(number_of(row, "error")),
        text_of(row, "bound").empty()
            ? format_tolerance(number_of(row, "tolerance"))
            : fmt::format("{} {}", text_of(row, "bound") == "above" ? ">" : "<",
                          format_figure(number_of(row, "measured"))),
        status == "pass" ? "pass" : "**" + status + "**",
        factor.empty() ? "prediction" : "sets `" + markdown_cell(factor) + "`",
        markdown_cell(text_of(row, "source")), markdown_cell(text_of(row, "scenario")));
    if (!text_of(row, "gap").empty()) {
      gaps += fmt::format("- `{}` ({}): {}\n", id, status, text_of(row, "gap"));
    }
  }
  out += fmt::format(
      "\n{} rows: {} predictions (rows that set no preset factor; {} of them pass), {} set a "
      "preset factor from the figure they check and are not counted as validation; {} pass in "
      "all.\n",
      rows.size(), predictions, predictions_passing,
      rows.size() - static_cast<std::size_t>(predictions), passing);
  if (!gaps.empty()) out += "\nKnown gaps, and what would fix them:\n" + gaps;
  return out;
}

json scenario_summary(const json& metrics) {
  if (!metrics.is_object() || text_of(metrics, "schema") != "moesim.metrics/1") {
    throw input_error(
        "scenario summary: expected a moesim.metrics/1 document (moesim run "
        "--metrics)");
  }
  const json none = json::object();
  const auto& summary = metrics.contains("summary") ? metrics["summary"] : none;
  const auto& routing = metrics.contains("routing") ? metrics["routing"] : none;
  json out{{"scenario", text_of(metrics, "scenario")},
           {"workload", text_of(metrics, "workload")},
           {"devices", number_of(summary, "devices")},
           {"objective", ""},
           {"base", run_figures(summary, routing)},
           {"breakdown_s", metrics.contains("breakdown_s") ? metrics["breakdown_s"] : none},
           {"ranked", json::array()}};
  if (metrics.contains("comparison")) {
    const auto& cmp = metrics["comparison"];
    out["objective"] = text_of(cmp, "objective");
    for (const auto& r : cmp["ranked"]) {
      json f = run_figures(r.contains("summary") ? r["summary"] : none,
                           r.contains("routing") ? r["routing"] : none);
      f["strategy"] = text_of(r, "strategy");
      out["ranked"].push_back(std::move(f));
    }
  }
  return out;
}

std::vector<scenario_note> load_scenario_notes(const std::string& path) {
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw input_error(path + ": " + e.what());
  }
  if (!doc.IsSequence()) throw input_error(path + ": expected a list of {scenario, why}");
  std::vector<scenario_note> notes;
  for (const auto& n : doc) {
    if (!n.IsMap() || !n["scenario"] || !n["why"]) {
      throw input_error(path + ": every entry needs 'scenario' and 'why'");
    }
    notes.push_back({n["scenario"].as<std::string>(), n["why"].as<std::string>()});
  }
  return notes;
}

std::string flagship_table(const json& summaries, const std::vector<scenario_note>& notes) {
  std::string out =
      "| scenario | step | throughput | biggest terms of the critical path | why |\n"
      "|---|---|---|---|---|\n";
  for (const auto& note : notes) {
    const json* found = nullptr;
    if (summaries.contains("scenarios")) {
      for (const auto& s : summaries["scenarios"]) {
        if (text_of(s, "scenario") == note.scenario) found = &s;
      }
    }
    if (found == nullptr) {
      throw input_error("flagship table: no summary of scenario '" + note.scenario +
                        "' (run tools/update-readme.sh --scenarios)");
    }
    const auto& s = *found;
    const bool train = text_of(s, "workload") == "train";
    const auto& base = s["base"];
    std::string step;
    if (s["ranked"].size() > 1) {
      const std::string objective = text_of(s, "objective");
      const bool by_tokens = objective == "tokens_per_s";
      step =
          fmt::format("ranked by {}: ", by_tokens                                    ? "tokens/s"
                                        : objective == "cost_usd_per_million_tokens" ? "cost"
                                                                                     : "step time");
      bool first = true;
      for (const auto& r : s["ranked"]) {
        step += (first       ? ""
                 : by_tokens ? " > "
                             : " < ") +
                text_of(r, "strategy") + " " + run_label(r, train);
        if (by_tokens)
          step += fmt::format(" ({} tok/s)", format_count(number_of(r, "tokens_per_s")));
        first = false;
      }
    } else {
      step = run_label(base, train);
    }
    std::vector<std::pair<double, std::string>> terms;
    const double step_s = number_of(base, "step_time_s");
    for (const auto& [k, v] : s["breakdown_s"].items()) {
      if (v.is_number() && v.get<double>() > 0) terms.emplace_back(v.get<double>(), k);
    }
    std::stable_sort(terms.begin(), terms.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    std::string top;
    for (std::size_t i = 0; i < std::min<std::size_t>(3, terms.size()); ++i) {
      top += fmt::format("{}{} {:.0f}%", i ? ", " : "", term_name(terms[i].second),
                         step_s > 0 ? terms[i].first / step_s * 100 : 0.0);
    }
    out += fmt::format("| `{}` | {} | {} tokens/s on {:.0f} devices | {} | {} |\n", note.scenario,
                       markdown_cell(step), format_count(number_of(base, "tokens_per_s")),
                       number_of(s, "devices"), top, markdown_cell(note.why));
  }
  return out;
}

std::string format_figure(double v) {
  return fmt::format("{:.4g}", v);
}
std::string format_error(double relative) {
  return fmt::format("{:+.1f}%", relative * 100);
}
std::string format_tolerance(double relative) {
  return fmt::format("{:.3g}%", relative * 100);
}

std::string format_count(double v) {
  const double a = std::abs(v);
  if (a >= 1e9) return fmt::format("{:.3g}G", v / 1e9);
  if (a >= 1e6) return fmt::format("{:.3g}M", v / 1e6);
  if (a >= 1e3) return fmt::format("{:.3g}k", v / 1e3);
  return fmt::format("{:.3g}", v);
}

}  // namespace moesim::io
