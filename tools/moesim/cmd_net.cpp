// Network verbs: collective (nccl-tests style), dispatch (DeepEP style).
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <iostream>

#include "sim/io/error.hpp"
#include "sim/io/limits.hpp"
#include "sim/io/metrics.hpp"
#include "sim/io/units.hpp"
#include "sim/validate/net_bench.hpp"
#include "tools/moesim/commands.hpp"
#include "tools/moesim/options.hpp"

namespace moesim::cli {

namespace {

sim::net::timing_model timing_of(const std::string& text) {
  if (text == "flow") return sim::net::timing_model::flow;
  if (text == "analytical") return sim::net::timing_model::analytical;
  throw io::input_error("--network '" + text + "': expected flow or analytical");
}

// --cluster and --nodes, shared by the benchmark verbs.
void add_cluster_options(CLI::App* sub, std::string& cluster, int& nodes) {
  sub->add_option("--cluster", cluster, "Cluster preset name or YAML file")->required();
  sub->add_option("--nodes", nodes, "NVSwitch nodes joined by the fat-tree")
      ->check(CLI::Range(1, 1 << 16));
}

// --network and --resolve-quantum, shared by the benchmark verbs. The flow model re-solves with
// the named quantum (sim/net/network.hpp): 0.02 keeps a skewed 256-GPU all-to-all within 0.3% of
// the exact makespan and each flow within about 1% (p99; `moesim bench alltoall-exact`) at a
// fraction of the exact solve's time (0.3 s against 1.5-2 minutes).
struct network_choice {
  std::string model = "flow";
  double resolve_quantum = validate::default_resolve_quantum;

  [[nodiscard]] std::string describe() const {
    if (model != "flow") return model + " network model";
    if (resolve_quantum == 0) return "flow network model, exact re-solves";
    return fmt::format("flow network model, re-solve quantum {} (--resolve-quantum 0: exact)",
                       resolve_quantum);
  }
  void add_to(io::json& j) const {
    j["network"] = model;
    if (model == "flow") j["resolve_quantum"] = resolve_quantum;
  }
};

void add_network_options(CLI::App* sub, network_choice& n) {
  sub->add_option("--network", n.model, "flow (max-min sharing) or analytical")
      ->check(one_of({"flow", "analytical"}));
  sub->add_option("--resolve-quantum", n.resolve_quantum,
                  "Flow model: re-solve quantum q, a named approximation (0: exact; default 0.02)")
      ->check(finite_range(0.0, 0.1));
}

// "x,z" or "0,2" -> axis indices.
std::vector<int> parse_axes(const std::string& text) {
  std::vector<int> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(',', start), text.size());
    const std::string a = text.substr(start, end - start);
    if (a == "x" || a == "y" || a == "z") {
      out.push_back(a[0] - 'x');
    } else if (!a.empty() && a.find_first_not_of("0123456789") == std::string::npos &&
               a.size() < 4) {
      out.push_back(std::stoi(a));
    } else {
      throw io::input_error("--axes '" + text +
                            "': expected axis names x, y, z or indices, "
                            "comma-separated");
    }
    start = end + 1;
  }
  return out;
}

}  // namespace

