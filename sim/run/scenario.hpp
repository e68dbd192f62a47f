#pragma once
// A scenario, fully resolved: presets expanded, overrides applied, every value checked.
// Built by sim/io (load_scenario); consumed by the simulator.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/model_spec.hpp"
#include "sim/cluster/profile_table.hpp"
#include "sim/run/config.hpp"
#include "sim/run/faults.hpp"
#include "topologies/chip_spec.hpp"
#include "topologies/cluster_spec.hpp"

namespace moesim::sim::run {

struct scenario {
  std::string name;
  std::string description;
  std::uint64_t seed = 1;
  models::model_spec model;
  topo::cluster_spec cluster;
  topo::chip_spec
      chip;  ///< the preset named by cluster.chip, with the scenario's `chip:` overrides
  network_config network;
  parallel_config parallelism;
  moe_config moe;
  precision_config precision;
  sampling_config sampling;
  workload_config workload;
  folding_config folding;
  std::optional<offload_config> offload;  ///< `offload:` (absent: every expert in HBM)
  std::vector<fault_event> faults;        ///< `faults:` (sim/run/faults.hpp), in written order
  objective_kind objective = objective_kind::step_time;  ///< how strategies are ranked
  std::string variant;     ///< strategy name; empty for the scenario as written
  std::string op_profile;  ///< `op_profile:` as written (relative to the scenario); may be empty
  /// The parsed op_profile; null without one. Immutable, so copies of the scenario share it.
  std::shared_ptr<const cluster::profile_table> profile;
};

/// The scenario as written plus one resolved scenario per entry of `strategies:`.
struct scenario_set {
  scenario base;
  std::vector<scenario> strategies;
};

}  // namespace moesim::sim::run
