#pragma once
// `precision:` (run-time number formats, including the stored formats of the routed experts'
// and the attention projections' weights) and `offload:` (expert offloading,
// sim/run/expert_offload.hpp): their keys, ranges and cross-field checks.
#include "sim/io/schema.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::io {

/// The `precision:` mapping.
const object_type<sim::run::precision_config>& precision_type();

/// The `offload:` mapping.
const object_type<sim::run::offload_config>& offload_type();

/// Applies precision.expert_weights / attention_weights to the model, then checks `offload:`
/// against the rest of the scenario (one cache size; inference: decode, prefill or aggregated
/// serving; an MoE model; tp 1; the contiguous expert split; a per-layer cache no larger than
/// a device's experts of a layer; prefetch needs a cache; miss: cpu needs cluster.host),
/// failing at the offending key. `root` is the scenario's mapping (for locations).
void resolve_offload(sim::run::scenario& s, const doc::node& root);

}  // namespace moesim::io
