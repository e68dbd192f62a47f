// `moesim report`: an HTML report of metrics, sweep and trace files (sim/io/html_report.hpp),
// and the README's generated sections (sim/io/readme_report.hpp).
//   report FILES... -o report.html         one self-contained page (charts as inline SVG)
//   report readme [--root DIR] [--check]   rewrite (or check) README.md's generated sections
//   report scenarios METRICS... --out FILE summarise `moesim run --metrics` files for the
//                                          flagship table
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "sim/io/error.hpp"
#include "sim/io/html_report.hpp"
#include "sim/io/limits.hpp"
#include "sim/io/metrics.hpp"
#include "sim/io/readme_report.hpp"
#include "tools/bench/record.hpp"
#include "tools/moesim/commands.hpp"

namespace moesim::cli {

namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& p) {
  return io::read_input_file(p.string(), p.string() + ": cannot open");
}

io::json read_json(const fs::path& p) {
  try {
    return io::json::parse(read_text(p));
  } catch (const io::json::exception& e) {  // parse errors, numbers out of range
    throw io::input_error(p.string() + ": not JSON: " + e.what());
  }
}

// Every generated section of the README, from the stored inputs under `root`.
std::vector<std::pair<std::string, std::string>> sections(const fs::path& root) {
  return {
      {"validation", io::validation_table(read_json(root / "tests/accuracy/baseline.json"))},
      {"flagship", io::flagship_table(read_json(root / "tools/readme/scenarios.json"),
                                      io::load_scenario_notes(
                                          (root / "tools/readme/scenario-notes.yaml").string()))},
      {"performance", bench::performance_section((root / "tools/bench/results").string(),
                                                 (root / "tools/readme/benchmarks.yaml").string())},
      {"speculative", io::speculative_tables(read_json(root / "tools/readme/speculative.json"))}};
}

// The first line where `a` and `b` differ, for the check's message.
std::string first_difference(const std::string& want, const std::string& have) {
  std::istringstream a(want);
  std::istringstream b(have);
  std::string la;
  std::string lb;
  for (int line = 1;; ++line) {
    const bool ga = static_cast<bool>(std::getline(a, la));
    const bool gb = static_cast<bool>(std::getline(b, lb));
    if (!ga && !gb) return "";
    if (!ga || !gb || la != lb) {
      return fmt::format("line {} of the section:\n  generated: {}\n  README:    {}", line,
                         ga ? la : "(end)", gb ? lb : "(end)");
    }
  }
}

// The stored summaries of scenarios whose golden test runs them as shipped (no .set file) must
// equal the summary of the golden metrics: the flagship table then moves with the goldens.
std::vector<std::string> check_summaries_against_goldens(const fs::path& root) {
  std::vector<std::string> problems;
  const auto stored = read_json(root / "tools/readme/scenarios.json");
  for (const auto& s : stored["scenarios"]) {
    const auto name = s["scenario"].get<std::string>();
    const auto golden = root / "tests/golden" / (name + ".metrics.json");
    if (!fs::exists(golden) || fs::exists(root / "tests/golden" / (name + ".set"))) continue;
    if (io::scenario_summary(read_json(golden)) != s) {
      problems.push_back(fmt::format(
          "tools/readme/scenarios.json: {} differs from tests/golden/{}.metrics.json: run "
          "tools/update-readme.sh --scenarios",
          name, name));
    }
  }
  return problems;
}

}  // namespace

