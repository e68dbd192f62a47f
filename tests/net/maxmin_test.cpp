// Max-min solver: hand-solved cases (equations in the comments), then properties of random
// instances (optimality conditions, incremental == from scratch, component isolation).
#include "sim/net/maxmin.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <vector>

#include "sim/engine/random.hpp"

namespace net = moesim::sim::net;
using net::flow_id;
using net::link_id;

namespace {

constexpr double tol = 1e-9;

// What a test knows about a flow, to check the solver without asking it.
struct flow_spec {
  std::vector<link_id> path;
  double weight = 1.0;
  double cap = net::maxmin_solver::unlimited;
};

bool close(double a, double b, double rel = 1e-12) {
  return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b));
}

// Max-min optimality of the solver's rates for `flows` (checked from the specs, not from the
// solver's own bookkeeping):
//  - 0 <= rate <= cap, and no link carries more than its capacity;
//  - every flow is at its cap or crosses a saturated link on which its rate/weight is the
//    largest (otherwise it could grow without taking from a flow with a smaller share).
void check_maxmin(const net::maxmin_solver& s, const std::vector<double>& capacity,
                  const std::map<flow_id, flow_spec>& flows) {
  std::vector<double> load(capacity.size(), 0.0);
  std::vector<double> max_share(capacity.size(), 0.0);
  for (const auto& [id, spec] : flows) {
    const double r = s.rate_bytes_per_s(id);
    REQUIRE(r >= 0.0);
    REQUIRE(r <= spec.cap);
    for (link_id l : spec.path) {
      load[static_cast<std::size_t>(l)] += r;
      max_share[static_cast<std::size_t>(l)] =
          std::max(max_share[static_cast<std::size_t>(l)], r / s.weight(id));
    }
  }
  for (std::size_t l = 0; l < capacity.size(); ++l) {
    INFO("link " << l << " load " << load[l] << " capacity " << capacity[l]);
    REQUIRE(load[l] <= capacity[l] * (1 + tol));
    // The solver's exact load agrees with the sum of the rates.
    REQUIRE(std::abs(s.load_bytes_per_s(link_id{static_cast<std::uint32_t>(l)}) - load[l]) <=
            tol * capacity[l]);
  }
  for (const auto& [id, spec] : flows) {
    const double r = s.rate_bytes_per_s(id);
    bool justified = r >= spec.cap * (1 - tol);
    for (link_id l : spec.path) {
      const auto i = static_cast<std::size_t>(l);
      const bool saturated = load[i] >= capacity[i] * (1 - tol);
      if (saturated && r / s.weight(id) >= max_share[i] * (1 - tol)) justified = true;
    }
    INFO("flow " << static_cast<std::uint32_t>(id) << " rate " << r);
    REQUIRE(justified);
  }
}

// A fresh solver with the same links (same order) and the live flows added in reverse id order:
// a different history for the same state.
std::map<flow_id, double> solve_from_scratch(const std::vector<double>& capacity,
                                             const std::map<flow_id, flow_spec>& flows) {
  net::maxmin_solver fresh;
  for (double c : capacity) fresh.add_link(c);
  std::vector<std::pair<flow_id, flow_id>> ids;  // (original, fresh)
  for (auto it = flows.rbegin(); it != flows.rend(); ++it) {
    ids.emplace_back(it->first, fresh.add_flow(it->second.path, it->second.weight, it->second.cap));
  }
  fresh.solve();
  std::map<flow_id, double> rates;
  for (auto [orig, mine] : ids) rates[orig] = fresh.rate_bytes_per_s(mine);
  return rates;
}

}  // namespace

TEST_CASE("maxmin: one link shared by n flows gives C/n each", "[net][maxmin]") {
  // Progressive filling: all n flows grow together until n*r = C, so r = C/n.
  const double c = 100e9;
  for (int n : {1, 2, 3, 7, 64}) {
    net::maxmin_solver s;
    const link_id l = s.add_link(c);
    std::vector<flow_id> f;
    for (int i = 0; i < n; ++i) f.push_back(s.add_flow(std::vector{l}));
    s.solve();
    for (flow_id id : f) {
      CHECK(close(s.rate_bytes_per_s(id), c / n));
      CHECK(s.bottleneck(id) == l);
    }
    CHECK(s.saturated(l));
    CHECK(close(s.load_bytes_per_s(l), c));
  }
}

