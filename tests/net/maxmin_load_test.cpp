// link_load: per-link byte totals and the bottleneck time of the analytical model, and its
// relation to the max-min flow model.
#include "sim/net/maxmin_load.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "sim/engine/random.hpp"
#include "sim/net/maxmin.hpp"

namespace net = moesim::sim::net;
using net::flow_id;
using net::link_id;

TEST_CASE("link_load: bottleneck time is the busiest link's bytes over capacity", "[net][maxmin]") {
  // Links 0 (10 B/s) and 1 (5 B/s). Transfers: 20 B over {0, 1}, 10 B over {0}.
  // Link 0: 30 B / 10 = 3 s; link 1: 20 B / 5 = 4 s. Bottleneck: link 1, 4 s.
  const std::vector<double> capacity = {10, 5};
  net::link_load load(capacity);
  CHECK(load.bottleneck_time_s() == 0.0);
  CHECK_FALSE(load.bottleneck_link().has_value());
  load.add(std::vector{link_id{0}, link_id{1}}, 20);
  load.add(std::vector{link_id{0}}, 10);
  CHECK(load.bytes(link_id{0}) == 30);
  CHECK(load.bytes(link_id{1}) == 20);
  CHECK(load.bottleneck_time_s() == 4.0);
  CHECK(load.bottleneck_link() == link_id{1});

  // Streaming in two halves and merging gives the same totals.
  net::link_load a(capacity);
  net::link_load b(capacity);
  a.add(std::vector{link_id{0}, link_id{1}}, 20);
  b.add(std::vector{link_id{0}}, 10);
  a.merge(b);
  CHECK(a.bytes(link_id{0}) == 30);
  CHECK(a.bottleneck_time_s() == 4.0);
  a.clear();
  CHECK(a.bottleneck_time_s() == 0.0);

  // Equal times: the lowest link id wins.
  net::link_load tie(capacity);
  tie.add(std::vector{link_id{0}}, 10);
  tie.add(std::vector{link_id{1}}, 5);
  CHECK(tie.bottleneck_link() == link_id{0});
}

TEST_CASE("link_load: capacity 0 and bad input", "[net][maxmin]") {
  const std::vector<double> capacity = {0, 1};
  net::link_load load(capacity);
  load.add(std::vector{link_id{1}}, 3);
  CHECK(load.bottleneck_time_s() == 3.0);  // the failed link carries nothing: no time
  load.add(std::vector{link_id{0}}, 1);
  CHECK(std::isinf(load.bottleneck_time_s()));
  CHECK(load.bottleneck_link() == link_id{0});

  CHECK_THROWS_AS(net::link_load(std::vector{-1.0}), std::invalid_argument);
  CHECK_THROWS_AS(net::link_load(std::vector{std::numeric_limits<double>::infinity()}),
                  std::invalid_argument);
  CHECK_THROWS_AS(load.add(std::vector{link_id{2}}, 1), std::invalid_argument);
  CHECK_THROWS_AS(load.add(std::vector{link_id{1}}, -1), std::invalid_argument);
  CHECK_THROWS_AS(load.merge(net::link_load(std::vector{1.0})), std::invalid_argument);
  CHECK_THROWS_AS(net::bottleneck_time_s(std::vector{1.0}, std::vector{1.0, 2.0}),
                  std::invalid_argument);
}

namespace {

// Fluid simulation with the max-min solver: solve, advance to the next completion, remove every
// flow finishing then (one batch), repeat. Returns the time the last flow finishes.
double fluid_makespan_s(const std::vector<double>& capacity,
                        const std::vector<std::vector<link_id>>& paths,
                        const std::vector<double>& bytes) {
  net::maxmin_solver s;
  for (double c : capacity) s.add_link(c);
  std::vector<flow_id> ids;
  for (const auto& p : paths) ids.push_back(s.add_flow(p));
  std::vector<double> left = bytes;
  std::vector<bool> alive(bytes.size(), true);
  double now = 0;
  for (std::size_t live = bytes.size(); live > 0;) {
    s.solve();
    double dt = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (alive[i]) dt = std::min(dt, left[i] / s.rate_bytes_per_s(ids[i]));
    }
    now += dt;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!alive[i]) continue;
      left[i] -= s.rate_bytes_per_s(ids[i]) * dt;
      if (left[i] <= 1e-9 * bytes[i]) {
        alive[i] = false;
        s.remove_flow(ids[i]);
        --live;
      }
    }
  }
  return now;
}

}  // namespace

TEST_CASE(
    "link_load: bottleneck time bounds the flow model and is reached when the busiest link "
    "stays busy",
    "[net][maxmin]") {
  // Parking lot: links 0 (10) and 1 (4); A over both (8 B), B on 0 (40 B), C on 1 (4 B).
  // Bottleneck time: link 0 carries 48 B / 10 = 4.8 s, link 1 12 B / 4 = 3 s -> 4.8 s.
  // Flow model: A = C = 2, B = 8 until C ends at 2 s (A has 4 B left, B 24 B); then link 1
  // gives A up to 4 but link 0 shares 10 fairly: A = 4, B = 6 until A ends at 3 s (B 18 B
  // left); then B = 10 ends at 4.8 s. Link 0 never idles, so the makespan is the bound.
  const std::vector<double> capacity = {10, 4};
  const std::vector<std::vector<link_id>> paths = {
      {link_id{0}, link_id{1}}, {link_id{0}}, {link_id{1}}};
  const std::vector<double> bytes = {8, 40, 4};
  net::link_load load(capacity);
  for (std::size_t i = 0; i < paths.size(); ++i) load.add(paths[i], bytes[i]);
  CHECK(load.bottleneck_time_s() == Approx(4.8).epsilon(1e-12));
  CHECK(fluid_makespan_s(capacity, paths, bytes) == Approx(4.8).epsilon(1e-9));

  // With B small instead (4 B): A = C = 2, B = 8 until B ends at 0.5 s (A 7 B, C 3 B left);
  // link 1 still shares A = C = 2 until C ends at 2 s (A 4 B left); then A = 4 alone on link 1
  // and ends at 3 s. Link 1 (12 B / 4 = 3 s) is the busiest and never idles: makespan = bound.
  const std::vector<double> bytes2 = {8, 4, 4};
  net::link_load load2(capacity);
  for (std::size_t i = 0; i < paths.size(); ++i) load2.add(paths[i], bytes2[i]);
  CHECK(load2.bottleneck_time_s() == Approx(3.0).epsilon(1e-12));
  CHECK(fluid_makespan_s(capacity, paths, bytes2) == Approx(3.0).epsilon(1e-9));

  // In general no schedule beats the bound: random instances.
  auto rng = moesim::rng::stream(5, "maxmin-load");
  for (int trial = 0; trial < 50; ++trial) {
    const auto links = 1 + rng.below(5);
    std::vector<double> cap;
    for (std::uint64_t l = 0; l < links; ++l) cap.push_back(rng.uniform(1, 10));
    std::vector<std::vector<link_id>> p;
    std::vector<double> b;
    net::link_load bound(cap);
    for (std::uint64_t f = 0, n = 1 + rng.below(8); f < n; ++f) {
      p.emplace_back();
      for (std::uint64_t h = 0, len = 1 + rng.below(3); h < len; ++h) {
        p.back().push_back(link_id{static_cast<std::uint32_t>(rng.below(links))});
      }
      b.push_back(rng.uniform(1, 100));
      bound.add(p.back(), b.back());
    }
    CHECK(fluid_makespan_s(cap, p, b) >= bound.bottleneck_time_s() * (1 - 1e-9));
  }
}
