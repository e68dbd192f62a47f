// Verbs that read scenarios: run, validate, schema, presets.
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <fstream>
#include <iostream>
#include <thread>
#include <tuple>

#include "sim/engine/trace.hpp"
#include "sim/io/limits.hpp"
#include "sim/io/metrics.hpp"
#include "sim/io/presets.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/io/trace_options.hpp"
#include "sim/io/trace_writer.hpp"
#include "sim/io/units.hpp"
#include "sim/run/simulate.hpp"
#include "sim/run/trace_selection.hpp"
#include "tools/moesim/commands.hpp"
#include "tools/moesim/options.hpp"
#include "tools/moesim/progress_display.hpp"

namespace moesim::cli {

namespace {

struct scenario_args {
  std::string file;
  std::vector<std::string> overrides;
  std::optional<std::uint64_t> seed;
  bool allow_large = false;
};

void add_scenario_args(CLI::App* sub, scenario_args& a) {
  sub->add_option("file", a.file, "Scenario YAML file")->required();
  sub->add_option("--set", a.overrides,
                  "Override a key: --set key.path=value (repeatable), e.g. --set workload.steps=2");
  sub->add_option("--seed", a.seed, "Replace the scenario's seed (0 to 2^64-1)")
      ->check(seed_value());
  add_allow_large(sub, a.allow_large);
}

/// The scenario file `a` names, loaded, and checked against the work limits (io/limits.hpp)
/// with each strategy, before anything is simulated.
sim::run::scenario_set load_checked(const scenario_args& a) {
  auto set = io::load_scenario_file(a.file, {a.overrides, a.seed, a.allow_large});
  io::check_scenario_limits(set.base, a.file, a.allow_large);
  for (const auto& s : set.strategies) {
    io::check_scenario_limits(s, a.file + " (strategy " + s.variant + ")", a.allow_large);
  }
  return set;
}

void write_file(const std::string& path, const std::string& what,
                const std::function<void(std::ostream&)>& body) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw io::input_error(path + ": cannot write the " + what + " file");
  body(out);
  if (!out) throw io::input_error(path + ": error while writing the " + what + " file");
}

/// The index in `scenarios` (base first) of the strategy --trace-strategy names.
std::size_t traced_scenario(const std::vector<const sim::run::scenario*>& scenarios,
                            const std::string& name) {
  if (name.empty() || name == "base") return 0;
  std::string known = "base";
  std::vector<std::string> names{"base"};
  for (std::size_t i = 1; i < scenarios.size(); ++i) {
    if (scenarios[i]->variant == name) return i;
    known += ", " + scenarios[i]->variant;
    names.push_back(scenarios[i]->variant);
  }
  const std::string near = io::did_you_mean(name, names);
  throw io::input_error(fmt::format(
      "--trace-strategy: unknown strategy '{}'{} (the scenario has {}; base: as written)", name,
      near.empty() ? "" : "; did you mean '" + near + "'?", known));
}

/// The trace's notes on the strategies: which one it shows, which it leaves out.
void note_strategies(sim::trace_recorder& trace,
                     const std::vector<const sim::run::scenario*>& scenarios, std::size_t traced) {
  const auto name = [&](std::size_t i) {
    return i == 0 ? std::string("base") : scenarios[i]->variant;
  };
  trace.note("traced_strategy", name(traced) + (traced == 0 ? " (as written)" : ""));
  std::string others;
  for (std::size_t i = 0; i < scenarios.size(); ++i) {
    if (i != traced) others += (others.empty() ? "" : ", ") + name(i);
  }
  trace.note("untraced_strategies", others.empty() ? "none" : others);
}

}  // namespace