TEST_CASE("maxmin: parking lot with two links of different capacity", "[net][maxmin]") {
  // A crosses links 1 and 2, B only link 1, C only link 2; C1 = 10 GB/s, C2 = 4 GB/s.
  // Fair shares at the start: link 1: C1/2 = 5, link 2: C2/2 = 2, so link 2 fills first:
  //   A = C = C2/2 = 2.
  // Link 1 then has C1 - A = 8 left for B alone: B = 8.
  net::maxmin_solver s;
  const link_id l1 = s.add_link(10e9);
  const link_id l2 = s.add_link(4e9);
  const flow_id a = s.add_flow(std::vector{l1, l2});
  const flow_id b = s.add_flow(std::vector{l1});
  const flow_id c = s.add_flow(std::vector{l2});
  s.solve();
  CHECK(close(s.rate_bytes_per_s(a), 2e9));
  CHECK(close(s.rate_bytes_per_s(c), 2e9));
  CHECK(close(s.rate_bytes_per_s(b), 8e9));
  CHECK(s.bottleneck(a) == l2);
  CHECK(s.bottleneck(b) == l1);
  CHECK(s.saturated(l1));
  CHECK(s.saturated(l2));

  // Link 2 grows to 30: shares are now link 1: 10/2 = 5, link 2: 30/2 = 15, so link 1 fills
  // first: A = B = 5; then C = 30 - A = 25.
  s.set_capacity(l2, 30e9);
  s.solve();
  CHECK(close(s.rate_bytes_per_s(a), 5e9));
  CHECK(close(s.rate_bytes_per_s(b), 5e9));
  CHECK(close(s.rate_bytes_per_s(c), 25e9));
  CHECK(s.changed_flows().size() == 3);

  // Equal shares (both links 2, two flows each): the lower link index fills first and is
  // reported as A's bottleneck; all rates are 1 either way.
  net::maxmin_solver t;
  const link_id m1 = t.add_link(2);
  const link_id m2 = t.add_link(2);
  const flow_id ta = t.add_flow(std::vector{m2, m1});
  const flow_id tb = t.add_flow(std::vector{m1});
  const flow_id tc = t.add_flow(std::vector{m2});
  t.solve();
  CHECK(t.bottleneck(ta) == m1);
  CHECK(t.bottleneck(tc) == m2);
  for (flow_id id : {ta, tb, tc}) CHECK(t.rate_bytes_per_s(id) == 1.0);
}

TEST_CASE("maxmin: three levels, each bottleneck frees capacity for the next", "[net][maxmin]") {
  // L1 (6): f1 f2 f3      L2 (10): f3 f4      L3 (20): f4 f5
  // Initial shares: L1 6/3 = 2, L2 10/2 = 5, L3 20/2 = 10.
  // Level 1: L1 fills at 2: f1 = f2 = f3 = 2.
  // Level 2: L2 has 10 - f3 = 8 for f4 alone (share 8 < L3's 10): f4 = 8 (not the naive 5).
  // Level 3: L3 has 20 - f4 = 12 for f5 alone: f5 = 12 (not the naive 10).
  net::maxmin_solver s;
  const link_id l1 = s.add_link(6);
  const link_id l2 = s.add_link(10);
  const link_id l3 = s.add_link(20);
  const flow_id f1 = s.add_flow(std::vector{l1});
  const flow_id f2 = s.add_flow(std::vector{l1});
  const flow_id f3 = s.add_flow(std::vector{l1, l2});
  const flow_id f4 = s.add_flow(std::vector{l2, l3});
  const flow_id f5 = s.add_flow(std::vector{l3});
  s.solve();
  CHECK(close(s.rate_bytes_per_s(f1), 2));
  CHECK(close(s.rate_bytes_per_s(f2), 2));
  CHECK(close(s.rate_bytes_per_s(f3), 2));
  CHECK(close(s.rate_bytes_per_s(f4), 8));
  CHECK(close(s.rate_bytes_per_s(f5), 12));
  CHECK(s.bottleneck(f3) == l1);
  CHECK(s.bottleneck(f4) == l2);
  CHECK(s.bottleneck(f5) == l3);

  // Removing f1: L1 share (6)/2 = 3 for f2, f3; L2 share 5; L1 fills at 3: f2 = f3 = 3;
  // L2: 10 - 3 = 7 for f4; L3: 20 - 7 = 13 for f5. Every remaining rate changes.
  s.remove_flow(f1);
  s.solve();
  CHECK(close(s.rate_bytes_per_s(f2), 3));
  CHECK(close(s.rate_bytes_per_s(f3), 3));
  CHECK(close(s.rate_bytes_per_s(f4), 7));
  CHECK(close(s.rate_bytes_per_s(f5), 13));
  CHECK(s.changed_flows().size() == 4);
}

