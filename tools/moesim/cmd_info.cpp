// Verbs that inspect one part on its own: topo (a cluster's graph), model (a model's spec and
// parameter counts), route (a router's behaviour on one batch).
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <fstream>
#include <iostream>

#include "models/capacity.hpp"
#include "models/model_params.hpp"
#include "models/router.hpp"
#include "models/routing_stats.hpp"
#include "models/token_source.hpp"
#include "sim/io/limits.hpp"
#include "sim/io/metrics.hpp"
#include "sim/io/spec_loader.hpp"
#include "sim/io/spec_schemas.hpp"
#include "sim/io/units.hpp"
#include "tools/moesim/commands.hpp"
#include "tools/moesim/options.hpp"
#include "topologies/cluster.hpp"
#include "topologies/metrics.hpp"

namespace moesim::cli {

namespace {

// Pure layers report bad arguments as std::invalid_argument: for a verb that is bad input.
template <class F>
auto as_input(const std::string& what, F&& f) {
  try {
    return f();
  } catch (const std::invalid_argument& e) {
    throw io::input_error(what + ": " + e.what());
  }
}

}  // namespace

void add_topo_command(CLI::App& app, commands& cmds) {
  auto* sub = app.add_subcommand(
      "topo", "Describe a cluster's interconnect: devices, links, diameter, bisection");
  struct state {
    std::string cluster;
    int nodes = 0;
    std::string shape;
    std::string dot;
    bool json = false;
    bool allow_large = false;
  };
  auto st = std::make_shared<state>();
  add_allow_large(sub, st->allow_large);
  sub->add_option("cluster", st->cluster, "Cluster preset name or YAML file")->required();
  sub->add_option("--nodes", st->nodes, "NVSwitch nodes joined by the fat-tree")
      ->check(CLI::Range(1, 1 << 16));
  sub->add_option("--shape", st->shape, "Torus slice shape, e.g. 8x16x16");
  sub->add_option("--dot", st->dot, "Write the graph in Graphviz DOT format here");
  sub->add_flag("--json", st->json, "Print JSON");
  sub->callback([&cmds, st] {
    cmds.run = [st] {
      std::vector<std::string> overrides;
      if (st->nodes > 0) overrides.push_back(fmt::format("nodes={}", st->nodes));
      if (!st->shape.empty()) overrides.push_back("shape=" + st->shape);
      const auto c = io::load_cluster(st->cluster, overrides);
      io::check_cluster_limits(c.cluster, st->allow_large);
      const auto topo = as_input("cluster " + c.cluster.name,
                                 [&] { return topo::build_cluster(c.cluster, c.chip); });
      const auto s = topo::summarize(topo);
      if (!st->dot.empty()) {
        std::ofstream out(st->dot);
        if (!out) throw io::input_error(st->dot + ": cannot write the DOT file");
        topo::write_graphviz(out, topo);
      }
      if (st->json) {
        io::json j{{"cluster", c.cluster.name},
                   {"chip", c.chip.name},
                   {"label", s.label},
                   {"devices", s.devices},
                   {"vertices", s.vertices},
                   {"links", s.links},
                   {"hosts", s.hosts},
                   {"nics", s.nics},
                   {"switches", s.switches},
                   {"diameter_hops", s.diameter_hops},
                   {"bisection_bytes_per_s", s.bisection_bytes_per_s},
                   {"bisection_cut", s.bisection_cut}};
        std::cout << io::dump(j);
        return 0;
      }
      fmt::print(std::cout, "{} ({} x {})\n", s.label, s.devices, c.chip.name);
      fmt::print(std::cout, "  {:<22} {}\n", "devices", s.devices);
      fmt::print(std::cout, "  {:<22} {} ({} hosts, {} NICs, {} switches)\n", "vertices",
                 s.vertices, s.hosts, s.nics, s.switches);
      fmt::print(std::cout, "  {:<22} {}\n", "directed links", s.links);
      fmt::print(std::cout, "  {:<22} {} hops\n", "diameter", s.diameter_hops);
      fmt::print(std::cout, "  {:<22} {} per direction ({})\n", "bisection bandwidth",
                 io::format_bandwidth(s.bisection_bytes_per_s), s.bisection_cut);
      if (!st->dot.empty()) fmt::print(std::cout, "  graph written to {}\n", st->dot);
      return 0;
    };
  });
}

void add_model_command(CLI::App& app, commands& cmds) {
  auto* sub = app.add_subcommand("model", "Print a model's spec with its parameter counts");
  struct state {
    std::string name;
    std::vector<std::string> overrides;
    bool json = false;
  };
  auto st = std::make_shared<state>();
  sub->add_option("model", st->name, "Model preset name or YAML file")->required();
  sub->add_option("--set", st->overrides, "Override a key of the model, e.g. --set layers=4");
  sub->add_flag("--json", st->json, "Print JSON");
  sub->callback([&cmds, st] {
    cmds.run = [st] {
      const auto m = io::load_model(st->name, st->overrides);
      const auto total = models::total_params(m);
      const auto active = models::active_params(m);
      io::json j = io::model_type().to_json(m);
      j["total_params"] = total;
      j["active_params"] = active;
      j["weight_bytes"] = models::weight_bytes(m);
      if (m.moe) j["expert_weight_bytes"] = models::expert_weight_bytes(m);
      j["kv_cache_bytes_per_token"] = models::kv_cache_bytes_per_token(m, m.dtype);
      if (st->json) {
        std::cout << io::dump(j);
        return 0;
      }
      fmt::print(std::cout, "{}  ({})\n", m.name, m.source);
      fmt::print(std::cout, "  {:<26} {:.4g} B\n", "total parameters",
                 static_cast<double>(total) / 1e9);
      fmt::print(std::cout, "  {:<26} {:.4g} B\n", "active parameters",
                 static_cast<double>(active) / 1e9);
      fmt::print(std::cout, "  {:<26} {} ({})\n", "weights",
                 io::format_bytes(models::weight_bytes(m)), models::to_string(m.dtype));
      fmt::print(std::cout, "  {:<26} {} x hidden {}, vocab {}\n", "layers", m.layers, m.hidden,
                 m.vocab);
      fmt::print(std::cout, "  {:<26} {} heads, {} kv heads, head dim {}\n",
                 fmt::format("attention ({})", models::to_string(m.attention.kind)),
                 m.attention.heads, m.attention.kv_heads, m.attention.head_dim);
      if (m.moe) {
        fmt::print(std::cout, "  {:<26} {} experts, top-{}, {} shared, ffn {}, {} MoE layers\n",
                   "moe", m.moe->experts, m.moe->top_k, m.moe->shared_experts,
                   m.moe->expert_ffn_hidden, models::moe_layer_count(m));
        fmt::print(std::cout, "  {:<26} {}\n", "one expert's weights",
                   io::format_bytes(models::expert_weight_bytes(m)));
      }
      fmt::print(std::cout, "  {:<26} {} per token\n", "KV cache",
                 io::format_bytes(models::kv_cache_bytes_per_token(m, m.dtype)));
      return 0;
    };
  });
}

void add_route_command(CLI::App& app, commands& cmds) {
  auto* sub = app.add_subcommand(
      "route", "Route a batch of tokens through one MoE layer and print its statistics");
  struct state {
    std::string model;
    int tokens = 0;
    bool uniform = false;
    double skew = models::default_token_skew;
    double capacity_factor = 0;
    std::string drop_policy = "lowest_score";
    int math_hidden = 0;
    int ep = 0;
    std::uint64_t seed = 1;
    bool json = false;
    bool allow_large = false;
  };
  auto st = std::make_shared<state>();
  add_allow_large(sub, st->allow_large);
  sub->add_option("--model", st->model, "Model preset name or YAML file")->required();
  sub->add_option("--tokens", st->tokens, "Tokens in the batch")
      ->required()
      ->check(CLI::Range(1, 1 << 22));
  auto* uni = sub->add_flag("--uniform", st->uniform,
                            "Random gate scores (as DeepEP's tests), through the router code");
  sub->add_option("--skew", st->skew, "Token-source topic skew (default: calibrated)")
      ->check(finite_range(0.0, 100.0))
      ->excludes(uni);
  sub->add_option("--capacity-factor", st->capacity_factor, "0 = dropless")
      ->check(finite_range(0.0, 1e6));
  sub->add_option("--drop-policy", st->drop_policy, "lowest_score or position")
      ->check(one_of({"lowest_score", "position"}));
  sub->add_option("--math-hidden", st->math_hidden, "Hidden size of the maths (0 = the model's)")
      ->check(CLI::Range(0, 1 << 16));
  sub->add_option("--ep", st->ep, "Also report per-rank load with this many EP ranks")
      ->check(CLI::Range(1, 1 << 16));
  sub->add_option("--seed", st->seed, "Random seed")->check(seed_value());
  sub->add_flag("--json", st->json, "Print JSON");
  sub->callback([&cmds, st] {
    cmds.run = [st] {
      const auto m = io::load_model(st->model);
      if (!m.moe) throw io::input_error("--model " + m.name + ": a dense model has no router");
      const int hidden = st->math_hidden > 0 ? st->math_hidden : m.hidden;
      const auto cfg = models::router_config_for(*m.moe);
      // The batch's activations (tokens x hidden) and scores (tokens x experts), floats, plus
      // the gate (hidden x experts).
      const double tokens = st->tokens;
      const double working = 4.0 * (tokens * hidden + tokens * cfg.experts +
                                    static_cast<double>(hidden) * cfg.experts);
      io::enforce_limit("route", working, limits::working_bytes,
                        fmt::format("bytes of activations and scores ({} tokens, hidden {}, {} "
                                    "experts; --math-hidden narrows it)",
                                    st->tokens, hidden, cfg.experts),
                        "held in memory at once", st->allow_large);
      rng gen = rng::stream(st->seed, "route");
      const models::router_output out = as_input("route", [&] {
        if (st->uniform) {
          return models::route_logits(models::uniform_logits(st->tokens, cfg.experts, gen), cfg);
        }
        models::token_source_config tc;
        tc.hidden = hidden;
        tc.skew = st->skew;
        const models::token_source source(tc, st->seed);
        rng wgen = rng::stream(st->seed, "gate");
        const auto gate = models::make_gate_weights(hidden, cfg.experts, wgen);
        return models::route(source.generate(st->tokens, 1, gen), gate, cfg);
      });
      const auto stats = models::compute_stats(out);
      const auto cap = models::apply_capacity_factor(out.decisions, cfg.top_k, st->capacity_factor,
                                                     models::parse_drop_policy(st->drop_policy));
      io::json j{{"model", m.name},
                 {"tokens", st->tokens},
                 {"experts", cfg.experts},
                 {"top_k", cfg.top_k},
                 {"mode", st->uniform ? "uniform" : "token-source"},
                 {"skew", st->uniform ? 0.0 : st->skew},
                 {"math_hidden", hidden},
                 {"unique_experts", stats.unique_experts},
                 {"expected_unique_experts_uniform",
                  models::expected_unique_experts(cfg.experts, cfg.top_k, st->tokens)},
                 {"load_max_over_mean", stats.load_max_over_mean},
                 {"load_cv2", stats.load_cv2},
                 {"importance_cv2", stats.importance_cv2},
                 {"switch_aux_loss", stats.switch_aux_loss},
                 {"z_loss", stats.z_loss},
                 {"capacity_factor", st->capacity_factor},
                 {"capacity", cap.capacity == models::unlimited_capacity ? io::json(nullptr)
                                                                         : io::json(cap.capacity)},
                 {"drop_rate", cap.drop_rate}};
      if (st->ep > 0) {
        if (cfg.experts % st->ep != 0) {
          throw io::input_error(fmt::format("--ep {} does not divide the {} experts of {}", st->ep,
                                            cfg.experts, m.name));
        }
        const auto ranks = models::group_load(stats.expert_load, cfg.experts / st->ep);
        j["ep"] = st->ep;
        j["rank_load_max_over_mean"] = models::max_over_mean(ranks);
      }
      if (st->json) {
        std::cout << io::dump(j);
        return 0;
      }
      fmt::print(std::cout, "{}: {} tokens, top-{} of {} experts ({})\n", m.name, st->tokens,
                 cfg.top_k, cfg.experts, j["mode"].get<std::string>());
      for (const auto& [k, v] : j.items()) {
        if (k == "model" || k == "tokens" || k == "experts" || k == "top_k" || k == "mode")
          continue;
        fmt::print(std::cout, "  {:<34} {}\n", k, v.dump());
      }
      return 0;
    };
  });
}

}  // namespace moesim::cli
