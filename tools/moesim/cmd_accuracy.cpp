// `moesim accuracy`: the validation table (sim/validate/calibration.hpp), printed, as JSON, or
// checked against a stored baseline (sim/validate/accuracy_check.hpp).
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

#include "sim/io/error.hpp"
#include "sim/io/limits.hpp"
#include "sim/io/metrics.hpp"
#include "sim/io/readme_report.hpp"
#include "sim/validate/accuracy_check.hpp"
#include "sim/validate/calibration.hpp"
#include "tools/moesim/commands.hpp"

namespace moesim::cli {

namespace {

io::json read_json_file(const std::string& path) {
  const std::string text =
      io::read_input_file(path, path + ": cannot open the accuracy baseline");
  try {
    return io::json::parse(text);
  } catch (const io::json::exception& e) {  // parse errors, numbers out of range
    throw io::input_error(path + ": not JSON: " + e.what());
  }
}

void print_table(const std::vector<validate::calibration_result>& results) {
  fmt::print(std::cout, "{:<40} {:>9} {:>10} {:<8} {:>7} {:>5}  {}\n", "case", "measured",
             "simulated", "unit", "error", "tol", "result");
  int predictions = 0;
  int predictions_passing = 0;
  int passing = 0;
  int gaps = 0;
  int failing = 0;
  for (const auto& r : results) {
    const auto& row = *r.row;
    const auto status = validate::status_of(r);
    passing += r.pass ? 1 : 0;
    gaps += status == "known gap" ? 1 : 0;
    failing += status == "FAIL" ? 1 : 0;
    if (row.sets_factor.empty()) {
      ++predictions;
      predictions_passing += r.pass ? 1 : 0;
    }
    fmt::print(std::cout, "{:<40} {:>9} {:>10} {:<8} {:>7} {:>5}  {:<9}  {}\n", row.id,
               io::format_figure(row.measured), io::format_figure(r.simulated), row.unit,
               io::format_error(r.error), io::format_tolerance(row.tolerance), status,
               row.sets_factor.empty() ? "prediction" : "sets " + row.sets_factor);
    fmt::print(std::cout, "    {}\n", row.title);
    if (!r.pass && !row.gap.empty()) fmt::print(std::cout, "    gap: {}\n", row.gap);
  }
  fmt::print(std::cout,
             "{} rows: {} predictions (not setting a factor), {} set a preset factor; {} pass, {} "
             "known gaps, {} FAIL; predictions passing: {} of {}\n",
             results.size(), predictions, results.size() - static_cast<std::size_t>(predictions),
             passing, gaps, failing, predictions_passing, predictions);
  fmt::print(std::cout, "(sources and commands: moesim accuracy --json)\n");
}

// The rows whose id matches `pattern` (std::regex ECMAScript, searched anywhere in the id; empty:
// every row), in table order. Bad input: a pattern that does not parse or matches no row.
std::vector<const validate::calibration_row*> select_rows(const std::string& pattern) {
  std::vector<const validate::calibration_row*> rows;
  const auto& all = validate::calibration_rows();
  if (pattern.empty()) {
    for (const auto& row : all) rows.push_back(&row);
    return rows;
  }
  std::regex re;
  try {
    re = std::regex(pattern);
  } catch (const std::regex_error& e) {
    throw io::input_error("--rows: '" + pattern + "' is not a regular expression: " + e.what());
  }
  for (const auto& row : all) {
    if (std::regex_search(row.id, re)) rows.push_back(&row);
  }
  if (rows.empty()) {
    throw io::input_error("--rows: '" + pattern +
                          "' matches no validation row id (moesim accuracy --json lists them)");
  }
  return rows;
}

}  // namespace

void add_accuracy_command(CLI::App& app, commands& cmds) {
  auto* sub = app.add_subcommand(
      "accuracy", "Simulate every validation row and compare with the published measurement");
  struct state {
    bool json = false;
    std::string baseline;
    std::string write_baseline;
    std::string rows;
    int jobs = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  };
  auto st = std::make_shared<state>();
  sub->add_flag("--json", st->json,
                "Print {\"rows\": [...]}: case, source, scenario, measured, simulated, unit, "
                "error, tolerance, pass, sets_factor, ...");
  sub->add_option("--baseline", st->baseline,
                  "Check against this stored JSON (tests/accuracy/baseline.json): exit 1 on a "
                  "regression or any change of what the README shows");
  auto* write_opt =
      sub->add_option("--write-baseline", st->write_baseline, "Write the JSON to this file");
  sub->add_option("--jobs", st->jobs,
                  "Rows simulated at once, one thread each (default: the machine's cores); the "
                  "output is byte-identical for any count")
      ->check(CLI::Range(1, 256));
  sub->add_option("--rows", st->rows,
                  "Only the rows whose id matches this regular expression (searched anywhere "
                  "in the id); not with --baseline or --write-baseline, which need every row")
      ->excludes(sub->get_option("--baseline"))
      ->excludes(write_opt);
  sub->callback([&cmds, st] {
    cmds.run = [st] {
      // Read the baseline first: a bad path is bad input before a few seconds of simulation.
      const io::json baseline = st->baseline.empty() ? io::json() : read_json_file(st->baseline);
      const auto results = validate::evaluate_rows(select_rows(st->rows), st->jobs);
      const io::json doc = validate::accuracy_json(results);
      if (st->json) {
        std::cout << io::dump(doc);
      } else {
        print_table(results);
      }
      if (!st->write_baseline.empty()) {
        std::ofstream out(st->write_baseline);
        if (!out) throw io::input_error(st->write_baseline + ": cannot write");
        out << io::dump(doc);
      }
      int failed = 0;
      for (const auto& r : results) failed += validate::status_of(r) == "FAIL" ? 1 : 0;
      if (st->baseline.empty()) return failed == 0 ? 0 : 1;
      const auto check = validate::check_accuracy(doc, baseline);
      auto& log = st->json ? std::cerr : std::cout;
      for (const auto& n : check.notices) fmt::print(log, "notice: {}\n", n);
      for (const auto& f : check.failures) fmt::print(log, "baseline: {}\n", f);
      fmt::print(log, "baseline {}: {} failure(s), {} notice(s)\n", st->baseline,
                 check.failures.size(), check.notices.size());
      return check.failures.empty() ? 0 : 1;
    };
  });
}

}  // namespace moesim::cli
