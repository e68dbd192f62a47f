// topology_aware: partitions the co-activation graph onto nodes, cutting cross-node
// co-activation against contiguous on planted clusters; part sizes repaired to the node slots.
#include <algorithm>
#include <catch2/catch.hpp>
#include <numeric>
#include <set>
#include <vector>

#include "sim/place/detail.hpp"
#include "sim/place/placement.hpp"

namespace place = moesim::place;
using place::strategy;

namespace {

/// 16 experts in 4 planted clusters {c, c+4, c+8, c+12}: members co-activate 100 times, other
/// pairs once. Contiguous puts 0..3 (one of each cluster) on node 0, the worst layout. Loads
/// differ per expert (10 + e / 4) but every cluster sums to 46, so balance allows the clusters.
place::problem planted(int physical, int nodes, int devices) {
  constexpr int experts = 16;
  place::problem p;
  std::vector<double> c(experts * experts, 0.0);
  for (int i = 0; i < experts; ++i) {
    for (int j = 0; j < experts; ++j) {
      if (i != j) c[i * experts + j] = (i % 4 == j % 4) ? 100.0 : 1.0;
    }
  }
  std::vector<double> load(experts);
  for (int e = 0; e < experts; ++e) load[e] = 10.0 + e / 4;
  p.loads = {load, load};
  p.coactivation = {c, c};
  p.physical_experts = physical;
  p.nodes = nodes;
  p.devices = devices;
  return p;
}

}  // namespace

TEST_CASE("topology_aware keeps planted clusters on one node each") {
  const place::problem p = planted(16, 4, 8);
  const place::placement topo = place::place(strategy::topology_aware, p);
  const place::placement cont = place::place(strategy::contiguous, p);
  // Contiguous cuts every cluster pair (6 x 4 x 100) and the 96 - 24 others it does not keep
  // together, per layer.
  CHECK(place::cross_node_coactivation(p, cont) == 2 * (24 * 100.0 + 72 * 1.0));
  // The best layout cuts only the 96 cross-cluster pairs.
  CHECK(place::cross_node_coactivation(p, topo) == 2 * 96.0);
  for (const auto& row : topo.phy2log) {
    for (int n = 0; n < 4; ++n) {
      std::set<int> clusters;
      for (int s = 4 * n; s < 4 * n + 4; ++s) clusters.insert(row[s] % 4);
      CHECK(clusters.size() == 1);
    }
  }
}

TEST_CASE("topology_aware with replicas keeps copies within the node of their cluster") {
  const place::problem p = planted(24, 4, 8);
  const place::placement topo = place::place(strategy::topology_aware, p);
  CHECK(place::cross_node_coactivation(p, topo) <=
        place::cross_node_coactivation(p, place::place(strategy::load_aware, p)));
  CHECK(place::cross_node_coactivation(p, topo) == 2 * 96.0);
  for (const auto& cnt : topo.logcnt) {
    CHECK(std::accumulate(cnt.begin(), cnt.end(), 0) == 24);
  }
}

TEST_CASE("topology_aware on one node is load_aware; without co-activation loads decide") {
  place::problem p = planted(20, 1, 4);
  CHECK(place::place(strategy::topology_aware, p).phy2log ==
        place::place(strategy::load_aware, p).phy2log);
  p = planted(16, 2, 4);
  p.coactivation.clear();
  const place::placement x = place::place(strategy::topology_aware, p);
  // Loads by descending load alternate over the two nodes: 8 experts each, balanced.
  for (const auto& row : x.device_load) {
    CHECK(place::max_over_mean(row) < 1.05);
  }
  CHECK(place::cross_node_coactivation(p, x) == 0.0);
}

TEST_CASE("topology_aware repairs part sizes: every node exactly its slots without replicas") {
  // One dominant cluster of 8 experts that all co-activate, 4 nodes of 4 slots: METIS would like
  // the 8 together, the repair must split them 4 and 4 across nodes.
  constexpr int experts = 16;
  place::problem p;
  std::vector<double> c(experts * experts, 0.0);
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 8; ++j) {
      if (i != j) c[i * experts + j] = 1000.0;
    }
  }
  p.loads = {std::vector<double>(experts, 1.0)};
  p.coactivation = {c};
  p.physical_experts = 16;
  p.nodes = 4;
  p.devices = 4;
  const place::placement x = place::place(strategy::topology_aware, p);
  std::vector<int> hot_per_node(4, 0);
  for (int s = 0; s < 16; ++s) hot_per_node[s / 4] += x.phy2log[0][s] < 8 ? 1 : 0;
  std::sort(hot_per_node.begin(), hot_per_node.end());
  CHECK(hot_per_node == std::vector<int>{0, 0, 4, 4});
}

TEST_CASE("the part-size repair moves the experts that lose the least co-activation") {
  // Two clusters {0..3} and {4..7} (10 within, 1 across), all 8 on node 0, 4 slots a node: the
  // repair empties node 0 down to 4 by moving one whole cluster, one expert at a time.
  constexpr int experts = 8;
  std::vector<double> c(experts * experts, 0.0);
  for (int i = 0; i < experts; ++i) {
    for (int j = 0; j < experts; ++j) {
      if (i != j) c[i * experts + j] = (i / 4 == j / 4) ? 10.0 : 1.0;
    }
  }
  const std::vector<double> load(experts, 1.0);
  std::vector<int> part(experts, 0);
  moesim::place::detail::repair_parts(part, c, load, 2, 4);
  CHECK(part == std::vector<int>{1, 1, 1, 1, 0, 0, 0, 0});
  // Replicas leave room (6 slots a node, 3 nodes): only the empty node is filled, from a node
  // with two or more, by the expert with the least to lose (the lightest on ties).
  part = {0, 0, 0, 0, 1, 1, 1, 1};
  const std::vector<double> uneven = {5, 5, 5, 5, 5, 5, 5, 2};
  moesim::place::detail::repair_parts(part, c, uneven, 3, 6);
  CHECK(part == std::vector<int>{0, 0, 0, 0, 1, 1, 1, 2});
}

TEST_CASE("topology_aware swaps copies until every node is within 5% of the mean load") {
  // Planted clusters of unequal load (expert e: 10 + 3e, so cluster 3 is the heaviest) and one
  // GPU per node: keeping the clusters whole would leave node loads 112, 124, 136, 148 (mean
  // 130, the heaviest 14% above); the balance swaps bring every node within 5% of the mean.
  place::problem p = planted(16, 4, 4);
  for (auto& row : p.loads) {
    for (int e = 0; e < 16; ++e) row[e] = 10.0 + 3 * e;
  }
  const place::placement x = place::place(strategy::topology_aware, p);
  for (const auto& row : x.device_load) CHECK(place::max_over_mean(row) <= 1.05);
  // Each swap splits clusters, but it still cuts far less than contiguous (4944 both layers).
  CHECK(place::cross_node_coactivation(p, x) < 2000.0);
}
