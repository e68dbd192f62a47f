#include "sim/engine/simulation.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/engine/process.hpp"

using namespace moesim::sim;

TEST_CASE("events run in time order, ties first-in-first-out") {
  simulation sim;
  std::vector<std::string> log;
  sim.schedule_at(30, [&] { log.push_back("c30"); });
  sim.schedule_at(10, [&] { log.push_back("a10"); });
  sim.schedule_at(20, [&] { log.push_back("b20-first"); });
  sim.schedule_at(20, [&] { log.push_back("b20-second"); });
  sim.schedule_at(20, [&] {
    log.push_back("b20-third");
    // Scheduled at the current time from inside an event: runs after every event already
    // queued for t=20, because its sequence number is larger.
    sim.schedule_in(0, [&] { log.push_back("b20-nested"); });
  });
  sim.schedule_at(20, [&] { log.push_back("b20-fourth"); });
  sim.run();
  CHECK(log == std::vector<std::string>{"a10", "b20-first", "b20-second", "b20-third", "b20-fourth",
                                        "b20-nested", "c30"});
  CHECK(sim.now() == 30);
  CHECK(sim.events_processed() == 7);
  CHECK(sim.pending() == 0);
}

TEST_CASE("many same-time events keep insertion order through heap reshuffles") {
  simulation sim;
  std::vector<int> order;
  // Interleave times so the heap reorders entries; each time bucket must stay FIFO.
  for (int i = 0; i < 1000; ++i) {
    sim.schedule_at((i * 7919) % 13, [&order, i] { order.push_back(i); });
  }
  sim.run();
  REQUIRE(order.size() == 1000);
  for (std::size_t a = 1; a < order.size(); ++a) {
    const int ta = (order[a - 1] * 7919) % 13;
    const int tb = (order[a] * 7919) % 13;
    CHECK((ta < tb || (ta == tb && order[a - 1] < order[a])));
  }
}

TEST_CASE("cancellation removes exactly the cancelled event") {
  simulation sim;
  std::vector<int> ran;
  auto a = sim.schedule_at(5, [&] { ran.push_back(1); });
  auto b = sim.schedule_at(5, [&] { ran.push_back(2); });
  sim.schedule_at(6, [&] { ran.push_back(3); });
  CHECK(sim.pending() == 3);
  CHECK(sim.cancel(b));
  CHECK_FALSE(sim.cancel(b));  // already cancelled
  CHECK(sim.pending() == 2);
  // A new event reuses b's slot; the stale heap entry of b must not run it early.
  sim.schedule_at(7, [&] { ran.push_back(4); });
  sim.run();
  CHECK(ran == std::vector<int>{1, 3, 4});
  CHECK_FALSE(sim.cancel(a));  // already ran
}

TEST_CASE("an event cancelled from inside an earlier event does not run") {
  simulation sim;
  bool late_ran = false;
  auto late = sim.schedule_at(100, [&] { late_ran = true; });
  sim.schedule_at(50, [&] { sim.cancel(late); });
  sim.run();
  CHECK_FALSE(late_ran);
  CHECK(sim.now() == 50);
}

TEST_CASE("scheduling in the past is refused") {
  simulation sim;
  sim.schedule_at(10, [&] { CHECK_THROWS_AS(sim.schedule_at(5, [] {}), std::logic_error); });
  sim.run();
}

TEST_CASE("run_until stops at the limit and advances the clock") {
  simulation sim;
  int count = 0;
  for (int t = 1; t <= 10; ++t) sim.schedule_at(t * 10, [&] { ++count; });
  sim.run_until(45);
  CHECK(count == 4);
  CHECK(sim.now() == 45);
  CHECK(sim.pending() == 6);
  sim.run();
  CHECK(count == 10);
}

