// The progress line: its text, its sums over simulations and its throttle, on an injected
// clock (no wall time here).
#include "sim/io/progress.hpp"

#include <catch2/catch.hpp>

using moesim::io::format_duration;
using moesim::io::format_progress;
using moesim::io::progress_counts;
using moesim::io::progress_meter;

TEST_CASE("durations for people") {
  CHECK(format_duration(0) == "0 s");
  CHECK(format_duration(8.4) == "8 s");
  CHECK(format_duration(59.6) == "1 min 00 s");
  CHECK(format_duration(125) == "2 min 05 s");
  CHECK(format_duration(3720) == "1 h 02 min");
  CHECK(format_duration(-3) == "0 s");
}

TEST_CASE("the line: one simulation, several, before the first report") {
  CHECK(format_progress({1, 0, 4, 16, 0.25}, 3) ==
        "moesim: 25%, passes 4/16, 3 s elapsed, ETA 9 s");
  CHECK(format_progress({3, 1, 40, 68, 0.599}, 12) ==
        "moesim: 59%, simulations 1/3 done, passes 40/68, 12 s elapsed, ETA 8 s");
  CHECK(format_progress({1, 0, 0, 0, 0}, 2) == "moesim: 0%, setting up, 2 s elapsed");
  CHECK(format_progress({2, 2, 32, 32, 1}, 5) ==
        "moesim: 100%, simulations 2/2 done, passes 32/32, 5 s elapsed");
}

TEST_CASE("the meter sums the simulations: a finished one counts whole") {
  progress_meter m(3);
  CHECK(m.counts().fraction == 0);
  m.update(0, 5, 10);
  m.update(1, 1, 4);
  progress_counts c = m.counts();
  CHECK(c.done == 6);
  CHECK(c.total == 14);
  CHECK(c.finished == 0);
  CHECK(c.fraction == Approx((0.5 + 0.25) / 3));
  m.finish(2);  // e.g. failed before reporting: done all the same
  c = m.counts();
  CHECK(c.finished == 1);
  CHECK(c.fraction == Approx((0.5 + 0.25 + 1) / 3));
}

TEST_CASE("the meter stays silent before its delay and draws at most once per interval") {
  progress_meter m(1, 1.0, 0.25);
  m.update(0, 1, 4);
  CHECK_FALSE(m.poll(0.0));
  CHECK_FALSE(m.poll(0.99));
  CHECK_FALSE(m.drawn());
  const auto first = m.poll(1.0);
  REQUIRE(first);
  CHECK(*first == "moesim: 25%, passes 1/4, 1 s elapsed, ETA 3 s");
  CHECK(m.drawn());
  CHECK_FALSE(m.poll(1.1));
  CHECK_FALSE(m.poll(1.249));
  m.update(0, 2, 4);
  const auto second = m.poll(1.25);
  REQUIRE(second);
  CHECK(*second == "moesim: 50%, passes 2/4, 1 s elapsed, ETA 1 s");
}
