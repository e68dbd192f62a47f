#pragma once
// Loading a scenario: YAML file -> document tree -> --set overrides -> presets expanded ->
// unknown keys checked over the whole tree -> typed, range-checked structs -> cross-section
// checks (layout against model and cluster). Every failure is an input_error naming
// file:line:col (or the --set override), the key path and what was expected.
//
// Sections (see `moesim schema` for every key):
//   name, description, seed, model, cluster, chip, network, parallelism, moe, sampling,
//   workload, strategies
// plus `sweep:` (axes for `moesim sweep`, sim/io/sweep.hpp), which loading ignores: a sweep
// file loads (and `moesim run` runs) as its base scenario.
// `model` and `cluster` take `preset: NAME` plus overriding keys; `chip` overrides fields of
// the chip preset named by cluster.chip. Each `strategies:` item has a `name` and any
// sections, merged over the scenario as written.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/io/doc.hpp"
#include "sim/io/schema.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::io {

struct load_options {
  std::vector<std::string> overrides;  ///< "key.path=value", applied in order
  std::optional<std::uint64_t> seed;   ///< replaces the scenario's seed
  /// Lifts the device limit (io/limits.hpp), which the loader checks before check_feasible
  /// builds the cluster's graph: a cluster too large for memory is refused, not built.
  bool allow_large = false;
};

/// A layout the cluster or model cannot run (check_feasible: e.g. EP not dividing the experts),
/// as opposed to a malformed file: a sweep reports such a point as infeasible and goes on.
class infeasible_error : public input_error {
 public:
  explicit infeasible_error(const input_error& e) : input_error(e) {}
};

sim::run::scenario_set load_scenario_file(const std::string& path, const load_options& opt = {});
/// As load_scenario_file for text; relative paths inside (routing traces) resolve against the
/// current directory.
sim::run::scenario_set load_scenario_text(std::string_view yaml, const std::string& origin,
                                          const load_options& opt = {});

/// As load_scenario_file for a document tree already parsed (and perhaps edited); relative
/// paths inside resolve against `base_dir`.
sim::run::scenario_set load_scenario_tree(doc::node root, const std::string& base_dir,
                                          const load_options& opt = {});

/// The shipped scenario `scenarios/<name>.yaml`, compiled into the binary (for `moesim
/// accuracy` and `moesim bench steps`), loaded as load_scenario_text would. Throws
/// std::invalid_argument naming the shipped ones for an unknown name.
sim::run::scenario_set load_shipped_scenario(const std::string& name, const load_options& opt = {});

/// JSON Schema (draft 2020-12) of a scenario file, for editors.
json scenario_json_schema();

/// The resolved scenario as JSON (every key, defaults included), echoed into the metrics.
json scenario_to_json(const sim::run::scenario& s);

}  // namespace moesim::io
