// Faults at rates (sim/run/fault_rates.hpp): counts over a long horizon match N * T / MTBF within
// statistical bounds, targets are uniform, the same seed gives the same faults and an item's
// faults do not move when another item is added.
#include "sim/run/fault_rates.hpp"

#include <catch2/catch.hpp>
#include <cmath>

using namespace moesim::sim::run;

namespace {

fault_event rate(fault_kind kind, double mtbf_h) {
  fault_event f;
  f.kind = kind;
  f.mtbf_h = mtbf_h;
  return f;
}

fault_targets devices(std::int32_t n) {
  fault_targets t;
  t.devices = n;
  return t;
}

}  // namespace

TEST_CASE(
    "device_loss rates: N * T / MTBF faults within 4 sigma, targets uniform, times in order") {
  // 1000 devices, 1000 h each, over 10000 h: 10000 expected (Poisson, sigma 100).
  const fault_event items[] = {rate(fault_kind::device_loss, 1000)};
  const double horizon_s = 10000 * 3600.0;
  const auto faults = expand_faults(items, devices(1000), 7, horizon_s);
  CHECK(expected_faults(items[0], devices(1000), horizon_s) == Approx(10000));
  CHECK(std::abs(static_cast<double>(faults.size()) - 10000) < 4 * 100);
  std::vector<int> per_device(1000, 0);
  double last = 0;
  for (const auto& f : faults) {
    REQUIRE(f.event.device);
    REQUIRE(f.event.kind == fault_kind::device_loss);
    REQUIRE_FALSE(f.event.mtbf_h);
    REQUIRE(f.from_rate);
    REQUIRE(f.event.at_s >= last);
    REQUIRE(f.event.at_s < horizon_s);
    last = f.event.at_s;
    ++per_device[static_cast<std::size_t>(*f.event.device)];
  }
  // Halves of the devices: 5000 each expected, binomial sigma ~71.
  int low = 0;
  for (int d = 0; d < 500; ++d) low += per_device[static_cast<std::size_t>(d)];
  CHECK(std::abs(low - static_cast<double>(faults.size()) / 2) < 4 * 71);
}

TEST_CASE("a fault rate over seeds: the mean count is N * T / MTBF") {
  // 8 devices at 100 h over 50 h: 4 expected per seed; 200 seeds: mean within 4 sigma (0.57).
  const fault_event items[] = {rate(fault_kind::straggler, 100)};
  double total = 0;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    total += static_cast<double>(expand_faults(items, devices(8), seed, 50 * 3600.0).size());
  }
  CHECK(std::abs(total / 200 - 4) < 4 * std::sqrt(4.0 / 200));
}

TEST_CASE("the same seed gives the same faults, another seed others, items stay apart") {
  fault_event named = rate(fault_kind::device_loss, 50);
  named.device = 3;
  const fault_event one[] = {rate(fault_kind::device_loss, 100)};
  const fault_event two[] = {rate(fault_kind::device_loss, 100), named};
  const double horizon_s = 1000 * 3600.0;
  const auto a = expand_faults(one, devices(16), 11, horizon_s);
  const auto b = expand_faults(one, devices(16), 11, horizon_s);
  const auto c = expand_faults(one, devices(16), 12, horizon_s);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].event.at_s == b[i].event.at_s);
    CHECK(*a[i].event.device == *b[i].event.device);
  }
  CHECK((a.size() != c.size() || a.front().event.at_s != c.front().event.at_s));
  // Adding item 1 leaves item 0's faults as they were; item 1's all hit device 3.
  const auto both = expand_faults(two, devices(16), 11, horizon_s);
  std::vector<timed_fault> first;
  std::size_t on_three = 0;
  for (const auto& f : both) {
    if (f.item == 0) first.push_back(f);
    if (f.item == 1) {
      CHECK(*f.event.device == 3);
      ++on_three;
    }
  }
  REQUIRE(first.size() == a.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(first[i].event.at_s == a[i].event.at_s);
  CHECK(on_three > 0);
}

TEST_CASE("link rates fall on the cables, faults at a time pass through in order") {
  fault_targets t = devices(2);
  t.cables = {{"dev0", "sw0"}, {"dev1", "sw0"}};
  fault_event link = rate(fault_kind::link_degraded, 10);
  link.bandwidth_factor = 0.5;
  fault_event at;
  at.kind = fault_kind::straggler;
  at.device = 1;
  at.at_s = 3600;
  fault_event late = at;
  late.at_s = 1e9;  // beyond the horizon: dropped
  const fault_event items[] = {link, at, late};
  const auto faults = expand_faults(items, t, 5, 100 * 3600.0);
  CHECK(target_count(link, t) == 2);
  std::size_t fixed = 0;
  for (const auto& f : faults) {
    if (f.item == 1) {
      ++fixed;
      CHECK_FALSE(f.from_rate);
      CHECK(f.event.at_s == 3600);
      continue;
    }
    REQUIRE(f.item == 0);
    REQUIRE(f.event.link);
    CHECK(f.event.link->to == "sw0");
    CHECK(f.event.bandwidth_factor.value_or(0) == 0.5);
  }
  CHECK(fixed == 1);
  CHECK(faults.size() > 10);  // 20 expected
}
