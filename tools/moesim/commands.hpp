#pragma once
// Sub-commands of the CLI. Each add_* function registers one verb on the app; when CLI11
// selects it, its callback stores the action in `commands::run`, which main() invokes inside
// its error handling (so every verb maps input_error to exit 2 the same way).
#include <CLI/CLI.hpp>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace moesim::cli {

struct commands {
  std::function<int()> run = [] { return 0; };
};

void add_run_command(CLI::App& app, commands& cmds);
void add_validate_command(CLI::App& app, commands& cmds);
void add_schema_command(CLI::App& app, commands& cmds);
void add_presets_command(CLI::App& app, commands& cmds);
void add_bench_command(CLI::App& app, commands& cmds);
void add_topo_command(CLI::App& app, commands& cmds);
void add_model_command(CLI::App& app, commands& cmds);
void add_route_command(CLI::App& app, commands& cmds);
void add_trace_command(CLI::App& app, commands& cmds);
// (network verbs: declarations go here)
void add_collective_command(CLI::App& app, commands& cmds);
void add_dispatch_command(CLI::App& app, commands& cmds);
void add_accuracy_command(CLI::App& app, commands& cmds);
void add_report_command(CLI::App& app, commands& cmds);
void add_place_command(CLI::App& app, commands& cmds);
void add_sweep_command(CLI::App& app, commands& cmds);
/// `moesim place ARGS...` in this process, printing to `out` (for `moesim bench place`).
int place_command(const std::vector<std::string>& args, std::ostream& out);

inline void register_commands(CLI::App& app, commands& cmds) {
  add_run_command(app, cmds);
  add_validate_command(app, cmds);
  add_schema_command(app, cmds);
  add_presets_command(app, cmds);
  add_bench_command(app, cmds);
  add_topo_command(app, cmds);
  add_model_command(app, cmds);
  add_route_command(app, cmds);
  add_trace_command(app, cmds);
  // (network verbs: registrations go here)
  add_collective_command(app, cmds);
  add_dispatch_command(app, cmds);
  add_accuracy_command(app, cmds);
  add_report_command(app, cmds);
  add_place_command(app, cmds);
  add_sweep_command(app, cmds);
}

}  // namespace moesim::cli
