#include "sim/engine/task.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/engine/process.hpp"
#include "sim/engine/simulation.hpp"

using namespace moesim::sim;

namespace {

task leg(std::vector<std::string>& log, const std::string& name, time_ps d) {
  log.push_back(name + " start");
  co_await delay{d};
  log.push_back(name + " end");
}

task two_legs(std::vector<std::string>& log, flag& go) {
  co_await leg(log, "a", 10);
  co_await go;
  co_await leg(log, "b", 5);
}

process with_tasks(simulation& sim, std::vector<std::string>& log, flag& go) {
  co_await two_legs(log, go);
  log.push_back("done at " + std::to_string(sim.now()));
}

process inline_body(simulation& sim, std::vector<std::string>& log, flag& go) {
  log.push_back("a start");
  co_await delay{10};
  log.push_back("a end");
  co_await go;
  log.push_back("b start");
  co_await delay{5};
  log.push_back("b end");
  log.push_back("done at " + std::to_string(sim.now()));
}

template <class Body>
std::pair<std::vector<std::string>, std::uint64_t> play(Body body) {
  simulation sim;
  std::vector<std::string> log;
  flag go(sim);
  sim.spawn(body(sim, log, go));
  sim.schedule_at(20, [&] {
    log.push_back("set");
    go.set();
  });
  sim.run();
  return {log, sim.events_processed()};
}

task fails() {
  co_await delay{1};
  throw std::runtime_error("task failed");
}

process catches(std::string& seen) {
  try {
    co_await fails();
  } catch (const std::runtime_error& e) {
    seen = e.what();
  }
}

process lets_escape() {
  co_await fails();
}

}  // namespace

TEST_CASE("awaiting a task runs as if its body were inline: same order, no extra events") {
  const auto [with, with_events] = play(with_tasks);
  const auto [inl, inline_events] = play(inline_body);
  CHECK(with ==
        std::vector<std::string>{"a start", "a end", "set", "b start", "b end", "done at 25"});
  CHECK(with == inl);
  CHECK(with_events == inline_events);
}

TEST_CASE("an exception escaping a task reaches its awaiter, then the simulation") {
  simulation sim;
  std::string seen;
  sim.spawn(catches(seen));
  sim.run();
  CHECK(seen == "task failed");
  simulation sim2;
  sim2.spawn(lets_escape());
  CHECK_THROWS_WITH(sim2.run(), "task failed");
}

TEST_CASE("a simulation destroyed mid-task frees the awaiting process and its task") {
  auto sim = std::make_unique<simulation>();
  flag never(*sim);
  std::vector<std::string> log;
  sim->spawn([](flag& f, std::vector<std::string>& l) -> process {
    co_await [](flag& g, std::vector<std::string>& m) -> task {
      m.push_back("waiting");
      co_await g;
      m.push_back("never");
    }(f, l);
  }(never, log));
  sim->run();
  CHECK(log == std::vector<std::string>{"waiting"});
  sim.reset();  // ASan would report a leak or a double free here
}