void add_report_command(CLI::App& app, commands& cmds) {
  auto* sub = app.add_subcommand(
      "report",
      "An HTML report of metrics, sweep and trace files (report FILES... -o report.html), or "
      "the README's generated tables (report readme|scenarios|speculative)");
  sub->require_subcommand(0, 1);
  struct state {
    std::string root = ".";
    bool check = false;
    std::vector<std::string> metrics;
    std::string out;
    std::vector<std::string> files;
    std::string html;
  };
  auto st = std::make_shared<state>();
  sub->add_option("files", st->files,
                  "Metrics (moesim run --metrics), sweep (moesim sweep, PREFIX.json) and trace "
                  "(moesim run --trace) files");
  sub->add_option("-o,--output", st->html, "The HTML page to write");
  sub->callback([&cmds, st, sub] {
    if (!sub->get_subcommands().empty()) return;
    if (st->files.empty()) {
      throw CLI::ValidationError(
          "report: give metrics, sweep or trace files and -o report.html, or a subcommand "
          "(readme, scenarios, speculative)");
    }
    if (st->html.empty()) throw CLI::ValidationError("report: -o report.html is required");
    cmds.run = [st] {
      std::vector<io::report_input> inputs;
      for (const auto& f : st->files) inputs.push_back({f, read_json(f)});
      const std::string page = io::html_report(inputs);
      std::ofstream out(st->html, std::ios::binary);
      out << page;
      if (!out.flush()) throw io::input_error(st->html + ": cannot write the report");
      fmt::print(std::cout, "{}: {} input(s), {} bytes\n", st->html, inputs.size(), page.size());
      return 0;
    };
  });
  auto* readme = sub->add_subcommand(
      "readme", "Rewrite README.md's generated sections (validation, flagship, performance)");
  readme->add_option("--root", st->root, "Repository root (default: .)");
  readme->add_flag("--check", st->check,
                   "Change nothing; exit 1 when a section differs from what would be generated");
  readme->callback([&cmds, st] {
    cmds.run = [st] {
      const fs::path root = st->root;
      const auto path = root / "README.md";
      const std::string original = read_text(path);
      std::string text = original;
      int stale = 0;
      for (const auto& [name, content] : sections(root)) {
        if (st->check) {
          const auto have = io::generated_section(text, name);
          if (!have) {
            fmt::print(std::cout, "README.md: no section '{}' ({})\n", name,
                       io::generated_marker(name));
            ++stale;
          } else if (*have != content) {
            fmt::print(std::cout,
                       "README.md: section '{}' is not what the generator writes; run "
                       "tools/update-readme.sh\n{}\n",
                       name, first_difference(content, *have));
            ++stale;
          }
          continue;
        }
        text = io::replace_generated_section(text, name, content);
      }
      if (st->check) {
        for (const auto& p : check_summaries_against_goldens(root)) {
          fmt::print(std::cout, "{}\n", p);
          ++stale;
        }
        if (stale == 0) fmt::print(std::cout, "README.md: generated sections up to date\n");
        return stale == 0 ? 0 : 1;
      }
      if (text != original) std::ofstream(path) << text;
      fmt::print(std::cout, "README.md: generated sections {}\n",
                 text != original ? "rewritten" : "already up to date");
      return 0;
    };
  });
  auto* scen = sub->add_subcommand(
      "scenarios", "Summarise `moesim run --metrics` files for the README's flagship table");
  auto* spec = sub->add_subcommand(
      "speculative", "Summarise the grids of speculative scenarios' `moesim run --metrics`");
  for (auto* cmd : {scen, spec}) {
    const bool grids = cmd == spec;
    cmd->add_option("metrics", st->metrics, "Metrics files")->required();
    cmd->add_option("--out", st->out, "Write here (default: standard output)");
    cmd->callback([&cmds, st, grids] {
      cmds.run = [st, grids] {
        io::json list = io::json::array();
        for (const auto& m : st->metrics) {
          const auto metrics = read_json(m);
          list.push_back(grids ? io::speculative_summary(metrics) : io::scenario_summary(metrics));
        }
        const io::json doc{{"generated_by", grids ? "tools/update-readme.sh --speculative"
                                                  : "tools/update-readme.sh --scenarios"},
                           {"scenarios", list}};
        if (st->out.empty()) {
          std::cout << io::dump(doc);
        } else {
          std::ofstream(st->out) << io::dump(doc);
        }
        return 0;
      };
    });
  }
}

}  // namespace moesim::cli
