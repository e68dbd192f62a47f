#pragma once
// `faults:` (sim/run/faults.hpp): the list of fault events, their keys and ranges, and the
// checks against the cluster (link and device names, reachability, timing model).
#include "sim/io/schema.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::io {

/// One item of `faults:`.
const object_type<sim::run::fault_event>& fault_type();

/// Checks `s.faults` against the cluster of `s`, failing at the offending key: link ends that
/// name no vertex (with a suggestion) or no cable, straggler devices outside the cluster, link
/// faults with network.model analytical, and failed links that leave a pair of devices that
/// could reach each other without a route. `root` is the scenario's mapping (for locations).
/// Builds the cluster's topology once when there are link faults. O(V + E) per group of
/// connected devices for the reachability check.
void resolve_faults(const sim::run::scenario& s, const doc::node& root);

}  // namespace moesim::io
