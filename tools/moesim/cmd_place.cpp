// `moesim place`: one expert-placement strategy (sim/place) alone on per-expert loads, one row
// per MoE layer, printing phy2log, log2phy, logcnt and the per-device loads (text, or one JSON
// object with --json). Bad input (unreadable or malformed weights, shapes, sizes, an unknown
// strategy) is an io::input_error: exit 2 with the numbers.
#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

#include <cctype>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/io/error.hpp"
#include "sim/io/limits.hpp"
#include "sim/io/metrics.hpp"
#include "sim/place/placement.hpp"
#include "tools/moesim/commands.hpp"
#include "tools/moesim/options.hpp"

namespace moesim::cli {

namespace {

/// The JSON of --weights / --coactivation: inline when it starts with '[', else a file.
/// `what` names the option ("--weights"); `origin` is set to what the value came from.
io::json read_json_arg(const std::string& text, const char* what, std::string& origin) {
  const auto first = text.find_first_not_of(" \t\r\n");
  std::string body;
  if (first != std::string::npos && text[first] == '[') {
    origin = what;
    body = text;
  } else {
    origin = std::string(what) + " " + text;
    body = io::read_input_file(text, origin + ": cannot read the file");
  }
  try {
    return io::json::parse(body);
  } catch (const io::json::exception& e) {  // a syntax error, or a number beyond a double
    throw io::input_error(origin + ": not JSON: " + e.what());
  }
}

/// A JSON number array `j` (path `where`) as doubles.
std::vector<double> number_row(const io::json& j, const std::string& origin,
                               const std::string& where) {
  if (!j.is_array()) {
    throw io::input_error(fmt::format("{}: {}: expected an array of numbers, got {}", origin,
                                      where, j.dump()));
  }
  std::vector<double> row;
  row.reserve(j.size());
  for (std::size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_number()) {
      throw io::input_error(fmt::format("{}: {}[{}]: expected a number, got {}", origin, where, i,
                                        j[i].dump()));
    }
    row.push_back(j[i].get<double>());
  }
  return row;
}

/// Loads: an array of rows (one per layer) of numbers; a flat array of numbers is one layer.
std::vector<std::vector<double>> parse_loads(const io::json& j, const std::string& origin) {
  if (!j.is_array() || j.empty()) {
    throw io::input_error(origin + ": expected an array with one array of expert loads per "
                                   "layer, e.g. [[90, 132, 40], [20, 107, 104]]");
  }
  if (j[0].is_number()) return {number_row(j, origin, "weights")};
  std::vector<std::vector<double>> loads;
  for (std::size_t l = 0; l < j.size(); ++l) {
    loads.push_back(number_row(j[l], origin, fmt::format("weights[{}]", l)));
  }
  return loads;
}

/// Co-activation: per layer an experts x experts matrix of rows, flattened row-major.
std::vector<std::vector<double>> parse_coactivation(const io::json& j, const std::string& origin) {
  if (!j.is_array()) {
    throw io::input_error(origin + ": expected one experts x experts matrix per layer");
  }
  std::vector<std::vector<double>> out;
  for (std::size_t l = 0; l < j.size(); ++l) {
    if (!j[l].is_array()) {
      throw io::input_error(fmt::format("{}: coactivation[{}]: expected a matrix (array of rows)",
                                        origin, l));
    }
    std::vector<double> flat;
    for (std::size_t r = 0; r < j[l].size(); ++r) {
      const auto row = number_row(j[l][r], origin, fmt::format("coactivation[{}][{}]", l, r));
      if (row.size() != j[l].size()) {
        throw io::input_error(fmt::format(
            "{}: coactivation[{}][{}] has {} entries, the matrix has {} rows (square expected)",
            origin, l, r, row.size(), j[l].size()));
      }
      flat.insert(flat.end(), row.begin(), row.end());
    }
    out.push_back(std::move(flat));
  }
  return out;
}

place::strategy strategy_of(const std::string& name) {
  try {
    return place::parse_strategy(name);
  } catch (const std::invalid_argument& e) {
    std::vector<std::string> names(place::strategy_names().begin(),
                                   place::strategy_names().end());
    const std::string near = io::did_you_mean(name, names);
    std::string msg = "--strategy: " + std::string(e.what());
    if (!near.empty()) msg += "; did you mean '" + near + "'?";
    throw io::input_error(msg);
  }
}

struct state {
  std::string strategy;
  std::string weights;
  std::string coactivation;
  int physical = 0;
  int groups = 1;
  int nodes = 1;
  int devices = 1;
  std::uint64_t seed = 0;
  bool json = false;
  std::ostream* out = &std::cout;
};

/// EPLB's policy for these sizes (eplb.py rebalance_experts), for the header line.
std::string policy_note(place::strategy s, const place::problem& p) {
  if (s != place::strategy::eplb) return "";
  return p.groups % p.nodes == 0 ? ", hierarchical (groups to nodes to devices)"
                                 : ", global (the nodes do not divide the groups)";
}

int run_place(const state& st) {
  std::ostream& out = *st.out;
  const place::strategy s = strategy_of(st.strategy);
  place::problem p;
  std::string origin;
  p.loads = parse_loads(read_json_arg(st.weights, "--weights", origin), origin);
  std::string co_origin;
  if (!st.coactivation.empty()) {
    p.coactivation =
        parse_coactivation(read_json_arg(st.coactivation, "--coactivation", co_origin), co_origin);
  }
  p.physical_experts = st.physical > 0 ? st.physical : static_cast<int>(p.loads[0].size());
  p.groups = st.groups;
  p.nodes = st.nodes;
  p.devices = st.devices;
  p.seed = st.seed;
  place::placement x;
  try {
    x = place::place(s, p);
  } catch (const std::invalid_argument& e) {
    // Name where the bad value came from: the weights, the co-activation, or the sizes.
    const std::string_view what = e.what();
    const std::string from = what.starts_with("loads")          ? origin
                              : what.starts_with("coactivation") ? co_origin
                                                                 : std::string("place");
    throw io::input_error(from + ": " + e.what());
  }
  std::vector<double> mom;
  for (const auto& row : x.device_load) mom.push_back(place::max_over_mean(row));
  const std::size_t experts = p.loads[0].size();
  if (st.json) {
    io::json j{{"strategy", place::to_string(s)},
               {"layers", p.loads.size()},
               {"experts", experts},
               {"physical_experts", p.physical_experts},
               {"groups", p.groups},
               {"nodes", p.nodes},
               {"devices", p.devices}};
    if (s == place::strategy::random) j["seed"] = p.seed;
    if (s == place::strategy::eplb) {
      j["policy"] = p.groups % p.nodes == 0 ? "hierarchical" : "global";
    }
    j["phy2log"] = x.phy2log;
    j["log2phy"] = x.log2phy;
    j["logcnt"] = x.logcnt;
    j["device_load"] = x.device_load;
    j["max_over_mean"] = mom;
    if (!p.coactivation.empty()) {
      j["cross_node_coactivation"] = place::cross_node_coactivation(p, x);
    }
    out << io::dump(j);
    return 0;
  }
  fmt::print(out,
             "# {}: {} layers, {} experts in {} slots ({} redundant), {} groups, {} nodes, {} "
             "devices ({} slots each){}\n",
             place::to_string(s), p.loads.size(), experts, p.physical_experts,
             p.physical_experts - static_cast<int>(experts), p.groups, p.nodes, p.devices,
             p.physical_experts / p.devices, policy_note(s, p));
  for (std::size_t l = 0; l < p.loads.size(); ++l) {
    fmt::print(out, "layer {}: device load max/mean {:.4f}\n", l, mom[l]);
    fmt::print(out, "  phy2log     {}\n", x.phy2log[l]);
    fmt::print(out, "  log2phy     {}\n", x.log2phy[l]);
    fmt::print(out, "  logcnt      {}\n", x.logcnt[l]);
    fmt::print(out, "  device_load {}\n", x.device_load[l]);
  }
  if (!p.coactivation.empty()) {
    fmt::print(out, "cross-node co-activation: {}\n", place::cross_node_coactivation(p, x));
  }
  return 0;
}

void add_place(CLI::App& app, commands& cmds, std::ostream& out) {
  auto* sub = app.add_subcommand(
      "place", "Place experts on devices with one strategy (contiguous, round_robin, random, "
               "load_aware, eplb, topology_aware) from per-expert loads");
  auto st = std::make_shared<state>();
  st->out = &out;
  sub->add_option("--strategy", st->strategy,
                  "contiguous, round_robin, random, load_aware, eplb or topology_aware")
      ->required();
  sub->add_option("--weights", st->weights,
                  "Per-expert loads, one array per layer: a JSON file or inline JSON, e.g. "
                  "'[[90,132,40,61],[20,107,104,64]]'")
      ->required();
  // Sizes up to 2^20 (as a scenario's experts): beyond, the slot tables alone take GiBs.
  sub->add_option("--physical-experts", st->physical,
                  "Slots per layer (>= experts, a multiple of --devices; default: the experts)")
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--groups", st->groups, "Expert groups (EPLB's hierarchical policy)")
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--nodes", st->nodes, "Nodes (divide --devices)")->check(CLI::Range(1, 1 << 20));
  sub->add_option("--devices", st->devices, "Devices (GPUs) in all")
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--seed", st->seed, "Seed of the random strategy")->check(seed_value());
  sub->add_option("--coactivation", st->coactivation,
                  "topology_aware: per layer an experts x experts matrix of tokens that picked "
                  "both experts (JSON file or inline)");
  sub->add_flag("--json", st->json, "Print one JSON object");
  sub->callback([&cmds, st] { cmds.run = [st] { return run_place(*st); }; });
}

}  // namespace

void add_place_command(CLI::App& app, commands& cmds) { add_place(app, cmds, std::cout); }

int place_command(const std::vector<std::string>& args, std::ostream& out) {
  CLI::App app;
  commands cmds;
  add_place(app, cmds, out);
  std::vector<std::string> reversed = {args.rbegin(), args.rend()};  // CLI11 takes them reversed
  reversed.push_back("place");
  app.parse(reversed);
  return cmds.run();
}

}  // namespace moesim::cli
