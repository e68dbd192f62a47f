#pragma once
// Checks that a scenario's layout can run before anything is simulated, and explains a
// refusal with the numbers that disagree ("parallelism: ep 6 does not divide the 8 experts of
// mixtral-8x7b"). Throws std::invalid_argument; the loader adds the file location.
#include "sim/run/scenario.hpp"

namespace moesim::sim::run {

/// Devices of the cluster as the scenario describes it (before building any graph).
[[nodiscard]] long long cluster_devices(const topo::cluster_spec& c) noexcept;

void check_feasible(const scenario& s);

}  // namespace moesim::sim::run
