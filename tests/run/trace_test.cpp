// The quickstart end to end in-process: the trace is valid Chrome trace-event JSON, the
// breakdown sums to the step time, and two runs are identical. Then the trace's selection
// (sim/run/trace_selection.hpp) on a 2-node layout with pipeline stages, the progress hook and
// the memory breakdown in the metrics.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

#include "sim/io/metrics.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/io/trace_writer.hpp"
#include "sim/run/simulate.hpp"
#include "topologies/cluster.hpp"

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

namespace {

// The quickstart on two nodes, EP8 x PP2: 16 devices, InfiniBand between the nodes.
sim::run::scenario two_nodes(std::vector<std::string> more = {}) {
  io::load_options opt;
  opt.overrides = {"workload.steps=2", "cluster.nodes=2", "parallelism.pp=2"};
  for (auto& m : more) opt.overrides.push_back(std::move(m));
  return io::load_scenario_file(MOESIM_SOURCE_DIR "/scenarios/quickstart.yaml", opt).base;
}

struct traced {
  sim::trace_recorder trace;
  sim::run::run_result result;
  std::string json;
};

traced run_traced(const sim::run::scenario& s, const sim::run::trace_selection& sel,
                  int threads = 1) {
  traced t;
  t.result = sim::run::simulate(s, t.trace, {threads, sel, {}});
  std::ostringstream o;
  io::write_chrome_trace(t.trace, {s.name, s.seed}, o);
  t.json = o.str();
  return t;
}

std::set<std::string> process_names(const sim::trace_recorder& t) {
  return {t.process_names().begin(), t.process_names().end()};
}

std::string note(const nlohmann::json& trace, const std::string& key) {
  return trace["otherData"]["selection"][key].get<std::string>();
}

}  // namespace

TEST_CASE("by default a layout over the device budget traces EP ranks 0..k-1 of every stage") {
  const auto s = two_nodes();
  sim::run::trace_selection sel;
  sel.device_budget = 4;  // 16 recorded devices, 2 stages: EP ranks 0 and 1 of each
  const auto t = run_traced(s, sel);
  CHECK(process_names(t.trace) ==
        std::set<std::string>{"device 0", "device 1", "device 8", "device 9", "links"});
  const auto j = nlohmann::json::parse(t.json);
  CHECK(note(j, "traced_devices") == "0-1,8-9");
  CHECK(note(j, "untraced_devices") == "2-7,10-15");
  CHECK(note(j, "device_selection") ==
        "default: the 16 recorded devices exceed the budget of 4; traced EP ranks 0-1 of "
        "data-parallel replica 0 on each of the 2 pipeline stages");
  CHECK(note(j, "window") == "whole run");
  CHECK(note(j, "links").find("links of untraced devices left out") != std::string::npos);

  // Link counters only of the traced devices, their NICs, and between switches.
  const auto topo = topo::build_cluster(s.cluster, s.chip);
  std::set<std::string> near;
  for (const int d : {0, 1, 8, 9}) {
    near.insert(topo.name(d));
    near.insert(topo.name(topo.devices[static_cast<std::size_t>(d)].nic));
  }
  std::set<std::string> switches;
  for (topo::vertex_id v = 0; v < topo.vertex_count(); ++v) {
    const auto k = topo.vertex(v).kind;
    if (k == topo::vertex_kind::leaf || k == topo::vertex_kind::spine ||
        k == topo::vertex_kind::nvswitch) {
      switches.insert(topo.name(v));
    }
  }
  REQUIRE_FALSE(t.trace.counters().empty());
  for (const auto& c : t.trace.counters()) {
    // "ib nic3->leaf0 GB/s"
    const auto space = c.name.find(' ');
    const auto arrow = c.name.find("->");
    const std::string a = c.name.substr(space + 1, arrow - space - 1);
    const std::string b = c.name.substr(arrow + 2, c.name.find(' ', arrow) - arrow - 2);
    INFO(c.name);
    CHECK((near.count(a) + near.count(b) > 0 || (switches.count(a) && switches.count(b))));
  }

  // Nothing of the untraced devices is recorded at all: the full trace holds more.
  sim::run::trace_selection everything;
  everything.device_budget = 0;
  const auto full = run_traced(s, everything);
  CHECK(process_names(full.trace).size() == 17);
  CHECK(nlohmann::json::parse(full.json)["otherData"]["selection"]["device_selection"] ==
        "requested: all 16 recorded devices");
  CHECK(t.trace.spans().size() * 4 == full.trace.spans().size());
  CHECK(t.trace.counters().size() < full.trace.counters().size());
  // The selection changes only the trace.
  CHECK(io::dump(io::metrics_json(t.result, s)) == io::dump(io::metrics_json(full.result, s)));
}

TEST_CASE("requested devices and a time window") {
  const auto s = two_nodes();
  sim::run::trace_selection sel;
  sel.devices = {3, 12};
  const auto whole = run_traced(s, sel);
  CHECK(process_names(whole.trace) == std::set<std::string>{"device 3", "device 12", "links"});
  // A window in the middle of the run: every span and counter interval kept overlaps it.
  const auto end = sim::ps_from_seconds(whole.result.simulated_time_s);
  sel.from = end / 3;
  sel.to = end / 2;
  const auto part = run_traced(s, sel);
  const auto j = nlohmann::json::parse(part.json);
  CHECK(note(j, "device_selection") == "requested: 3,12");
  CHECK(note(j, "window").find(" us to ") != std::string::npos);
  REQUIRE_FALSE(part.trace.spans().empty());
  CHECK(part.trace.spans().size() < whole.trace.spans().size());
  for (const auto& sp : part.trace.spans()) {
    CHECK(sp.start <= sel.to);
    CHECK(sp.start + sp.duration >= sel.from);
  }
  std::size_t inside = 0;
  for (const auto& sp : whole.trace.spans()) {
    inside += sp.start <= sel.to && sp.start + sp.duration >= sel.from ? 1 : 0;
  }
  CHECK(inside == part.trace.spans().size());
  REQUIRE(part.trace.counters().size() % 2 == 0);
  for (std::size_t i = 0; i < part.trace.counters().size(); i += 2) {
    const auto& a = part.trace.counters()[i];
    const auto& b = part.trace.counters()[i + 1];
    CHECK(a.name == b.name);
    CHECK(b.value == 0);
    CHECK(a.at <= sel.to);
    CHECK(b.at >= sel.from);
  }
}