void add_collective_command(CLI::App& app, commands& cmds) {
  auto* sub = app.add_subcommand(
      "collective", "Time a collective alone on a cluster, with nccl-tests' size/time/algbw/busbw");
  struct state {
    std::string cluster;
    int nodes = 0;
    std::string shape;
    std::string op;
    std::string bytes;
    int ranks = 0;
    std::string algorithm = "auto";
    std::string axes;
    network_choice network;
    bool json = false;
    bool allow_large = false;
  };
  auto st = std::make_shared<state>();
  add_allow_large(sub, st->allow_large);
  add_cluster_options(sub, st->cluster, st->nodes);
  sub->add_option("--shape", st->shape, "Torus slice shape, e.g. 8x16x16");
  sub->add_option("--op", st->op, "all-to-all, all-reduce, all-gather or reduce-scatter")
      ->required()
      ->check(one_of({"all-to-all", "all-reduce", "all-gather", "reduce-scatter"}));
  sub->add_option("--bytes", st->bytes,
                  "Size S (nccl-tests convention, binary units: 8G = 8 GiB) or a sweep "
                  "FROM:TO:xFACTOR, e.g. 8:16G:x2")
      ->required();
  sub->add_option("--ranks", st->ranks, "Ranks: devices 0..N-1 (default: every device)")
      ->check(CLI::Range(1, 1 << 24));
  sub->add_option("--algorithm", st->algorithm,
                  "auto, ring, tree, nvls, direct, hierarchical or torus")
      ->check(one_of({"auto", "ring", "tree", "nvls", "direct", "hierarchical", "torus"}));
  sub->add_option("--axes", st->axes, "Torus: run over these mesh axes only, e.g. x,z");
  add_network_options(sub, st->network);
  sub->add_flag("--json", st->json, "Print JSON: one object, or an array for a sweep");
  sub->callback([&cmds, st] {
    cmds.run = [st] {
      if (st->nodes > 0 && !st->shape.empty())
        throw io::input_error("give --nodes (GPU clusters) or --shape (tori), not both");
      sim::net::collective_spec spec;
      try {
        spec.op = sim::net::parse_collective_op(st->op);
        spec.algorithm = sim::net::parse_collective_algorithm(st->algorithm);
      } catch (const std::invalid_argument& e) {
        throw io::input_error(std::string("collective: ") + e.what());
      }
      spec.ranks = st->ranks;
      if (!st->axes.empty()) spec.axes = parse_axes(st->axes);
      const auto model = timing_of(st->network.model);
      const auto sizes = validate::parse_size_sweep(st->bytes);
      const auto c =
          validate::load_bench_cluster(st->cluster, st->nodes, st->shape, st->allow_large);
      if (spec.op == sim::net::collective_op::all_to_all) {
        const double ranks = st->ranks > 0 ? st->ranks : c.topo.device_count();
        io::enforce_limit("collective", io::all_to_all_flows(ranks), limits::flows,
                          fmt::format("flows in an all-to-all of {} ranks", ranks),
                          "each flow takes ~380 bytes and ~16 us to simulate", st->allow_large);
      }
      std::vector<validate::collective_figures> rows;
      for (double s : sizes) {
        spec.bytes = s;
        rows.push_back(validate::bench_collective(c, spec, model, st->network.resolve_quantum));
      }
      if (st->json) {
        io::json out = io::json::array();
        for (const auto& f : rows) {
          io::json row{{"cluster", c.topo.label}, {"op", st->op},       {"bytes", f.bytes},
                       {"ranks", f.ranks},        {"groups", f.groups}, {"algorithm", f.algorithm},
                       {"protocol", f.protocol}};
          st->network.add_to(row);
          row["time_s"] = f.time_s;
          row["algbw_GBps"] = f.algbw_GBps;
          row["busbw_GBps"] = f.busbw_GBps;
          out.push_back(std::move(row));
        }
        std::cout << io::dump(
            sizes.size() == 1 && st->bytes.find(':') == std::string::npos ? out.front() : out);
        return 0;
      }
      const auto& f0 = rows.front();
      fmt::print(std::cout, "# {} on {}: {} ranks x {} group(s), {}\n", st->op, c.topo.label,
                 f0.ranks, f0.groups, st->network.describe());
      fmt::print(std::cout, "# {:>14} {:>12} {:>10} {:>10}  {}\n", "size(B)", "time(us)", "algbw",
                 "busbw", "algorithm/protocol");
      for (const auto& f : rows) {
        fmt::print(std::cout, "  {:>14.0f} {:>12.2f} {:>10.2f} {:>10.2f}  {}/{}\n", f.bytes,
                   f.time_s * 1e6, f.algbw_GBps, f.busbw_GBps, f.algorithm, f.protocol);
      }
      return 0;
    };
  });
}

