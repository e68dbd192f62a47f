// The README's Performance section from recorded benchmark runs (record.hpp). Each renderer
// reads the --json output of one benchmark (tools/bench/*.cpp) across the recorded runs and
// prints the figures as ranges over the runs (wall times vary with the machine's load; the
// simulated figures do not).
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "sim/io/error.hpp"
#include "sim/io/readme_report.hpp"
#include "sim/io/units.hpp"
#include "tools/bench/record.hpp"

namespace moesim::bench {

namespace {

using io::json;
using results = std::vector<json>;  // one benchmark's --json output, one per recorded run

double num(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}

// "a" when every value prints the same at `spec`, else "min-max".
std::string span(std::vector<double> v, const char* spec, double scale = 1) {
  if (v.empty()) return "?";
  std::sort(v.begin(), v.end());
  const auto lo = fmt::format(fmt::runtime(spec), v.front() * scale);
  const auto hi = fmt::format(fmt::runtime(spec), v.back() * scale);
  return lo == hi ? lo : lo + "-" + hi;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::vector<double> collect(const results& runs, const std::function<double(const json&)>& f) {
  std::vector<double> out;
  for (const auto& r : runs) out.push_back(f(r));
  return out;
}

std::string runs_note(const results& runs) {
  return runs.size() == 1 ? "one run" : fmt::format("{} runs", runs.size());
}

std::string phold(const results& runs) {
  const auto ratios = collect(runs, [](const json& r) { return num(r, "ratio"); });
  std::string each;
  for (double r : ratios) each += fmt::format("{}{:.2f}", each.empty() ? "" : " / ", r);
  return fmt::format(
      "{}: engine {} M events/s vs bare `std::priority_queue` {} M events/s in the same run, "
      "ratios {}: **median {:.2f}x**",
      runs_note(runs),
      span(collect(runs, [](const json& r) { return num(r, "engine_events_per_s"); }), "{:.1f}",
           1e-6),
      span(collect(runs, [](const json& r) { return num(r, "bare_heap_events_per_s"); }), "{:.1f}",
           1e-6),
      each, median(ratios));
}

std::string router(const results& runs) {
  const auto s = collect(runs, [](const json& r) { return num(r, "seconds"); });
  return fmt::format(
      "{}: **{:.3f} s** median ({} s over the runs), {:.0f} threads, gate GEMM {} "
      "GFLOP/s",
      runs_note(runs), median(s), span(s, "{:.3f}"), num(runs.front(), "threads"),
      span(collect(runs, [](const json& r) { return num(r, "gate_gflops"); }), "{:.0f}"));
}

std::string moe_math(const results& runs) {
  std::string out = runs_note(runs) + ":";
  const auto& cases = runs.front()["cases"];
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto pick = [&](const char* key) {
      return collect(runs, [&](const json& r) { return num(r["cases"][i], key); });
    };
    out += fmt::format("{} {} {} vs {} GFLOP/s: **{}x**", i ? ";" : "",
                       cases[i]["name"].get<std::string>(), span(pick("moe_gflops"), "{:.0f}"),
                       span(pick("gemm_gflops"), "{:.0f}"), span(pick("ratio"), "{:.2f}"));
  }
  return out;
}

// The alltoall rows of `gpus` GPUs at each quantum.
std::string alltoall_at(const results& runs, int gpus) {
  std::string out = runs_note(runs) + ":";
  std::set<double> quanta;
  for (const auto& row : runs.front()) {
    if (num(row, "gpus") == gpus) quanta.insert(num(row, "resolve_quantum"));
  }
  bool first = true;
  for (double q : quanta) {
    std::vector<double> wall;
    std::vector<double> solves;
    std::vector<double> makespan;
    std::vector<double> flows;
    for (const auto& r : runs) {
      for (const auto& row : r) {
        if (num(row, "gpus") != gpus || num(row, "resolve_quantum") != q) continue;
        wall.push_back(num(row, "wall_s"));
        solves.push_back(num(row, "solves"));
        makespan.push_back(num(row, "simulated_makespan_s"));
        flows.push_back(num(row, "flows"));
      }
    }
    out += fmt::format("{} q = {}: **{} s**, {} solves, makespan {} ms ({} flows)",
                       first ? "" : ";", q, span(wall, "{:.2f}"), span(solves, "{:.0f}"),
                       span(makespan, "{:.3f}", 1e3), span(flows, "{:.0f}"));
    first = false;
  }
  return out;
}

std::string alltoall_scaling(const results& runs) {
  std::string gpus;
  std::string walls;
  std::vector<double> per_flow;
  std::vector<double> solves;
  std::vector<double> flows;
  for (const auto& row : runs.front()) {
    if (num(row, "resolve_quantum") != 0.02) continue;
    const double g = num(row, "gpus");
    std::vector<double> w;
    for (const auto& r : runs) {
      for (const auto& x : r) {
        if (num(x, "gpus") == g && num(x, "resolve_quantum") == 0.02) {
          w.push_back(num(x, "wall_s"));
          per_flow.push_back(num(x, "wall_ns_per_flow"));
        }
      }
    }
    gpus += fmt::format("{}{:.0f}", gpus.empty() ? "" : " / ", g);
    walls += (walls.empty() ? "" : " / ") + span(w, "{:.3g}");
    solves.push_back(num(row, "solves"));
    flows.push_back(num(row, "flows"));
  }
  return fmt::format(
      "{}: {} s for {} GPUs ({} -> {} flows, {:.0f} -> {:.0f} solves): **{} us "
      "per flow** across a {:.0f}x range of flows",
      runs_note(runs), walls, gpus, io::format_count(flows.front()), io::format_count(flows.back()),
      solves.front(), solves.back(), span(per_flow, "{:.1f}", 1e-3), flows.back() / flows.front());
}

std::string alltoall_exact(const results& runs) {
  const auto& r0 = runs.front();
  std::string out = fmt::format(
      "{}: exact: {:.0f} re-solves, {} s, makespan {:.4f} ms. Makespan error / per-flow "
      "completion-time error median, p90, p99, worst:",
      runs_note(runs), num(r0, "exact_solves"),
      span(collect(runs, [](const json& r) { return num(r, "exact_wall_s"); }), "{:.0f}"),
      num(r0, "exact_makespan_s") * 1e3);
  bool first = true;
  for (const auto& q : r0["quantum"]) {
    out += fmt::format("{} q = {} {:+.2f}% / {:.2f}%, {:.2f}%, {:.2f}%, {:.1f}%", first ? "" : ";",
                       num(q, "resolve_quantum"), num(q, "makespan_error") * 100,
                       num(q, "flow_error_median") * 100, num(q, "flow_error_p90") * 100,
                       num(q, "flow_error_p99") * 100, num(q, "flow_error_max") * 100);
    first = false;
  }
  return out;
}

std::string ironwood(const results& runs) {
  const auto& r0 = runs.front();
  const auto& c = r0["check"];
  return fmt::format(
      "{}: **{} s** wall including the cluster build, **{} MiB** peak RSS (VmHWM); {:.2f} us, "
      "busbw {:.2f} GB/s. Cross-check in the same bench: streaming every pair on {} ({} flows) "
      "takes {} s and gives {:.3f} us against the symmetric {:.3f} us",
      runs_note(runs),
      span(collect(runs, [](const json& r) { return num(r, "wall_s"); }), "{:.3f}"),
      span(collect(runs, [](const json& r) { return num(r, "peak_rss_bytes"); }), "{:.0f}",
           1.0 / (1 << 20)),
      num(r0, "time_s") * 1e6, num(r0, "busbw_GBps"), c["cluster"].get<std::string>(),
      io::format_count(num(c, "flows")),
      span(collect(runs, [](const json& r) { return num(r["check"], "streamed_s"); }), "{:.2f}"),
      num(c, "streamed_finish_s") * 1e6, num(c, "symmetric_finish_s") * 1e6);
}

std::string steps(const results& runs) {
  std::string out = runs_note(runs) + ":";
  bool first = true;
  for (const auto& row : runs.front()) {
    const auto name = row["scenario"].get<std::string>();
    std::vector<double> wall;
    std::vector<double> ratio;
    std::vector<double> rss;
    for (const auto& r : runs) {
      for (const auto& x : r) {
        if (x["scenario"] != name) continue;
        wall.push_back(num(x, "wall_per_step_s"));
        ratio.push_back(num(x, "wall_over_step"));
        rss.push_back(num(x, "peak_rss_bytes"));
      }
    }
    out += fmt::format("{} {} on {:.0f} devices: **{} s** per {} step (**{}x**, target <= {:.0f}x)",
                       first ? "" : ";", name, num(row, "devices"), span(wall, "{:.3g}"),
                       io::format_seconds(num(row, "simulated_step_s")), span(ratio, "{:.2g}"),
                       num(row, "target_wall_over_step"));
    if (first) out += fmt::format(", **{} MiB** peak RSS", span(rss, "{:.0f}", 1.0 / (1 << 20)));
    first = false;
  }
  return out + fmt::format(" ({:.0f} threads)", num(runs.front().front(), "threads"));
}

std::string serve(const results& runs) {
  const auto& r0 = runs.front();
  return fmt::format(
      "{}: {}, {:.0f} requests/s for {:.0f} s ({:.0f} requests, {:.0f} iterations, {:.1f} "
      "sequences per {} in flight): **{} s** wall for {:.1f} s simulated, **{}x** real time, "
      "{} us per iteration ({:.0f} threads)",
      runs_note(runs), r0.value("label", "Mixtral 8x7B EP8"), num(r0, "rate_per_s"),
      num(r0, "arrivals_s"), num(r0, "requests"), num(r0, "iterations"),
      num(r0, "in_flight_per_device"), r0.value("in_flight_on", "GPU"),
      span(collect(runs, [](const json& r) { return num(r, "wall_s"); }), "{:.3g}"),
      num(r0, "simulated_s"),
      span(collect(runs, [](const json& r) { return num(r, "simulated_over_wall"); }), "{:.2g}"),
      span(collect(runs, [](const json& r) { return num(r, "wall_per_iteration_s"); }), "{:.0f}",
           1e6),
      num(r0, "threads"));
}

std::string spec_grid(const results& runs) {
  const auto& r0 = runs.front();
  std::string by_batch;
  for (const auto& b : r0["by_batch"]) {
    by_batch += fmt::format("{}{:.0f}: {:.2f}", by_batch.empty() ? "" : ", ", num(b, "batch"),
                            num(b, "point_s"));
  }
  return fmt::format(
      "{}: {} grid, {:.0f} points (batch x k x policy): **{} s** wall, **{} s** per point on "
      "one core (by batch, one run: {}) ({:.0f} threads)",
      runs_note(runs), r0.value("scenario", "spec-decode-mixtral"), num(r0, "points"),
      span(collect(runs, [](const json& r) { return num(r, "wall_s"); }), "{:.3g}"),
      span(collect(runs, [](const json& r) { return num(r, "point_core_s"); }), "{:.3f}"), by_batch,
      num(r0, "threads"));
}

std::string sweep(const results& runs) {
  const auto& r0 = runs.front();
  const auto per_point = [](const char* key) {
    return [key](const json& r) { return num(r, key) / num(r, "points"); };
  };
  return fmt::format(
      "{}: {} ({:.0f} points), `moesim sweep`: **{} points/s** at `--jobs 1`, **{} points/s** "
      "at `--jobs 2`: **{}x** (CPU s per point {} and {}; files byte-identical: {}); {}; {:.0f} "
      "sampled points alone, interleaved, `moesim run` {} s a point, a one-point sweep {} s: "
      "overhead **{}%** ({}% in CPU seconds; in one sweep {} s a point); 1-minute load average "
      "{} at the start, {} at the end",
      runs_note(runs), r0.value("scenario", "sweep-mixtral-serve"), num(r0, "points"),
      span(collect(runs, [](const json& r) { return num(r, "points_per_s_1"); }), "{:.2f}"),
      span(collect(runs, [](const json& r) { return num(r, "points_per_s_2"); }), "{:.2f}"),
      span(collect(runs, [](const json& r) { return num(r, "speedup"); }), "{:.2f}"),
      span(collect(runs, per_point("jobs1_cpu_s")), "{:.3f}"),
      span(collect(runs, per_point("jobs2_cpu_s")), "{:.3f}"),
      r0.value("identical_outputs", false) ? "yes" : "NO",
      num(r0, "mpi2_wall_s") > 0
          ? fmt::format("`mpirun -n 2`, 1 thread a rank: **{}x** the wall time of `--jobs 2` "
                        "(files byte-identical: {})",
                        span(collect(runs, [](const json& r) { return num(r, "mpi2_over_jobs2"); }),
                             "{:.2f}"),
                        r0.value("mpi_identical_outputs", false) ? "yes" : "NO")
          : std::string("MPI not measured"),
      num(r0, "sample_points"),
      span(collect(runs, [](const json& r) { return num(r, "run_point_s"); }), "{:.3f}"),
      span(collect(runs, [](const json& r) { return num(r, "alone_point_s"); }), "{:.3f}"),
      span(collect(runs, [](const json& r) { return num(r, "overhead"); }), "{:+.1f}", 100),
      span(collect(runs, [](const json& r) { return num(r, "overhead_cpu"); }), "{:+.1f}", 100),
      span(collect(runs, [](const json& r) { return num(r, "sweep_point_s"); }), "{:.3f}"),
      span(collect(runs, [](const json& r) { return num(r, "load_average_start"); }), "{:.2f}"),
      span(collect(runs, [](const json& r) { return num(r, "load_average_end"); }), "{:.2f}"));
}

std::string rebalance(const results& runs) {
  const auto& r0 = runs.front();
  const auto per_iteration = [](const json& r) {
    return (num(r, "rebalanced_wall_s") / num(r, "rebalanced_iterations")) /
           (num(r, "static_wall_s") / num(r, "static_iterations"));
  };
  return fmt::format(
      "{}: {} with {}, {:.0f} s of arrivals: placed once **{} s** wall ({:.0f} iterations), "
      "rebalanced in the background every 50 iterations **{} s** ({:.0f} iterations, {:.0f} "
      "rebalances): **{}x** the wall time, **{}x** per iteration",
      runs_note(runs), r0.value("scenario", "serve-mixtral-h100"), r0.value("placement", ""),
      num(r0, "arrivals_s"),
      span(collect(runs, [](const json& r) { return num(r, "static_wall_s"); }), "{:.3g}"),
      num(r0, "static_iterations"),
      span(collect(runs, [](const json& r) { return num(r, "rebalanced_wall_s"); }), "{:.3g}"),
      num(r0, "rebalanced_iterations"), num(r0, "rebalances"),
      span(collect(runs, [](const json& r) { return num(r, "wall_ratio"); }), "{:.2f}"),
      span(collect(runs, per_iteration), "{:.2f}"));
}

// `moesim bench place`: the command's time, then per layout each strategy's time, load max/mean
// and the share of co-activation that crosses nodes.
std::string place_rows(const results& runs) {
  const auto& r0 = runs.front();
  std::string layouts;
  for (const char* layout : {"32x1", "4x8"}) {
    std::string cells;
    for (std::size_t i = 0; i < r0["rows"].size(); ++i) {
      const auto& row = r0["rows"][i];
      const std::string at =
          fmt::format("{:.0f}x{:.0f}", num(row, "nodes"), num(row, "devices") / num(row, "nodes"));
      if (at != layout) continue;
      cells += fmt::format(
          "{}{} {} s, max/mean {:.3f}, {:.1f}% cross-node", cells.empty() ? "" : "; ",
          row["strategy"].get<std::string>(),
          span(collect(runs, [i](const json& r) { return num(r["rows"][i], "seconds"); }),
               "{:.3g}"),
          num(row, "max_over_mean"), 100 * num(row, "cross_node_share"));
    }
    layouts += fmt::format("{} {} nodes x GPUs: {}", layouts.empty() ? "" : ".", layout, cells);
  }
  return fmt::format(
      "{}: `moesim place --strategy eplb` (32 nodes, --json, in-process): **{} s**. Each "
      "strategy's place() per {:.0f} layers x {:.0f} experts, {:.0f} slots, load max/mean (mean "
      "over layers) and share of the co-activation crossing nodes:{}",
      runs_note(runs),
      span(collect(runs, [](const json& r) { return num(r, "command_s"); }), "{:.3g}"),
      num(r0, "layers"), num(r0, "experts"), num(r0, "slots"), layouts);
}

const std::map<std::string, std::function<std::string(const results&)>>& renderers() {
  static const std::map<std::string, std::function<std::string(const results&)>> r{
      {"phold", phold},
      {"router", router},
      {"moe-math", moe_math},
      {"alltoall-256", [](const results& x) { return alltoall_at(x, 256); }},
      {"alltoall-1024", [](const results& x) { return alltoall_at(x, 1024); }},
      {"alltoall-scaling", alltoall_scaling},
      {"alltoall-exact", alltoall_exact},
      {"ironwood", ironwood},
      {"steps", steps},
      {"serve", serve},
      {"serve-pd", serve},
      {"spec-grid", spec_grid},
      {"rebalance", rebalance},
      {"place", place_rows},
      {"sweep", sweep}};
  return r;
}

json read_record(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw io::input_error(path + ": no recorded runs (tools/bench/record.sh NAME records them)");
  }
  try {
    return json::parse(in);
  } catch (const json::exception& e) {  // parse errors, numbers out of range
    throw io::input_error(path + ": not JSON: " + e.what());
  }
}

}  // namespace

