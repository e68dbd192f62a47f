#pragma once
// `moe.placement`: the keys, ranges and docs of expert placement (strategy, redundant slots,
// replica choice, warm-up, rebalancing), and its checks that need the model and the layout.
#include <string>

#include "sim/io/schema.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::io {

/// The `placement:` mapping of `moe:`, read into a placement_config. Its own cross-field
/// checks (replicas asked of a strategy without them, rebalancing a strategy that ignores
/// loads) fail at the key.
const object_type<sim::run::placement_config>& placement_type();

/// moe.placement as a field of `moe:` (absent or null: the contiguous split).
using placement_field =
    optional_spec<sim::run::placement_config, object_spec<sim::run::placement_config>>;
inline placement_field placement_spec() {
  return {nested(placement_type())};
}
inline constexpr const char* placement_doc =
    "which device holds which experts: {strategy, redundant_experts, replica_choice, warmup, "
    "rebalance: {every, window, mode, min_gain}}";

}  // namespace moesim::io