void add_dispatch_command(CLI::App& app, commands& cmds) {
  auto* sub = app.add_subcommand(
      "dispatch", "Time MoE dispatch and combine like DeepEP's tests (random gate scores)");
  struct state {
    std::string cluster;
    int nodes = 0;
    validate::dispatch_options o;
    std::string dispatch_dtype = "fp8";
    std::string combine_dtype = "bf16";
    std::string mode = "normal";
    network_choice network;
    bool json = false;
    bool allow_large = false;
  };
  auto st = std::make_shared<state>();
  add_allow_large(sub, st->allow_large);
  add_cluster_options(sub, st->cluster, st->nodes);
  sub->add_option("--ranks", st->o.ranks, "EP ranks: devices 0..N-1")
      ->required()
      ->check(CLI::Range(1, 1 << 24));
  sub->add_option("--tokens", st->o.tokens, "Tokens per rank")->check(CLI::Range(1, 1 << 20));
  sub->add_option("--hidden", st->o.hidden, "Hidden size")->check(CLI::Range(1, 1 << 20));
  sub->add_option("--experts", st->o.experts, "Routed experts")->check(CLI::Range(1, 1 << 16));
  sub->add_option("--topk", st->o.topk, "Experts per token")->check(CLI::Range(1, 1 << 10));
  sub->add_option("--node-groups", st->o.node_groups, "Nodes a token may reach (0: no limit)")
      ->check(CLI::Range(0, 1 << 16));
  sub->add_option("--dispatch-dtype", st->dispatch_dtype, "fp8 or bf16")
      ->check(one_of({"fp8", "bf16"}));
  sub->add_option("--combine-dtype", st->combine_dtype, "fp8 or bf16")
      ->check(one_of({"fp8", "bf16"}));
  sub->add_option("--mode", st->mode, "normal or low-latency")
      ->check(one_of({"normal", "low-latency"}));
  sub->add_option("--seed", st->o.seed, "Seed of the random gate scores")->check(seed_value());
  add_network_options(sub, st->network);
  sub->add_flag("--json", st->json, "Print JSON");
  sub->callback([&cmds, st] {
    cmds.run = [st] {
      validate::dispatch_options o = st->o;
      // Each rank draws tokens x experts gate scores (held at once) and routes them.
      const double scores = static_cast<double>(o.tokens) * o.experts;
      io::enforce_limit(
          "dispatch", scores * 4, limits::working_bytes,
          fmt::format("bytes of gate scores ({} tokens x {} experts a rank)", o.tokens, o.experts),
          "held in memory at once", st->allow_large);
      io::enforce_limit("dispatch", scores * o.ranks, limits::gate_scores,
                        fmt::format("gate scores to draw and route ({} ranks x {} tokens x {} "
                                    "experts)",
                                    o.ranks, o.tokens, o.experts),
                        "~46 ns each", st->allow_large);
      io::enforce_limit("dispatch", io::all_to_all_flows(o.ranks), limits::flows,
                        fmt::format("flows in an all-to-all of {} ranks", o.ranks),
                        "each flow takes ~380 bytes and ~16 us to simulate", st->allow_large);
      o.dispatch = validate::parse_wire_dtype(st->dispatch_dtype);
      o.combine = validate::parse_wire_dtype(st->combine_dtype);
      if (st->mode == "normal") {
        o.mode = sim::net::ep_mode::normal;
      } else if (st->mode == "low-latency") {
        o.mode = sim::net::ep_mode::low_latency;
      } else {
        throw io::input_error("--mode '" + st->mode + "': expected normal or low-latency");
      }
      o.model = timing_of(st->network.model);
      o.resolve_quantum = st->network.resolve_quantum;
      const auto c = validate::load_bench_cluster(st->cluster, st->nodes, "", st->allow_large);
      const auto f = validate::bench_dispatch(c, o);
      if (st->json) {
        io::json j{{"cluster", c.topo.label}, {"ranks", o.ranks}, {"mode", st->mode}};
        st->network.add_to(j);
        j.update(io::json{{"accounting", f.accounting},
                          {"scale_up_efficiency", f.link_efficiency},
                          {"scale_up_efficiency_from", f.link_efficiency_from},
                          {"kernel_fixed_cost_s", f.fixed_cost_s},
                          {"kernel_fixed_cost_from", f.fixed_cost_from},
                          {"dispatch_bytes_per_rank", f.dispatch_bytes},
                          {"combine_bytes_per_rank", f.combine_bytes},
                          {"dispatch_time_s", f.dispatch_time_s},
                          {"combine_time_s", f.combine_time_s},
                          {"dispatch_GBps", f.dispatch_GBps},
                          {"combine_GBps", f.combine_GBps}});
        std::cout << io::dump(j);
        return 0;
      }
      fmt::print(std::cout, "{} {} on {}: {} ranks, {} tokens/rank, hidden {}, top-{} of {}\n",
                 st->mode, "dispatch/combine", c.topo.label, o.ranks, o.tokens, o.hidden, o.topk,
                 o.experts);
      fmt::print(std::cout, "  {}\n", st->network.describe());
      fmt::print(std::cout, "  bytes: {}\n", f.accounting);
      fmt::print(std::cout, "  scale-up links at {:.3g} of line rate ({})\n", f.link_efficiency,
                 f.link_efficiency_from);
      fmt::print(std::cout, "  fixed cost per kernel {:.3g} us ({})\n", f.fixed_cost_s * 1e6,
                 f.fixed_cost_from);
      fmt::print(std::cout, "  dispatch ({}): {:>10.2f} us  {:>8.2f} GB/s  ({} per rank)\n",
                 st->dispatch_dtype, f.dispatch_time_s * 1e6, f.dispatch_GBps,
                 io::format_bytes(f.dispatch_bytes));
      fmt::print(std::cout, "  combine  ({}): {:>10.2f} us  {:>8.2f} GB/s  ({} per rank)\n",
                 st->combine_dtype, f.combine_time_s * 1e6, f.combine_GBps,
                 io::format_bytes(f.combine_bytes));
      return 0;
    };
  });
}

}  // namespace moesim::cli