std::string performance_section(const std::string& results_dir, const std::string& notes_path) {
  YAML::Node notes;
  try {
    notes = YAML::LoadFile(notes_path);
  } catch (const YAML::Exception& e) {
    throw io::input_error(notes_path + ": " + e.what());
  }
  std::string table = "| benchmark | command | result | target |\n|---|---|---|---|\n";
  std::set<std::string> cpus;
  std::set<std::string> dates;
  std::vector<double> loads;
  std::map<std::string, json> records;
  for (const auto& n : notes) {
    for (const char* key : {"row", "record", "benchmark", "command", "target"}) {
      if (!n[key]) throw io::input_error(notes_path + ": an entry has no '" + key + "'");
    }
    const auto row = n["row"].as<std::string>();
    const auto name = n["record"].as<std::string>();
    if (!renderers().contains(row)) {
      throw io::input_error(fmt::format("{}: no renderer for row '{}'", notes_path, row));
    }
    if (!records.contains(name)) {
      records[name] = read_record((std::filesystem::path(results_dir) / (name + ".json")).string());
    }
    results runs;
    for (const auto& run : records[name]["runs"]) {
      runs.push_back(run["result"]);
      const auto& m = run["machine"];
      cpus.insert(fmt::format("{} ({} cores, {:.0f} GiB, {}, {} build)",
                              m["cpu"].get<std::string>(), m["cores"].get<int>(),
                              m["memory_bytes"].get<double>() / (1ULL << 30),
                              m["os"].get<std::string>(), m.value("build", "unrecorded")));
      dates.insert(run["date"].get<std::string>().substr(0, 10));
      loads.push_back(num(m, "load_average"));
    }
    if (runs.empty()) throw io::input_error(fmt::format("{}/{}.json: no runs", results_dir, name));
    std::string result = renderers().at(row)(runs);
    if (n["note"]) result += ". " + n["note"].as<std::string>();
    table += fmt::format("| {} | `{}` | {} | {} |\n",
                         io::markdown_cell(n["benchmark"].as<std::string>()),
                         n["command"].as<std::string>(), io::markdown_cell(result),
                         io::markdown_cell(n["target"].as<std::string>()));
  }
  std::string machines;
  for (const auto& c : cpus) machines += (machines.empty() ? "" : "; ") + c;
  return fmt::format(
      "Recorded with `moesim bench NAME --record tools/bench/results/NAME.json` "
      "(`tools/bench/record.sh NAME RUNS`) on {}, {} to {}; load average at the "
      "start of the runs {} (the machine is shared: wall times vary between runs).\n\n{}",
      machines, *dates.begin(), *dates.rbegin(), span(loads, "{:.1f}"), table);
}

}  // namespace moesim::bench