TEST_CASE("maxmin: weights scale the shares", "[net][maxmin]") {
  // One link of 12 with weights 1, 2, 3: rates w*x with (1+2+3) x = 12, x = 2: 2, 4, 6.
  net::maxmin_solver s;
  const link_id l = s.add_link(12);
  const flow_id a = s.add_flow(std::vector{l}, 1.0);
  const flow_id b = s.add_flow(std::vector{l}, 2.0);
  const flow_id c = s.add_flow(std::vector{l}, 3.0);
  s.solve();
  CHECK(close(s.rate_bytes_per_s(a), 2));
  CHECK(close(s.rate_bytes_per_s(b), 4));
  CHECK(close(s.rate_bytes_per_s(c), 6));

  // Weighted parking lot: A (weight 3) over L1 (8) and L2 (10), B (weight 1) on L1,
  // C (weight 1) on L2. Shares per unit weight: L1 8/4 = 2, L2 10/4 = 2.5. L1 fills at 2:
  // A = 3*2 = 6, B = 2; L2 then has 10 - 6 = 4 for C.
  net::maxmin_solver t;
  const link_id m1 = t.add_link(8);
  const link_id m2 = t.add_link(10);
  const flow_id fa = t.add_flow(std::vector{m1, m2}, 3.0);
  const flow_id fb = t.add_flow(std::vector{m1});
  const flow_id fc = t.add_flow(std::vector{m2});
  t.solve();
  CHECK(close(t.rate_bytes_per_s(fa), 6));
  CHECK(close(t.rate_bytes_per_s(fb), 2));
  CHECK(close(t.rate_bytes_per_s(fc), 4));
  // Weights are rounded to multiples of 2^-24; 0.1 is not one.
  const flow_id fd = t.add_flow(std::vector{m1}, 0.1);
  CHECK(t.weight(fd) == std::round(0.1 * 0x1p24) / 0x1p24);
}

TEST_CASE("maxmin: rate caps are private constraints", "[net][maxmin]") {
  // One link of 10, three flows, one capped at 1: the cap fills first (1 < 10/3), then the
  // other two share 10 - 1 = 9: 4.5 each.
  net::maxmin_solver s;
  const link_id l = s.add_link(10);
  const flow_id capped = s.add_flow(std::vector{l}, 1.0, 1.0);
  const flow_id a = s.add_flow(std::vector{l});
  const flow_id b = s.add_flow(std::vector{l});
  s.solve();
  CHECK(s.rate_bytes_per_s(capped) == 1.0);
  CHECK(close(s.rate_bytes_per_s(a), 4.5));
  CHECK(close(s.rate_bytes_per_s(b), 4.5));
  CHECK_FALSE(s.bottleneck(capped).has_value());
  CHECK(s.bottleneck(a) == l);

  // A cap above the fair share does not bind: caps 5 and 100 with share 10/3 < 5.
  net::maxmin_solver t;
  const link_id m = t.add_link(10);
  const flow_id c1 = t.add_flow(std::vector{m}, 1.0, 5.0);
  const flow_id c2 = t.add_flow(std::vector{m}, 1.0, 100.0);
  const flow_id c3 = t.add_flow(std::vector{m});
  t.solve();
  for (flow_id id : {c1, c2, c3}) CHECK(close(t.rate_bytes_per_s(id), 10.0 / 3));

  // A flow with no links but a cap (e.g. a local copy limited by a DMA engine) gets its cap.
  const flow_id local = t.add_flow({}, 1.0, 7.0);
  t.solve();
  CHECK(t.rate_bytes_per_s(local) == 7.0);
  CHECK(t.changed_flows().size() == 1);  // its own component: nothing else re-solved
  CHECK(t.last_solve().flows == 1);
}

