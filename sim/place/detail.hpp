#pragma once
// Internals shared by the strategies of placement.cpp, eplb.cpp and topology.cpp. Not part of
// the contract (placement.hpp); tests may use them.
#include <span>
#include <vector>

namespace moesim::place::detail {

/// Copies per expert when `slots` (>= load.size()) slots hold `load.size()` experts: every
/// expert one copy, then each extra slot to the expert with the largest load / copies (ties to
/// the lowest expert), the rule of eplb.py's replicate_experts. O(slots log n).
[[nodiscard]] std::vector<int> replicate_counts(std::span<const double> load, int slots);

/// Places count[e] copies of each expert e (copy load load[e] / count[e]) on `devices` devices
/// of `per_device` slots each (sum of counts == devices * per_device): copies largest first
/// (ties by expert), each onto the least-loaded device with a free slot that holds no copy of
/// the expert yet (else any with a free slot), ties to the lowest device. Returns the local
/// expert of each slot, device-major, slots of a device in the order they were filled.
/// O(copies x (devices + per_device)).
[[nodiscard]] std::vector<int> pack_copies(std::span<const double> load, std::span<const int> count,
                                           int devices, int per_device);

/// DeepSeek EPLB's phy2log for one layer (eplb.cpp).
[[nodiscard]] std::vector<int> eplb_layer(std::span<const double> load, int physical, int groups,
                                          int nodes, int devices);

/// topology_aware's phy2log for one layer (topology.cpp); `coactivation` empty or experts^2.
[[nodiscard]] std::vector<int> topology_layer(std::span<const double> load,
                                              std::span<const double> coactivation, int physical,
                                              int nodes, int devices);

}  // namespace moesim::place::detail
