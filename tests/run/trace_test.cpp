// The quickstart end to end in-process: the trace is valid Chrome trace-event JSON, the
// breakdown sums to the step time, and two runs are identical.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

#include "sim/io/metrics.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/io/trace_writer.hpp"
#include "sim/run/simulate.hpp"

using namespace moesim;

namespace {
struct outputs {
  std::string metrics;
  std::string trace;
};

outputs run_quickstart() {
  io::load_options opt;
  opt.overrides = {"workload.steps=2"};
  const auto set = io::load_scenario_file(MOESIM_SOURCE_DIR "/scenarios/quickstart.yaml", opt);
  sim::trace_recorder trace;
  const auto r = sim::run::simulate(set.base, trace);
  std::ostringstream t;
  io::write_chrome_trace(trace, {set.base.name, set.base.seed}, t);
  return {io::dump(io::metrics_json(r, set.base)), t.str()};
}
}  // namespace

TEST_CASE("the trace is Chrome trace-event JSON that Perfetto can load") {
  const auto out = run_quickstart();
  const auto j = nlohmann::json::parse(out.trace);
  REQUIRE(j.contains("traceEvents"));
  REQUIRE(j["traceEvents"].is_array());
  std::set<std::pair<int, int>> named_threads;
  std::set<int> named_processes;
  std::set<std::string> process_names;
  std::set<std::string> threads;
  int complete = 0;
  for (const auto& e : j["traceEvents"]) {
    REQUIRE(e.contains("ph"));
    REQUIRE(e.contains("pid"));
    const std::string ph = e["ph"];
    if (ph == "M") {
      if (e["name"] == "process_name") {
        named_processes.insert(e["pid"].get<int>());
        process_names.insert(e["args"]["name"].get<std::string>());
      }
      if (e["name"] == "thread_name") {
        named_threads.insert({e["pid"].get<int>(), e["tid"].get<int>()});
        threads.insert(e["args"]["name"].get<std::string>());
      }
    } else if (ph == "X") {
      ++complete;
      CHECK(e["ts"].is_number());
      CHECK(e["dur"].is_number());
      CHECK(e["dur"].get<double>() >= 0);
      CHECK(e["name"].is_string());
      CHECK(e["cat"].is_string());
      CHECK(e["args"].is_object());
      CHECK(named_threads.count({e["pid"].get<int>(), e["tid"].get<int>()}) == 1);
    }
  }
  CHECK(named_processes.size() == 9);  // one process per device, and the links' counters
  CHECK(process_names.count("links") == 1);
  CHECK(threads == std::set<std::string>{"compute", "hbm", "network"});
  CHECK(complete > 8 * 8 * 2 * 3);  // devices x layers x steps x (attention, router, experts)
}

TEST_CASE("metrics: schema, breakdown summing to the step time, no wall clock") {
  const auto out = run_quickstart();
  const auto m = nlohmann::json::parse(out.metrics);
  CHECK(m["schema"] == "moesim.metrics/1");
  CHECK(m["scenario"] == "quickstart");
  CHECK(m["seed"] == 7);
  const double step = m["summary"]["step_time_s"];
  CHECK(step > 0);
  double sum = 0;
  for (const auto& [k, v] : m["breakdown_s"].items()) sum += v.get<double>();
  CHECK(sum == Approx(step).epsilon(1e-9));
  CHECK(m["summary"]["tokens_per_s"].get<double>() ==
        Approx(512.0 / step).epsilon(1e-9));  // 8 devices x 64 sequences, one token each
  CHECK(out.metrics.find("wall") == std::string::npos);
}

TEST_CASE("two runs in one process give identical bytes") {
  const auto a = run_quickstart();
  const auto b = run_quickstart();
  CHECK(a.metrics == b.metrics);
  CHECK(a.trace == b.trace);
}