void add_run_command(CLI::App& app, commands& cmds) {
  auto* sub = app.add_subcommand("run", "Simulate a scenario and print its summary");
  struct state {
    scenario_args args;
    std::string metrics;
    std::string trace;
    std::string trace_devices;
    std::string trace_window;
    std::string trace_strategy;
    bool quiet = false;
    bool layer_loads = false;
    int threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  };
  auto st = std::make_shared<state>();
  add_scenario_args(sub, st->args);
  sub->add_option("--metrics", st->metrics, "Write metrics JSON here");
  sub->add_flag("--layer-loads", st->layer_loads,
                "Add each MoE layer's tokens per expert and per EP rank to the metrics "
                "(routing.layers[].expert_tokens, rank_tokens; for tools/plot.py's heatmaps)")
      ->needs(sub->get_option("--metrics"));
  auto* trace_opt =
      sub->add_option("--trace", st->trace, "Write a Chrome/Perfetto trace JSON here");
  sub->add_option("--trace-devices", st->trace_devices,
                  "Devices to trace: ids and ranges (0-7,64,128-135) or all. Default: every "
                  "recorded device up to 64, else EP ranks 0..k-1 of DP replica 0 on every "
                  "pipeline stage (k = 128 / pp); the trace's otherData.selection says what was "
                  "left out")
      ->needs(trace_opt);
  sub->add_option(
         "--trace-window", st->trace_window,
         "Simulated time to trace, START:END with units (0:5ms, 2s:3s, 1ms: to the end); "
         "events overlapping it are kept whole. Default: the whole run; a serving run keeps "
         "250 ms from the middle of its duration_s (0: for the whole run)")
      ->needs(trace_opt);
  sub->add_option("--trace-strategy", st->trace_strategy,
                  "Which strategy the trace shows: its name, or base for the scenario as written "
                  "(the default)")
      ->needs(trace_opt);
  sub->add_flag("--quiet", st->quiet,
                "Print nothing on success (and no progress line; progress shows only when stderr "
                "is a terminal)");
  sub->add_option("--threads", st->threads,
                  "Threads (default: the machine's cores): strategies run side by side, a "
                  "single simulation uses them for its routing maths; the outputs are "
                  "byte-identical for any count")
      ->check(CLI::Range(1, 256));
  sub->callback([&cmds, st] {
    cmds.run = [st] {
      const auto t0 = std::chrono::steady_clock::now();
      sim::run::trace_selection selection;
      try {
        if (st->trace_devices == "all") {
          selection.device_budget = 0;
        } else if (!st->trace_devices.empty()) {
          selection.devices = io::parse_device_list(st->trace_devices);
        }
      } catch (const std::invalid_argument& e) {
        throw io::input_error(std::string("--trace-devices: ") + e.what());
      }
      try {
        if (!st->trace_window.empty()) {
          std::tie(selection.from, selection.to) = io::parse_time_window(st->trace_window);
        }
      } catch (const std::invalid_argument& e) {
        throw io::input_error(std::string("--trace-window: ") + e.what());
      }
      const auto set = load_checked(st->args);
      std::vector<const sim::run::scenario*> scenarios{&set.base};
      for (const auto& s : set.strategies) scenarios.push_back(&s);
      // The trace shows one simulation, the scenario as written unless --trace-strategy says
      // otherwise; strategies add rows to the comparison.
      const std::size_t traced = traced_scenario(scenarios, st->trace_strategy);
      try {
        if (!selection.devices.empty()) {
          sim::run::check_trace_devices(*scenarios[traced], selection.devices);
        }
      } catch (const std::invalid_argument& e) {
        throw io::input_error(std::string("--trace-devices: ") + e.what());
      }
      // A serving run's whole trace is hundreds of MB (every op of every iteration): without
      // --trace-window it keeps a bounded default window, said here and in the trace's notes.
      const sim::run::scenario& shown = *scenarios[traced];
      if (!st->trace.empty() && st->trace_window.empty() && shown.workload.serve) {
        std::tie(selection.from, selection.to) = sim::run::default_serve_trace_window(shown);
        selection.window_rule = fmt::format(
            "default for serving runs: {} of simulated time{}; --trace-window 0: for the whole run",
            io::format_seconds(sim::seconds(selection.to - selection.from)),
            selection.from > 0 ? " from the middle of the arrivals' duration_s" : "");
        if (!st->quiet) {
          fmt::print(stderr,
                     "moesim: --trace without --trace-window on a serving run: tracing {} to {} of "
                     "simulated time ({})\n",
                     io::format_seconds(sim::seconds(selection.from)),
                     io::format_seconds(sim::seconds(selection.to)), selection.window_rule);
        }
      }
      sim::trace_recorder trace(!st->trace.empty());
      if (trace.enabled()) note_strategies(trace, scenarios, traced);
      // The simulations are independent (no shared state), so strategies run side by side on
      // the threads; one simulation alone gets them all for its routing maths. Results and
      // errors are taken in list order, so the output does not depend on the thread count.
      std::vector<sim::run::run_result> results(scenarios.size());
      std::vector<std::exception_ptr> errors(scenarios.size());
      const auto workers =
          std::min<std::size_t>(static_cast<std::size_t>(st->threads), scenarios.size());
      const int inner = workers == 1 ? st->threads : 1;
      io::progress_meter meter(scenarios.size());
      std::atomic<std::size_t> next{0};
      auto work = [&] {
        for (std::size_t i = next++; i < scenarios.size(); i = next++) {
          sim::trace_recorder off(false);
          sim::run::run_options opt{inner, selection,
                                    [&meter, i](std::uint64_t done, std::uint64_t total) {
                                      meter.update(i, done, total);
                                    }};
          try {
            results[i] = sim::run::simulate(*scenarios[i], i == traced ? trace : off, opt);
          } catch (...) {
            errors[i] = std::current_exception();
          }
          meter.finish(i);
        }
      };
      {
        progress_display display(meter, !st->quiet && progress_display::stderr_is_terminal());
        std::vector<std::thread> pool;
        for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(work);
        work();
        for (auto& t : pool) t.join();
      }
      for (std::size_t i = 0; i < scenarios.size(); ++i) {
        if (!errors[i]) continue;
        try {
          std::rethrow_exception(errors[i]);
        } catch (const std::invalid_argument& e) {
          // The workload refused the scenario (e.g. a layout it cannot run): bad input.
          const auto& variant = scenarios[i]->variant;
          throw io::input_error(st->args.file +
                                (variant.empty() ? "" : " (strategy " + variant + ")") + ": " +
                                e.what());
        }
      }
      const double wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!st->metrics.empty()) {
        io::json metrics = io::metrics_json(results, scenarios);
        if (st->layer_loads) io::add_layer_loads(metrics, results.front());
        write_file(st->metrics, "metrics", [&](std::ostream& o) { o << io::dump(metrics); });
      }
      if (!st->trace.empty()) {
        write_file(st->trace, "trace", [&](std::ostream& o) {
          io::write_chrome_trace(trace, {set.base.name, set.base.seed}, o);
        });
      }
      if (!st->quiet) {
        io::print_summary(results.front(), std::cout);
        io::print_comparison(results, set.base.objective, std::cout);
        std::uint64_t events = 0;
        for (const auto& r : results) events += r.events;
        fmt::print(std::cout, "  wall time {:.3f} s, {} events ({:.3g} events/s)\n", wall, events,
                   static_cast<double>(events) / std::max(wall, 1e-9));
      }
      return 0;
    };
  });
}

