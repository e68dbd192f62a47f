#pragma once
// Shared by the run tests: the scenario a YAML text describes, and that scenario simulated
// without a trace. One definition, so the tests of a target can share a unity-build unit.
#include <string>
#include <utility>
#include <vector>

#include "sim/engine/trace.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/run/simulate.hpp"

namespace moesim::test {

/// The base scenario of `yaml`, with `sets` applied as `--set` overrides; `file` is the name
/// error messages show.
inline sim::run::scenario load_text(const std::string& yaml, std::vector<std::string> sets = {},
                                    const std::string& file = "test.yaml") {
  io::load_options opt;
  opt.overrides = std::move(sets);
  return io::load_scenario_text(yaml, file, opt).base;
}

/// The base scenario of `yaml` simulated, no trace recorded.
inline sim::run::run_result run_text(const std::string& yaml) {
  sim::trace_recorder trace(false);
  return sim::run::simulate(load_text(yaml), trace);
}

}  // namespace moesim::test