TEST_CASE("maxmin: a link of capacity 0 stops its flows and only them", "[net][maxmin]") {
  // A crosses the failed link 0 and link 1 (10); B uses link 1 only: A = 0, B = 10.
  net::maxmin_solver s;
  const link_id dead = s.add_link(0);
  const link_id l = s.add_link(10);
  const flow_id a = s.add_flow(std::vector{dead, l});
  const flow_id b = s.add_flow(std::vector{l});
  s.solve();
  CHECK(s.rate_bytes_per_s(a) == 0.0);
  CHECK(close(s.rate_bytes_per_s(b), 10));
  CHECK(s.bottleneck(a) == dead);
}

TEST_CASE("maxmin: flow ids are reused and pending changes are tracked", "[net][maxmin]") {
  net::maxmin_solver s;
  const link_id l = s.add_link(1);
  CHECK_FALSE(s.pending());
  const flow_id a = s.add_flow(std::vector{l});
  const flow_id b = s.add_flow(std::vector{l});
  CHECK(s.pending());
  CHECK(s.rate_bytes_per_s(a) == 0.0);  // not solved yet
  s.solve();
  CHECK_FALSE(s.pending());
  CHECK(s.flow_count() == 2);
  s.remove_flow(a);
  CHECK_FALSE(s.contains(a));
  const flow_id c = s.add_flow(std::vector{l});
  CHECK(c == a);
  s.solve();
  CHECK(close(s.rate_bytes_per_s(b), 0.5));
  CHECK(close(s.rate_bytes_per_s(c), 0.5));
  // Only the new flow is reported: b's rate is bit-identical.
  REQUIRE(s.changed_flows().size() == 1);
  CHECK(s.changed_flows()[0] == c);
  s.solve();  // nothing pending: nothing re-solved
  CHECK(s.last_solve().flows == 0);
  CHECK(s.changed_flows().empty());
}