TEST_CASE("stop() ends run() after the current event") {
  simulation sim;
  int count = 0;
  for (int t = 1; t <= 10; ++t) {
    sim.schedule_at(t, [&] {
      if (++count == 3) sim.stop();
    });
  }
  sim.run();
  CHECK(count == 3);
  sim.run();
  CHECK(count == 10);
}

TEST_CASE("large callbacks fall back to the heap and still run") {
  simulation sim;
  std::vector<double> big(64, 1.5);
  double sum = 0;
  struct heavy {
    std::array<double, 32> payload{};
    double* out;
    void operator()() const {
      for (double v : payload) *out += v;
    }
  };
  heavy h{};
  h.payload.fill(2.0);
  h.out = &sum;
  sim.schedule_in(1, h);
  sim.schedule_in(2, [big, &sum] {
    for (double v : big) sum += v;
  });
  sim.run();
  CHECK(sum == Approx(64.0 + 96.0));
}

namespace {
process ticker(simulation& sim, std::vector<std::pair<char, time_ps>>& log, char name,
               time_ps period, int n) {
  for (int i = 0; i < n; ++i) {
    co_await delay{period};
    log.emplace_back(name, sim.now());
  }
}

process waiter(simulation& sim, flag& f, std::vector<std::pair<char, time_ps>>& log, char name) {
  co_await f;
  log.emplace_back(name, sim.now());
}

process setter(simulation& sim, flag& f, time_ps at) {
  co_await until{at};
  f.set();
  (void)sim;
}

process thrower(simulation& /*sim*/) {
  co_await delay{3};
  throw std::runtime_error("boom");
}
}  // namespace

TEST_CASE("processes wait on delays and flags in deterministic order") {
  simulation sim;
  std::vector<std::pair<char, time_ps>> log;
  flag f(sim);
  sim.spawn(ticker(sim, log, 'a', 10, 3));
  sim.spawn(ticker(sim, log, 'b', 15, 2));
  sim.spawn(waiter(sim, f, log, 'x'));
  sim.spawn(waiter(sim, f, log, 'y'));
  sim.spawn(setter(sim, f, 20));
  sim.run();
  const std::vector<std::pair<char, time_ps>> expected{{'a', 10}, {'b', 15}, {'a', 20}, {'x', 20},
                                                       {'y', 20}, {'b', 30}, {'a', 30}};
  CHECK(log == expected);
  // After set, a new waiter passes straight through.
  sim.spawn(waiter(sim, f, log, 'z'));
  sim.run();
  CHECK(log.back() == std::pair<char, time_ps>{'z', 30});
}

TEST_CASE("an exception in a process stops the run and is rethrown") {
  simulation sim;
  int after = 0;
  sim.spawn(thrower(sim));
  sim.schedule_at(10, [&] { ++after; });
  CHECK_THROWS_WITH(sim.run(), "boom");
  CHECK(sim.now() == 3);
  CHECK(after == 0);
}

TEST_CASE("unfinished processes are destroyed with their simulation") {
  std::vector<std::pair<char, time_ps>> log;
  {
    simulation sim;
    sim.spawn(ticker(sim, log, 'a', 10, 100));
    sim.run_until(25);
  }  // must not leak or crash (checked under sanitizers / valgrind)
  CHECK(log.size() == 2);
}

TEST_CASE("many simulations run side by side in one process without interference") {
  auto run_one = [](std::uint64_t seed) {
    simulation sim(seed);
    auto r = sim.stream("arrivals");
    std::vector<time_ps> times;
    for (int i = 0; i < 100; ++i) {
      sim.schedule_at(static_cast<time_ps>(r.below(1000)),
                      [&times, &sim] { times.push_back(sim.now()); });
    }
    sim.run();
    return times;
  };
  simulation other(99);  // alive during the runs: must not influence them
  other.schedule_at(1, [] {});
  auto a = run_one(7);
  auto b = run_one(8);
  auto a2 = run_one(7);
  CHECK(a == a2);
  CHECK(a != b);
  CHECK(std::is_sorted(a.begin(), a.end()));
}
