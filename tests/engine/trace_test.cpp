// The trace recorder's selection: spans on no_track and outside the window are dropped, counter
// intervals are kept whole or not at all, notes keep their order.
#include "sim/engine/trace.hpp"

#include <catch2/catch.hpp>

using namespace moesim::sim;

TEST_CASE("spans on no_track are not recorded") {
  trace_recorder t;
  const auto a = t.track("device 0", "compute");
  CHECK(t.records(a));
  CHECK_FALSE(t.records(trace_recorder::no_track));
  t.span(a, "x", "c", 0, 10);
  t.span(trace_recorder::no_track, "y", "c", 0, 10);
  REQUIRE(t.spans().size() == 1);
  CHECK(t.spans()[0].name == "x");
  trace_recorder off(false);
  CHECK_FALSE(off.records(off.track("device 0", "compute")));
}

TEST_CASE("the window keeps what overlaps it, whole") {
  trace_recorder t;
  t.set_window(100, 200);
  const auto a = t.track("device 0", "compute");
  t.span(a, "before", "c", 0, 99);
  t.span(a, "into", "c", 50, 60);  // 50..110
  t.span(a, "inside", "c", 120, 10);
  t.span(a, "across", "c", 0, 1000);
  t.span(a, "at the end", "c", 200, 0);
  t.span(a, "after", "c", 201, 5);
  std::vector<std::string> kept;
  for (const auto& s : t.spans()) kept.push_back(s.name);
  CHECK(kept == std::vector<std::string>{"into", "inside", "across", "at the end"});
  CHECK(t.spans()[0].start == 50);
  CHECK(t.spans()[0].duration == 60);

  t.counter_interval("links", "l", 150, 400, 7);  // overlaps: both samples
  t.counter_interval("links", "l", 300, 400, 9);  // outside: neither
  t.counter("links", "m", 99, 1);                 // a sample outside
  t.counter("links", "m", 100, 2);
  REQUIRE(t.counters().size() == 3);
  CHECK(t.counters()[0].at == 150);
  CHECK(t.counters()[0].value == 7);
  CHECK(t.counters()[1].at == 400);
  CHECK(t.counters()[1].value == 0);
  CHECK(t.counters()[2].value == 2);
}

TEST_CASE("notes keep their order") {
  trace_recorder t;
  t.note("b", "1");
  t.note("a", "2", true);
  REQUIRE(t.notes().size() == 2);
  CHECK(t.notes()[0].key == "b");
  CHECK(t.notes()[1].key == "a");
  CHECK(t.notes()[1].numeric);
}