TEST_CASE("maxmin: bad input throws std::invalid_argument", "[net][maxmin]") {
  net::maxmin_solver s;
  const link_id l = s.add_link(1e9);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(s.add_link(-1), std::invalid_argument);
  CHECK_THROWS_AS(s.add_link(nan), std::invalid_argument);
  CHECK_THROWS_AS(s.add_link(net::maxmin_solver::unlimited), std::invalid_argument);
  CHECK_THROWS_AS(s.set_capacity(link_id{7}, 1), std::invalid_argument);
  CHECK_THROWS_AS(s.add_flow(std::vector{link_id{1}}), std::invalid_argument);
  CHECK_THROWS_AS(s.add_flow(std::vector{l}, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(s.add_flow(std::vector{l}, nan), std::invalid_argument);
  CHECK_THROWS_AS(s.add_flow(std::vector{l}, 1.0, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(s.add_flow(std::vector{l}, 1.0, -5.0), std::invalid_argument);
  CHECK_THROWS_AS(s.add_flow({}), std::invalid_argument);
  CHECK(s.flow_count() == 0);  // failed calls leave no trace
  const flow_id f = s.add_flow(std::vector{l});
  s.remove_flow(f);
  CHECK_THROWS_AS(s.remove_flow(f), std::invalid_argument);
  CHECK_THROWS_AS(s.rate_bytes_per_s(f), std::invalid_argument);
  CHECK_THROWS_AS(s.rate_bytes_per_s(flow_id{99}), std::invalid_argument);
}

TEST_CASE("maxmin: a change in one component leaves the other bit-identical", "[net][maxmin]") {
  // Component A: links 0-1, component B: links 2-3, no flow crosses between them.
  net::maxmin_solver s;
  std::vector<link_id> l;
  for (double c : {10.0, 7.0, 3.0, 11.0}) l.push_back(s.add_link(c));
  std::vector<flow_id> a = {s.add_flow(std::vector{l[0], l[1]}), s.add_flow(std::vector{l[0]}),
                            s.add_flow(std::vector{l[1]}, 2.0)};
  std::vector<flow_id> b = {s.add_flow(std::vector{l[2], l[3]}), s.add_flow(std::vector{l[3]}),
                            s.add_flow(std::vector{l[2]}, 1.0, 0.5)};
  s.solve();
  CHECK(s.last_solve().components == 2);
  std::vector<double> before;
  for (flow_id f : b) before.push_back(s.rate_bytes_per_s(f));

  s.remove_flow(a[1]);
  a.push_back(s.add_flow(std::vector{l[1]}, 0.5));
  s.set_capacity(l[0], 4.0);
  s.solve();
  CHECK(s.last_solve().components == 1);
  CHECK(s.last_solve().flows == 3);  // a[0], a[2], the new one: none of B
  for (std::size_t i = 0; i < b.size(); ++i) CHECK(s.rate_bytes_per_s(b[i]) == before[i]);
  for (flow_id f : s.changed_flows()) {
    CHECK(std::find(b.begin(), b.end(), f) == b.end());
  }
}

TEST_CASE("maxmin: a flow joining two components merges them", "[net][maxmin]") {
  // L0 (4): x, bridge   L1 (6): y, bridge. Alone x = 4, y = 6; with the bridge:
  // L0 share 2, L1 share 3: L0 fills at 2 (x = bridge = 2), then y = 6 - 2 = 4.
  net::maxmin_solver s;
  const link_id l0 = s.add_link(4);
  const link_id l1 = s.add_link(6);
  const flow_id x = s.add_flow(std::vector{l0});
  const flow_id y = s.add_flow(std::vector{l1});
  s.solve();
  CHECK(s.last_solve().components == 2);
  const flow_id bridge = s.add_flow(std::vector{l0, l1});
  s.solve();
  CHECK(s.last_solve().components == 1);
  CHECK(close(s.rate_bytes_per_s(x), 2));
  CHECK(close(s.rate_bytes_per_s(bridge), 2));
  CHECK(close(s.rate_bytes_per_s(y), 4));
  s.remove_flow(bridge);
  s.solve();
  CHECK(close(s.rate_bytes_per_s(x), 4));
  CHECK(close(s.rate_bytes_per_s(y), 6));
}

TEST_CASE("maxmin: components split again once enough flows were removed", "[net][maxmin]") {
  // A (link 0) and B (link 1) joined by a bridge flow: one component. After the bridge goes,
  // the solver may keep them together (a stale superset: correct, just larger re-solves) until
  // removals outnumber live flows and the components are rebuilt.
  net::maxmin_solver s;
  const link_id la = s.add_link(5);
  const link_id lb = s.add_link(3);
  const flow_id a = s.add_flow(std::vector{la});
  const flow_id b = s.add_flow(std::vector{lb});
  const flow_id bridge = s.add_flow(std::vector{la, lb});
  s.solve();
  s.remove_flow(bridge);
  s.solve();
  CHECK(close(s.rate_bytes_per_s(a), 5));
  CHECK(close(s.rate_bytes_per_s(b), 3));
  s.set_capacity(lb, 4);
  s.solve();
  CHECK(s.last_solve().flows == 2);  // stale: a is re-solved too (to the same rate)
  CHECK(s.changed_flows().size() == 1);
  for (int i = 0; i < 1100; ++i) s.remove_flow(s.add_flow(std::vector{la}));
  s.solve();  // rebuilds the components
  s.set_capacity(lb, 4.5);
  s.solve();
  CHECK(s.last_solve().flows == 1);  // only b
  CHECK(close(s.rate_bytes_per_s(b), 4.5));
  CHECK(s.rate_bytes_per_s(a) == 5);
}

namespace {

// Random small instance, then random batches of changes, each followed by one solve.
void random_history(std::uint64_t seed, int steps, bool with_caps, bool bit_identical,
                    std::size_t max_flows = 1000, std::uint64_t max_path = 3) {
  auto rng = moesim::rng::stream(seed, "maxmin-property");
  net::maxmin_solver s;
  const int links = 1 + static_cast<int>(rng.below(max_path > 3 ? 16 : 8));
  std::vector<double> capacity;
  for (int i = 0; i < links; ++i) {
    // Round values make exact ties between links likely; the rest are arbitrary.
    capacity.push_back(rng.below(2) == 0 ? static_cast<double>(1 + rng.below(4)) * 1e9
                                         : rng.uniform(0.1e9, 5e9));
    s.add_link(capacity.back());
  }
  std::map<flow_id, flow_spec> flows;
  for (int step = 0; step < steps; ++step) {
    const int changes = 1 + static_cast<int>(rng.below(4));
    for (int k = 0; k < changes; ++k) {
      const auto op = rng.below(10);
      if ((op < 5 || flows.empty()) && flows.size() < max_flows) {
        flow_spec spec;
        const auto len = 1 + rng.below(max_path);
        for (std::uint64_t h = 0; h < len; ++h) {
          spec.path.push_back(link_id{static_cast<std::uint32_t>(rng.below(links))});
        }
        if (rng.below(3) == 0) spec.weight = static_cast<double>(1 + rng.below(4)) / 2;
        if (with_caps && rng.below(4) == 0) spec.cap = rng.uniform(0.05e9, 2e9);
        flows[s.add_flow(spec.path, spec.weight, spec.cap)] = spec;
      } else if (op < 9) {
        auto it = flows.begin();
        std::advance(it, static_cast<long>(rng.below(flows.size())));
        s.remove_flow(it->first);
        flows.erase(it);
      } else {
        const auto l = rng.below(links);
        capacity[l] = rng.uniform(0.1e9, 5e9);
        s.set_capacity(link_id{static_cast<std::uint32_t>(l)}, capacity[l]);
      }
    }
    std::map<flow_id, double> before;
    for (const auto& [id, spec] : flows) before[id] = s.rate_bytes_per_s(id);
    s.solve();
    check_maxmin(s, capacity, flows);

    const auto fresh = solve_from_scratch(capacity, flows);
    for (const auto& [id, rate] : fresh) {
      INFO("seed " << seed << " step " << step << " flow " << static_cast<std::uint32_t>(id));
      if (bit_identical) {
        REQUIRE(s.rate_bytes_per_s(id) == rate);
      } else {
        REQUIRE(close(s.rate_bytes_per_s(id), rate, 1e-12));
      }
    }
    // changed_flows(): ascending, and it lists a flow iff its rate differs from before the solve
    // (new flows, which read 0 before, count as changed).
    const auto changed = s.changed_flows();
    REQUIRE(std::is_sorted(changed.begin(), changed.end()));
    REQUIRE(s.last_solve().changed == changed.size());
    for (const auto& [id, spec] : flows) {
      const bool listed = std::binary_search(changed.begin(), changed.end(), id);
      const bool is_new = before.at(id) == 0.0 && s.rate_bytes_per_s(id) != 0.0;
      if (s.rate_bytes_per_s(id) != before.at(id) || is_new) REQUIRE(listed);
      if (!listed) REQUIRE(s.rate_bytes_per_s(id) == before.at(id));
    }
  }
}

}  // namespace

TEST_CASE("maxmin: incremental solves equal solving from scratch and are max-min optimal",
          "[net][maxmin]") {
  // Without caps the constraints have the same indices in both solvers: bit-identical. A cap's
  // private constraint is numbered by history, so an exact tie with a link may move a few ulps.
  for (std::uint64_t seed = 1; seed <= 150; ++seed) random_history(seed, 25, false, true);
  for (std::uint64_t seed = 1001; seed <= 1150; ++seed) random_history(seed, 25, true, false);
}

TEST_CASE("maxmin: paths longer than the inline hops of a flow record", "[net][maxmin]") {
  // 12 links of 10; L crosses all of them, s_k crosses link k only, x and y cross link 11 too.
  // Link 11 has 4 flows (share 2.5), the others 2 (share 5): link 11 fills first,
  // L = s_11 = x = y = 2.5; then every other link k has 10 - 2.5 = 7.5 left for s_k.
  net::maxmin_solver s;
  std::vector<link_id> chain;
  for (int k = 0; k < 12; ++k) chain.push_back(s.add_link(10));
  const flow_id long_flow = s.add_flow(chain);
  std::vector<flow_id> single;
  for (int k = 0; k < 12; ++k) single.push_back(s.add_flow(std::vector{chain[k]}));
  const flow_id x = s.add_flow(std::vector{chain[11]});
  const flow_id y = s.add_flow(std::vector{chain[11]});
  s.solve();
  CHECK(close(s.rate_bytes_per_s(long_flow), 2.5));
  CHECK(close(s.rate_bytes_per_s(x), 2.5));
  CHECK(close(s.rate_bytes_per_s(y), 2.5));
  CHECK(close(s.rate_bytes_per_s(single[11]), 2.5));
  for (int k = 0; k < 11; ++k) CHECK(close(s.rate_bytes_per_s(single[k]), 7.5));
  // A cap of 1 on a second long flow: L' = 1 everywhere; link 11 then shares 10 - 1 = 9 among
  // 4 flows (2.25); the others have 10 - 1 - 2.25 = 6.75 for s_k.
  const flow_id capped = s.add_flow(chain, 1.0, 1.0);
  s.solve();
  CHECK(s.rate_bytes_per_s(capped) == 1.0);
  CHECK(close(s.rate_bytes_per_s(long_flow), 2.25));
  for (int k = 0; k < 11; ++k) CHECK(close(s.rate_bytes_per_s(single[k]), 6.75));
  for (std::uint64_t seed = 501; seed <= 530; ++seed) random_history(seed, 20, true, false, 40, 12);
}

TEST_CASE("maxmin: long histories exercise component rebuilds and path compaction",
          "[net][maxmin]") {
  // > 1024 removals trigger a rebuild of the components; > 4096 dead hops a path compaction.
  random_history(77, 2000, true, false, 30);
  random_history(78, 2000, false, true, 30);
}

TEST_CASE("maxmin: removing a batch and solving once equals solving from scratch",
          "[net][maxmin]") {
  // A little two-level fabric: 8 host up-links, 8 host down-links (1 GB/s), 2 spine links
  // (3 GB/s) each way; all-to-all flows host i -> host j over up_i, spine_(i+j)%2, down_j.
  net::maxmin_solver s;
  std::vector<double> capacity;
  auto link = [&](double c) {
    capacity.push_back(c);
    return s.add_link(c);
  };
  std::vector<link_id> up, down, spine;
  for (int i = 0; i < 8; ++i) up.push_back(link(1e9));
  for (int i = 0; i < 8; ++i) down.push_back(link(1e9));
  for (int i = 0; i < 2; ++i) spine.push_back(link(3e9));
  std::map<flow_id, flow_spec> flows;
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 8; ++j) {
      if (i == j) continue;
      flow_spec spec{{up[i], spine[(i + j) % 2], down[j]}};
      flows[s.add_flow(spec.path)] = spec;
    }
  }
  s.solve();
  check_maxmin(s, capacity, flows);
  CHECK(s.last_solve().flows == 56);

  // Everything from host 0 and to host 5 finishes at once: one solve for the batch.
  for (auto it = flows.begin(); it != flows.end();) {
    if (it->second.path[0] == up[0] || it->second.path[2] == down[5]) {
      s.remove_flow(it->first);
      it = flows.erase(it);
    } else {
      ++it;
    }
  }
  s.solve();
  CHECK(s.last_solve().flows == flows.size());
  check_maxmin(s, capacity, flows);
  const auto fresh = solve_from_scratch(capacity, flows);
  for (const auto& [id, rate] : fresh) CHECK(s.rate_bytes_per_s(id) == rate);
}