TEST_CASE("a selected trace is byte-identical across runs and thread counts") {
  const auto s = two_nodes();
  sim::run::trace_selection sel;
  sel.device_budget = 4;
  sel.from = 0;
  sel.to = 300 * sim::ps_per_us;
  const auto a = run_traced(s, sel, 1);
  const auto b = run_traced(s, sel, 2);
  const auto c = run_traced(s, sel, 1);
  CHECK(a.json == b.json);
  CHECK(a.json == c.json);
}

TEST_CASE("requested devices must exist and have a timeline") {
  const auto s = two_nodes();
  auto message = [](const sim::run::scenario& sc, std::vector<topo::device_id> d) {
    try {
      sim::run::check_trace_devices(sc, d);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  CHECK(message(s, {0, 15}) == "(accepted)");
  CHECK(message(s, {3, 16}) == "device 16 is out of range: the layout has 16 devices (0-15)");
  const auto tp = two_nodes({"parallelism.tp=2", "parallelism.ep=4"});
  CHECK(message(tp, {1, 3, 4}) == "(accepted)");  // device 4 is TP rank 0
  CHECK(message(tp, {1, 3}) ==
        "none of the devices 1,3 has a timeline: TP ranks 1.. run their TP rank 0's ops and "
        "are not recorded; the 8 recorded devices start 0,2,4,6,8,10,12,14");
  CHECK(sim::run::format_device_ranges({}) == "none");
  CHECK(sim::run::format_device_ranges({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8");
}

TEST_CASE("progress: every pass of a micro-batch through a model chunk, results unchanged") {
  const auto s = two_nodes({"workload.micro_batches=4"});
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
  sim::trace_recorder off(false);
  sim::run::run_options opt;
  opt.progress = [&](std::uint64_t done, std::uint64_t total) { calls.emplace_back(done, total); };
  const auto with = sim::run::simulate(s, off, opt);
  const auto without = sim::run::simulate(s, off);
  REQUIRE(calls.size() == 2 * 4 * 2);  // steps x micro-batches x stages, forward only
  for (std::size_t i = 0; i < calls.size(); ++i) {
    CHECK(calls[i].first == i + 1);
    CHECK(calls[i].second == 16);
  }
  CHECK(io::dump(io::metrics_json(with, s)) == io::dump(io::metrics_json(without, s)));
}

TEST_CASE("progress of interleaved training: forward and backward passes of every chunk") {
  const auto s =
      two_nodes({"workload.kind=train", "workload.batch_per_device=1", "workload.context=512",
                 "workload.micro_batches=6", "workload.steps=1", "parallelism.vp=2"});
  std::uint64_t calls = 0;
  std::uint64_t last = 0;
  std::uint64_t total = 0;
  sim::trace_recorder off(false);
  sim::run::run_options opt;
  opt.progress = [&](std::uint64_t done, std::uint64_t t) {
    ++calls;
    last = done;
    total = t;
  };
  (void)sim::run::simulate(s, off, opt);
  CHECK(total == 6 * 4 * 2);  // micro-batches x chunks (pp 2 x vp 2) x (forward, backward)
  CHECK(calls == total);
  CHECK(last == total);
}

TEST_CASE("metrics: the memory plan of every pipeline stage, in whole bytes") {
  const auto s = two_nodes();
  sim::trace_recorder off(false);
  const auto r = sim::run::simulate(s, off);
  REQUIRE(r.memory.size() == 2);
  for (std::size_t st = 0; st < 2; ++st) {
    const auto& m = r.memory[st];
    CHECK(m.stage == static_cast<int>(st));
    CHECK(m.device == static_cast<int>(st) * 8);  // tp-ep-dp-pp: stage 1 starts at device 8
    CHECK(m.hbm_bytes == std::llround(s.chip.hbm_bytes));
    std::int64_t sum = 0;
    for (const auto& [name, bytes] : m.items) sum += bytes;
    CHECK(std::llabs(sum - m.total_bytes) <= static_cast<std::int64_t>(m.items.size()));
    CHECK(static_cast<double>(m.total_bytes) ==
          Approx(r.per_device[static_cast<std::size_t>(m.device)].memory_bytes));
  }
  const auto j = io::metrics_json(r, s);
  REQUIRE(j["memory"].size() == 2);
  const auto& first = j["memory"][0];
  CHECK(first["device"] == 0);
  CHECK(first["total_bytes"].is_number_integer());
  CHECK(first["items"]["KV cache"].is_number_integer());
  CHECK(first["items"]["KV cache"].get<std::int64_t>() > 0);
  CHECK(first["items"].contains("embedding"));
  CHECK_FALSE(j["memory"][1]["items"].contains("embedding"));  // the first stage's only
  std::ostringstream summary;
  io::print_summary(r, summary);
  CHECK(summary.str().find("  memory of device ") != std::string::npos);
}
