// place::rebalance_moves: hand-solved swap and re-replication, the min_gain threshold, and on
// skewed loads that a lower threshold never balances worse and never moves fewer copies.
#include <catch2/catch.hpp>
#include <stdexcept>
#include <vector>

#include "sim/place/placement.hpp"
#include "sim/place/rebalance.hpp"

namespace place = moesim::place;

namespace {

place::placement of_rows(std::vector<std::vector<int>> rows) {
  place::placement x;
  x.phy2log = std::move(rows);
  return x;
}

/// Slots whose expert differs (each a copy transferred).
int changed(const place::placement& a, const place::placement& b) {
  int n = 0;
  for (std::size_t l = 0; l < a.phy2log.size(); ++l) {
    for (std::size_t s = 0; s < a.phy2log[l].size(); ++s) n += a.phy2log[l][s] != b.phy2log[l][s];
  }
  return n;
}

/// Copies beyond the first of an expert on one device in layer l (8 devices of 10 slots).
int doubled(const place::placement& x, std::size_t l) {
  int n = 0;
  for (int d = 0; d < 8; ++d) {
    std::vector<int> seen(64, 0);
    for (int s = d * 10; s < (d + 1) * 10; ++s) n += seen[x.phy2log[l][s]]++ > 0;
  }
  return n;
}

double mean_spread(const place::placement& x) {
  double sum = 0;
  for (const auto& d : x.device_load) sum += place::max_over_mean(d);
  return sum / static_cast<double>(x.device_load.size());
}

}  // namespace

TEST_CASE("rebalance_moves hand-solved: one swap, gain per copy against min_gain") {
  // 2 devices x 2 slots, loads 10 8 1 1: device 0 holds {0,1} = 18, device 1 {2,3} = 2, mean 10.
  // Best swap: slot 0 (expert 0) with slot 2 (expert 2): loads 9 and 11, max 18 -> 11, gain
  // 7 / 10 = 0.7 for 2 copies, 0.35 a copy (slot 1 with slot 2 gains as much; the first wins).
  // Then no move lowers 11 (expert 0 back is worse, 0 for 1 ties at 11): stop.
  place::problem p;
  p.loads = {{10, 8, 1, 1}};
  p.physical_experts = 4;
  p.devices = 2;
  const place::placement before = of_rows({{0, 1, 2, 3}});
  const place::placement x = place::rebalance_moves(p, before, 0.3);
  CHECK(x.phy2log == std::vector<std::vector<int>>{{2, 1, 0, 3}});
  CHECK(x.device_load[0] == std::vector<double>{9, 11});
  CHECK(place::rebalance_moves(p, before, 0).phy2log == x.phy2log);
  // 0.35 a copy does not pay 0.4: nothing moves.
  CHECK(place::rebalance_moves(p, before, 0.4).phy2log == before.phy2log);
}

TEST_CASE("rebalance_moves hand-solved: a spare copy turned into a hot expert's") {
  // 2 devices x 2 slots, loads 12 2 2, expert 2 twice: device 0 {0,1} = 14, device 1 {2,2} = 2,
  // mean 8. Slot 2 taking expert 0: expert 0's two copies carry 6 each, expert 2's one 2:
  // device 0 = 6 + 2 = 8, device 1 = 6 + 2 = 8; gain 6 / 8 = 0.75 for one copy. (The best
  // swap, 0 with 2, gains 1 for 2 copies; expert 1 into slot 2 gains 1.)
  place::problem p;
  p.loads = {{12, 2, 2}};
  p.physical_experts = 4;
  p.devices = 2;
  const place::placement before = of_rows({{0, 1, 2, 2}});
  const place::placement x = place::rebalance_moves(p, before, 0);
  CHECK(x.phy2log == std::vector<std::vector<int>>{{0, 1, 0, 2}});
  CHECK(x.logcnt[0] == std::vector<int>{2, 1, 1});
  CHECK(x.device_load[0] == std::vector<double>{8, 8});
  CHECK(place::rebalance_moves(p, before, 0.75).phy2log == x.phy2log);
  CHECK(place::rebalance_moves(p, before, 0.76).phy2log == before.phy2log);
  CHECK_THROWS_AS(place::rebalance_moves(p, before, -0.1), std::invalid_argument);
}

TEST_CASE("rebalance_moves on skewed loads: a lower min_gain moves more and balances better") {
  // 4 layers of Zipf-like loads that moved since the placement: the EPLB placement of the
  // loads rotated by 5 experts.
  place::problem p;
  place::problem old;
  for (int l = 0; l < 4; ++l) {
    std::vector<double> now(64);
    std::vector<double> then(64);
    for (int e = 0; e < 64; ++e) {
      now[e] = 1000.0 / (1 + (e * 7 + l * 3) % 64);
      then[e] = 1000.0 / (1 + ((e + 5) * 7 + l * 3) % 64);
    }
    p.loads.push_back(now);
    old.loads.push_back(then);
  }
  for (auto* q : {&p, &old}) {
    q->physical_experts = 80;
    q->groups = 4;
    q->nodes = 2;
    q->devices = 8;
  }
  const place::placement start = place::place(place::strategy::eplb, old);
  const place::placement at_start = place::rebalance_moves(p, start, 1);  // nothing pays 1
  CHECK(at_start.phy2log == start.phy2log);
  double spread = mean_spread(at_start);
  int moved = 0;
  for (const double g : {0.05, 0.02, 0.01, 0.005, 0.0}) {
    const place::placement x = place::rebalance_moves(p, start, g);
    CHECK(mean_spread(x) <= spread);
    CHECK(changed(start, x) >= moved);
    spread = mean_spread(x);
    moved = changed(start, x);
    for (std::size_t l = 0; l < x.logcnt.size(); ++l) {
      int slots = 0;
      for (const int c : x.logcnt[l]) {
        CHECK(c >= 1);
        slots += c;
      }
      CHECK(slots == 80);
      // Moves never give a device a second copy of an expert.
      CHECK(doubled(x, l) <= doubled(start, l));
    }
  }
  CHECK(moved > 0);
  CHECK(spread < mean_spread(at_start) - 0.05);
}
