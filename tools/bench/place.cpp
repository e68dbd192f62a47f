// Expert placement's speed (issue 14): `moesim bench place`. DeepSeek-V3 sizes (61 MoE layers x
// 256 routed experts in 8 groups, 288 slots: 32 redundant, 9 per GPU as in DeepSeek's prefill
// deployment) on 32 nodes x 1 GPU (EPLB's global policy: 32 nodes do not divide 8 groups) and
// on 4 nodes x 8 GPUs (hierarchical). Loads are log-normal (sigma 0.8) per expert and layer;
// co-activation (topology_aware) counts the expert pairs of 4096 tokens a layer routed
// DeepSeek-style: 4 of the 8 groups by group load, then 8 experts of those by load. Times are
// medians of repeated runs, inputs made before the clock starts. `moesim place` itself is timed
// in this process through the command's own parser (inline --weights JSON, --json output to a
// string): the command's work without process start-up. Target: under 0.1 s for EPLB.
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "sim/engine/random.hpp"
#include "sim/place/placement.hpp"
#include "tools/bench/bench.hpp"
#include "tools/moesim/commands.hpp"

namespace moesim::bench {

namespace {

constexpr int layers = 61;
constexpr int experts = 256;
constexpr int groups = 8;
constexpr int slots = 288;
constexpr int tokens = 4096;
constexpr double place_target_s = 0.1;

place::problem deepseek_v3(std::uint64_t seed) {
  place::problem p;
  rng gen = rng::stream(seed, "bench.place");
  for (int l = 0; l < layers; ++l) {
    std::vector<double> load(experts);
    for (double& v : load) v = 1000.0 * std::exp(0.8 * gen.normal());
    p.loads.push_back(load);
    std::vector<double> co(static_cast<std::size_t>(experts) * experts, 0.0);
    const int per_group = experts / groups;
    for (int t = 0; t < tokens; ++t) {
      std::vector<double> group_load(groups, 0.0);
      for (int e = 0; e < experts; ++e) group_load[e / per_group] += load[e];
      std::vector<double> w(experts, 0.0);
      for (int g = 0; g < 4; ++g) {
        const auto pick = gen.weighted_index(group_load);
        group_load[pick] = 0;
        for (std::size_t e = pick * per_group; e < (pick + 1) * per_group; ++e) w[e] = load[e];
      }
      std::vector<int> chosen;
      for (int k = 0; k < 8; ++k) {
        const auto e = static_cast<int>(gen.weighted_index(w));
        w[e] = 0;
        for (int c : chosen) {
          co[c * experts + e] += 1;
          co[e * experts + c] += 1;
        }
        chosen.push_back(e);
      }
    }
    p.coactivation.push_back(std::move(co));
  }
  p.physical_experts = slots;
  p.groups = groups;
  return p;
}

struct row {
  std::string strategy;
  int nodes;
  int devices;
  double seconds;
  double max_over_mean;  ///< mean over the layers
  double cross_node;     ///< share of the co-activation that crosses nodes
};

}  // namespace

int place(const options& opt, std::ostream& out) {
  place::problem p = deepseek_v3(opt.seed);
  double co_total = 0.0;
  for (const auto& c : p.coactivation) {
    for (int i = 0; i < experts; ++i) {
      for (int j = i + 1; j < experts; ++j) co_total += c[i * experts + j];
    }
  }
  std::vector<row> rows;
  for (const auto& [nodes, devices] : {std::pair{32, 32}, std::pair{4, 32}}) {
    p.nodes = nodes;
    p.devices = devices;
    for (auto s : {place::strategy::contiguous, place::strategy::load_aware, place::strategy::eplb,
                   place::strategy::topology_aware}) {
      place::problem q = p;
      if (!place::has_replicas(s)) q.physical_experts = experts;
      place::placement x;
      const double sec = time_median(opt.min_time_s, 3, [&] { x = place::place(s, q); });
      double mom = 0.0;
      for (const auto& d : x.device_load) mom += place::max_over_mean(d);
      rows.push_back({std::string(place::to_string(s)), nodes, devices, sec, mom / layers,
                      place::cross_node_coactivation(q, x) / co_total});
    }
  }
  // The command: moesim place --strategy eplb --weights '[[...]]' ... --json, in-process.
  std::string weights = nlohmann::json(p.loads).dump();
  std::vector<std::string> args = {"--strategy",
                                   "eplb",
                                   "--weights",
                                   weights,
                                   "--physical-experts",
                                   std::to_string(slots),
                                   "--groups",
                                   std::to_string(groups),
                                   "--nodes",
                                   "32",
                                   "--devices",
                                   "32",
                                   "--json"};
  std::size_t printed = 0;
  const double command_s = time_median(opt.min_time_s, 3, [&] {
    std::ostringstream sink;
    cli::place_command(args, sink);
    printed = sink.str().size();
  });
  const bool met = command_s <= place_target_s;
  if (opt.json) {
    nlohmann::ordered_json j{{"layers", layers}, {"experts", experts},
                             {"slots", slots},   {"groups", groups},
                             {"tokens", tokens}, {"rows", nlohmann::ordered_json::array()}};
    for (const auto& r : rows) {
      j["rows"].push_back(nlohmann::ordered_json{{"strategy", r.strategy},
                                                 {"nodes", r.nodes},
                                                 {"devices", r.devices},
                                                 {"seconds", r.seconds},
                                                 {"max_over_mean", r.max_over_mean},
                                                 {"cross_node_share", r.cross_node}});
    }
    j["command_s"] = command_s;
    j["command_output_bytes"] = printed;
    j["target_s"] = place_target_s;
    j["met"] = met;
    out << j.dump(2) << "\n";
    return 0;
  }
  fmt::print(out, "DeepSeek-V3 sizes: {} layers x {} experts ({} groups), {} slots\n", layers,
             experts, groups, slots);
  fmt::print(out, "  {:<16} {:>12} {:>12} {:>14} {:>18}\n", "strategy", "nodes x gpus", "seconds",
             "max/mean", "cross-node co-act");
  for (const auto& r : rows) {
    fmt::print(out, "  {:<16} {:>12} {:>12.5f} {:>14.4f} {:>17.1f}%\n", r.strategy,
               fmt::format("{}x{}", r.nodes, r.devices / r.nodes), r.seconds, r.max_over_mean,
               100 * r.cross_node);
  }
  fmt::print(out,
             "moesim place --strategy eplb ... --json (in-process, {} bytes out): {:.4f} s "
             "(target <= {:g} s: {})\n",
             printed, command_s, place_target_s, met ? "met" : "NOT met");
  return 0;
}

}  // namespace moesim::bench