void add_validate_command(CLI::App& app, commands& cmds) {
  auto* sub = app.add_subcommand("validate", "Check a scenario without simulating it");
  auto st = std::make_shared<scenario_args>();
  add_scenario_args(sub, *st);
  sub->callback([&cmds, st] {
    cmds.run = [st] {
      const auto set = load_checked(*st);
      fmt::print(std::cout, "{}: ok ({} on {}, {} strateg{})\n", st->file, set.base.model.name,
                 set.base.cluster.name, set.strategies.size(),
                 set.strategies.size() == 1 ? "y" : "ies");
      return 0;
    };
  });
}

void add_schema_command(CLI::App& app, commands& cmds) {
  app.add_subcommand("schema", "Print the JSON Schema of scenario files (for editors)")
      ->callback([&cmds] {
        cmds.run = [] {
          std::cout << io::dump(io::scenario_json_schema());
          return 0;
        };
      });
}

void add_presets_command(CLI::App& app, commands& cmds) {
  auto* sub = app.add_subcommand("presets", "List the built-in model, chip and cluster presets");
  auto json_out = std::make_shared<bool>(false);
  sub->add_flag("--json", *json_out, "Print JSON");
  sub->callback([&cmds, json_out] {
    cmds.run = [json_out] {
      const auto presets = io::list_presets();
      if (*json_out) {
        io::json j = io::json::array();
        for (const auto& p : presets) {
          j.push_back({{"name", p.name}, {"kind", io::to_string(p.kind)}, {"file", p.path}});
        }
        std::cout << io::dump(j);
        return 0;
      }
      io::preset_kind last{};
      bool first = true;
      for (const auto& p : presets) {
        if (first || p.kind != last) {
          fmt::print(std::cout, "{}{} presets:\n", first ? "" : "\n", io::to_string(p.kind));
          last = p.kind;
          first = false;
        }
        fmt::print(std::cout, "  {:<20} {}\n", p.name, p.path);
      }
      return 0;
    };
  });
}

}  // namespace moesim::cli
