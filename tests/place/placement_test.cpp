// Every strategy's invariants, hand-solved small cases, balance on skewed loads, the seeded
// random strategy, and each refusal's exact message.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/place/placement.hpp"

namespace place = moesim::place;
using place::strategy;

namespace {

/// Zipf-like loads (expert e of layer l: 1000 / (1 + (e * 7 + l * 3) % n)), so the hot experts
/// sit at different places in each layer.
place::problem skewed(int layers, int experts, int physical) {
  place::problem p;
  for (int l = 0; l < layers; ++l) {
    std::vector<double> row(experts);
    for (int e = 0; e < experts; ++e) row[e] = 1000.0 / (1 + (e * 7 + l * 3) % experts);
    p.loads.push_back(row);
  }
  p.physical_experts = physical;
  p.groups = 4;
  p.nodes = 2;
  p.devices = 8;
  return p;
}

void check_invariants(const place::problem& p, const place::placement& x) {
  const int experts = static_cast<int>(p.loads[0].size());
  const int per_device = p.physical_experts / p.devices;
  REQUIRE(x.phy2log.size() == p.loads.size());
  int most = 0;
  for (const auto& row : x.logcnt) most = std::max(most, *std::max_element(row.begin(), row.end()));
  for (std::size_t l = 0; l < p.loads.size(); ++l) {
    REQUIRE(x.phy2log[l].size() == static_cast<std::size_t>(p.physical_experts));
    // phy2log holds every expert logcnt times; logcnt >= 1 and sums to the slots.
    std::vector<int> seen(experts, 0);
    for (int e : x.phy2log[l]) {
      REQUIRE(e >= 0);
      REQUIRE(e < experts);
      ++seen[e];
    }
    CHECK(seen == x.logcnt[l]);
    CHECK(std::accumulate(x.logcnt[l].begin(), x.logcnt[l].end(), 0) == p.physical_experts);
    CHECK(*std::min_element(x.logcnt[l].begin(), x.logcnt[l].end()) >= 1);
    // log2phy: e's slots ascending, then -1 up to the most copies anywhere.
    for (int e = 0; e < experts; ++e) {
      const auto& slots = x.log2phy[l][e];
      REQUIRE(slots.size() == static_cast<std::size_t>(most));
      for (int c = 0; c < most; ++c) {
        if (c < x.logcnt[l][e]) {
          CHECK(x.phy2log[l][slots[c]] == e);
          if (c > 0) CHECK(slots[c] > slots[c - 1]);
        } else {
          CHECK(slots[c] == -1);
        }
      }
    }
    // device_load: one entry per device, recomputed from the slots, summing to the total.
    REQUIRE(x.device_load[l].size() == static_cast<std::size_t>(p.devices));
    std::vector<double> recomputed(p.devices, 0.0);
    for (int s = 0; s < p.physical_experts; ++s) {
      const int e = x.phy2log[l][s];
      recomputed[s / per_device] += p.loads[l][e] / x.logcnt[l][e];
    }
    for (int d = 0; d < p.devices; ++d) CHECK(x.device_load[l][d] == Approx(recomputed[d]));
    const double total = std::accumulate(p.loads[l].begin(), p.loads[l].end(), 0.0);
    CHECK(std::accumulate(x.device_load[l].begin(), x.device_load[l].end(), 0.0) ==
          Approx(total));
  }
}

double worst_max_over_mean(const place::placement& x) {
  double worst = 0.0;
  for (const auto& row : x.device_load) worst = std::max(worst, place::max_over_mean(row));
  return worst;
}

std::string refusal(strategy s, const place::problem& p) {
  try {
    (void)place::place(s, p);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("strategy names round-trip and unknown names are refused with the list") {
  for (std::size_t i = 0; i < place::strategy_names().size(); ++i) {
    const auto s = static_cast<strategy>(i);
    CHECK(place::parse_strategy(place::to_string(s)) == s);
  }
  CHECK_THROWS_WITH(place::parse_strategy("eplbb"),
                    "unknown placement strategy 'eplbb' (expected one of contiguous, round_robin, "
                    "random, load_aware, eplb, topology_aware)");
}

TEST_CASE("every strategy keeps the invariants, without and with replicas") {
  for (std::size_t i = 0; i < place::strategy_names().size(); ++i) {
    const auto s = static_cast<strategy>(i);
    INFO(place::to_string(s));
    const place::problem flat = skewed(3, 32, 32);
    check_invariants(flat, place::place(s, flat));
    if (place::has_replicas(s)) {
      const place::problem redundant = skewed(3, 32, 40);
      check_invariants(redundant, place::place(s, redundant));
    }
  }
}

TEST_CASE("load_aware and eplb balance skewed loads better than contiguous") {
  const place::problem flat = skewed(4, 64, 64);
  const double contiguous = worst_max_over_mean(place::place(strategy::contiguous, flat));
  const double load_aware = worst_max_over_mean(place::place(strategy::load_aware, flat));
  const double eplb = worst_max_over_mean(place::place(strategy::eplb, flat));
  CHECK(load_aware < contiguous);
  CHECK(eplb < contiguous);
  // Redundant slots let the hottest expert (1000, a sixth of the 8-device mean) be split.
  const place::problem redundant = skewed(4, 64, 80);
  CHECK(worst_max_over_mean(place::place(strategy::load_aware, redundant)) < load_aware);
  CHECK(worst_max_over_mean(place::place(strategy::eplb, redundant)) < eplb);
}

TEST_CASE("contiguous and round_robin lay experts out by index") {
  place::problem p;
  p.loads = {{1, 2, 3, 4, 5, 6, 7, 8}};
  p.physical_experts = 8;
  p.devices = 4;
  CHECK(place::place(strategy::contiguous, p).phy2log[0] ==
        std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
  const place::placement rr = place::place(strategy::round_robin, p);
  CHECK(rr.phy2log[0] == std::vector<int>{0, 4, 1, 5, 2, 6, 3, 7});
  CHECK(rr.device_load[0] == std::vector<double>{6, 8, 10, 12});
}

TEST_CASE("load_aware hand-solved: largest first onto the least-loaded device with room") {
  place::problem p;
  p.loads = {{10, 1, 1, 8}};
  p.physical_experts = 4;
  p.devices = 2;
  // 10 -> d0; 8 -> d1; 1 -> d1 (8 < 10); 1 -> d0 (d1 full).
  place::placement x = place::place(strategy::load_aware, p);
  CHECK(x.phy2log[0] == std::vector<int>{0, 2, 3, 1});
  CHECK(x.device_load[0] == std::vector<double>{11, 9});
  // Replicas: 12 gets 3 copies of 4; copies of one expert avoid a device that holds one.
  p.loads = {{12, 2, 2, 4}};
  p.physical_experts = 6;
  p.devices = 3;
  x = place::place(strategy::load_aware, p);
  CHECK(x.logcnt[0] == std::vector<int>{3, 1, 1, 1});
  CHECK(x.phy2log[0] == std::vector<int>{0, 3, 0, 1, 0, 2});
  CHECK(x.device_load[0] == std::vector<double>{8, 6, 6});
  CHECK(place::max_over_mean(x.device_load[0]) == Approx(8.0 / (20.0 / 3.0)));
}

TEST_CASE("random is a seeded shuffle: the same per seed, different across seeds and layers") {
  place::problem p = skewed(2, 64, 64);
  p.seed = 7;
  const place::placement a = place::place(strategy::random, p);
  CHECK(a.phy2log == place::place(strategy::random, p).phy2log);
  p.seed = 8;
  const place::placement b = place::place(strategy::random, p);
  CHECK(a.phy2log != b.phy2log);
  CHECK(a.phy2log[0] != a.phy2log[1]);
  std::vector<int> sorted = a.phy2log[0];
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> identity(64);
  std::iota(identity.begin(), identity.end(), 0);
  CHECK(sorted == identity);
  CHECK(a.phy2log[0] != identity);
}

TEST_CASE("max_over_mean") {
  CHECK(place::max_over_mean({2, 2, 2}) == 1.0);
  CHECK(place::max_over_mean({3, 1}) == 1.5);
  CHECK(place::max_over_mean({0, 0}) == 0.0);
  CHECK(place::max_over_mean({}) == 0.0);
}

TEST_CASE("bad problems are refused with the numbers") {
  place::problem p;
  p.loads = {{1, 2, 3, 4}};
  p.physical_experts = 4;
  p.devices = 2;
  CHECK(refusal(strategy::eplb, p) == "(accepted)");

  place::problem q = p;
  q.loads = {};
  CHECK(refusal(strategy::eplb, q) ==
        "loads: no layers (one row of expert loads per layer expected)");
  q.loads = {{}};
  CHECK(refusal(strategy::eplb, q) == "loads: layer 0 has no experts");
  q.loads = {{1, 2, 3, 4}, {1, 2, 3}};
  CHECK(refusal(strategy::eplb, q) ==
        "loads: layer 1 has 3 experts, layer 0 has 4 (every layer needs the same experts)");
  q.loads = {{1, 2, 3, 4}, {1, -2.5, 3, 4}};
  CHECK(refusal(strategy::eplb, q) ==
        "loads[1][1] = -2.5 is negative (loads are token counts or shares, >= 0)");
  q.loads = {{1, 2, std::numeric_limits<double>::quiet_NaN(), 4}};
  CHECK(refusal(strategy::eplb, q) == "loads[0][2] = nan is not a finite number");
  q.loads = {{1, 2, 3, std::numeric_limits<double>::infinity()}};
  CHECK(refusal(strategy::eplb, q) == "loads[0][3] = inf is not a finite number");

  q = p;
  q.physical_experts = 2;
  CHECK(refusal(strategy::eplb, q) ==
        "physical experts (2) fewer than the experts (4): every expert needs a slot");
  q.physical_experts = 5;
  CHECK(refusal(strategy::eplb, q) == "physical experts (5) not a multiple of the devices (2): "
                                      "every device holds the same number of slots");
  q = p;
  q.nodes = 3;
  CHECK(refusal(strategy::eplb, q) == "devices (2) not a multiple of the nodes (3): every node "
                                      "holds the same number of devices");
  q = p;
  q.groups = 3;
  CHECK(refusal(strategy::eplb, q) == "groups (3) do not divide the experts (4)");
  q = p;
  q.devices = 0;
  CHECK(refusal(strategy::eplb, q) == "devices (0) must be at least 1");
  q = p;
  q.physical_experts = 6;
  for (strategy s : {strategy::contiguous, strategy::round_robin, strategy::random}) {
    CHECK(refusal(s, q) == "strategy " + std::string(place::to_string(s)) +
                               " places no replicas: physical experts (6) must equal the experts "
                               "(4); load_aware, eplb and topology_aware replicate hot experts");
  }
  q = p;
  q.loads = {{1, 2}};
  q.physical_experts = 4;
  q.nodes = 4;
  q.devices = 4;
  CHECK(refusal(strategy::topology_aware, q) ==
        "strategy topology_aware puts at least one expert on each node: experts (2) fewer than "
        "the nodes (4)");
  q = p;
  q.coactivation = {{0, 1, 2}};
  CHECK(refusal(strategy::topology_aware, q) ==
        "coactivation: layer 0 has 3 entries, expected experts x experts = 16");
  q.coactivation = {{0, 1}, {1, 0}};
  CHECK(refusal(strategy::topology_aware, q) == "coactivation: 2 layers, loads have 1");
  q.coactivation = {std::vector<double>(16, 0.0)};
  q.coactivation[0][6] = -1;
  CHECK(refusal(strategy::topology_aware, q) ==
        "coactivation[0][1][2] = -1 is not a finite count >= 0");
}

TEST_CASE("keep_in_place relabels devices to keep what they hold, loads unchanged") {
  place::problem p;
  p.loads = {{8, 1, 6, 3, 5, 4, 7, 2}};
  p.physical_experts = 8;
  p.nodes = 2;
  p.devices = 4;
  // Before: device d holds {2d, 2d+1}. After: the same pairs dealt to other devices and nodes.
  place::placement before;
  before.phy2log = {{0, 1, 2, 3, 4, 5, 6, 7}};
  place::placement after;
  after.phy2log = {{6, 7, 4, 5, 2, 3, 0, 1}};
  const place::placement b = place::keep_in_place(p, before, before);
  const place::placement kept = place::keep_in_place(p, before, after);
  CHECK(kept.phy2log == before.phy2log);
  CHECK(kept.device_load == b.device_load);
  // Sets that overlap only in part: each device keeps the most it can; a node's devices stay
  // together (devices 0-1 and 2-3 are the two nodes).
  place::placement mixed;
  mixed.phy2log = {{3, 2, 1, 4, 7, 6, 5, 0}};
  const place::placement m = place::keep_in_place(p, before, mixed);
  // Node sets {3,2,1,4} and {7,6,5,0}: the first shares 3 with node 0 ({0..3}), the second 3
  // with node 1 ({4..7}); within node 0, {3,2} matches device 1 and {1,4} device 0; within
  // node 1, {7,6} matches device 3 and {5,0} device 2.
  CHECK(m.phy2log == std::vector<std::vector<int>>{{1, 4, 3, 2, 5, 0, 7, 6}});
  // Device loads are the same multiset as the unrelabelled placement's.
  const place::placement raw = place::keep_in_place(p, mixed, mixed);
  auto sorted = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(sorted(m.device_load[0]) == sorted(raw.device_load[0]));
}
