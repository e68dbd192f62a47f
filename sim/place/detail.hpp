#pragma once
// Internals shared by the strategies of placement.cpp, eplb.cpp and topology.cpp. Not part of
// the contract (placement.hpp); tests may use them.
#include <queue>
#include <span>
#include <vector>

#include "sim/place/placement.hpp"

namespace moesim::place::detail {

/// eplb.py's replicate_experts rule in the arithmetic of T (float for eplb, as eplb.py;
/// double elsewhere): `count` starts at one copy per expert, then each of the slots - n extra
/// slots goes to the expert with the largest weight / copies, the lowest expert on ties (torch.max
/// returns the first maximum). Returns the experts in the order they got their extra copies.
/// O(slots log n).
template <class T>
std::vector<int> replicate_order(std::span<const T> weight, int slots, std::vector<int>& count) {
  const int n = static_cast<int>(weight.size());
  count.assign(weight.size(), 1);
  auto below = [&](int a, int b) {
    const T ra = weight[a] / static_cast<T>(count[a]);
    const T rb = weight[b] / static_cast<T>(count[b]);
    return ra < rb || (ra == rb && a > b);
  };
  std::priority_queue<int, std::vector<int>, decltype(below)> heap(below);
  for (int e = 0; e < n; ++e) heap.push(e);
  std::vector<int> order;
  for (int s = n; s < slots; ++s) {
    const int e = heap.top();
    heap.pop();
    order.push_back(e);
    ++count[e];
    heap.push(e);
  }
  return order;
}

/// Copies per expert when `slots` (>= load.size()) slots hold `load.size()` experts, by
/// replicate_order in double.
[[nodiscard]] std::vector<int> replicate_counts(std::span<const double> load, int slots);

/// Places count[e] copies of each expert e (copy load load[e] / count[e]) on `devices` devices
/// of `per_device` slots each (sum of counts == devices * per_device): copies largest first
/// (ties by expert), each onto the least-loaded device with a free slot that holds no copy of
/// the expert yet (else any with a free slot), ties to the lowest device. Returns the local
/// expert of each slot, device-major, slots of a device in the order they were filled.
/// O(copies x (devices + per_device)).
[[nodiscard]] std::vector<int> pack_copies(std::span<const double> load, std::span<const int> count,
                                           int devices, int per_device);

/// The placement whose slot tables are `phy2log` (one row per layer of `p`): logcnt, log2phy
/// (ascending slots, padded with -1 to the most copies) and device_load on p.loads.
/// O(layers x slots).
[[nodiscard]] placement assemble(const problem& p, std::vector<std::vector<int>> phy2log);

/// DeepSeek EPLB's phy2log for one layer (eplb.cpp).
[[nodiscard]] std::vector<int> eplb_layer(std::span<const double> load, int physical, int groups,
                                          int nodes, int devices);

/// topology_aware's phy2log for one layer (topology.cpp); `coactivation` empty or experts^2.
[[nodiscard]] std::vector<int> topology_layer(std::span<const double> load,
                                              std::span<const double> coactivation, int physical,
                                              int nodes, int devices);

/// topology_aware's repair of a partition (`part[e]` = node of expert e): moves experts until
/// every node holds between 1 and `capacity` experts, each move the one that loses the least
/// co-activation (topology.cpp). `coactivation` empty or experts^2.
void repair_parts(std::vector<int>& part, std::span<const double> coactivation,
                  std::span<const double> load, int nodes, int capacity);

}  // namespace moesim::place::detail
