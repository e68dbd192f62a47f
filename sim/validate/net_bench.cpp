#include "sim/validate/net_bench.hpp"

#include <algorithm>
#include <stdexcept>

#include "models/router.hpp"
#include "models/token_source.hpp"
#include "sim/io/error.hpp"
#include "sim/io/limits.hpp"
#include "sim/io/spec_loader.hpp"
#include "sim/io/units.hpp"
#include "topologies/cluster.hpp"

namespace moesim::validate {

using io::input_error;
using io::load_cluster;
using io::parse_binary_size;
using io::parse_number;

namespace {

using sim::net::collective_spec;

std::string str(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

double size_of(const std::string& text, const std::string& what) {
  try {
    return parse_binary_size(text);
  } catch (const std::invalid_argument& e) {
    throw input_error(what + " '" + text + "': " + e.what());
  }
}

}  // namespace

bench_cluster make_bench_cluster(topo::cluster_spec cluster, topo::chip_spec chip) {
  try {
    topo::validate(chip);
    topo::validate(cluster);
    topo::topology graph = topo::build_cluster(cluster, chip);
    auto params = sim::net::collective_params_for(chip);
    return {std::move(cluster), std::move(chip), std::move(graph), params};
  } catch (const std::invalid_argument& e) {
    throw input_error(e.what());
  }
}

bench_cluster load_bench_cluster(const std::string& name_or_file, int nodes,
                                 const std::string& shape, bool allow_large) {
  std::vector<std::string> overrides;
  if (nodes > 0) overrides.push_back("nodes=" + std::to_string(nodes));
  if (!shape.empty()) overrides.push_back("shape=" + shape);
  auto r = load_cluster(name_or_file, overrides);
  io::check_cluster_limits(r.cluster, allow_large);
  return make_bench_cluster(std::move(r.cluster), std::move(r.chip));
}

collective_figures bench_collective(const bench_cluster& c, const collective_spec& spec,
                                    sim::net::timing_model model, double resolve_quantum) {
  sim::net::collective_plan plan;
  try {
    plan = sim::net::plan_collective(c.topo, c.params, spec);
  } catch (const std::invalid_argument& e) {
    throw input_error(std::string(to_string(spec.op)) + " on " + c.topo.label + ": " + e.what());
  }
  const auto t =
      sim::net::time_collective(c.topo, c.params, plan, model, std::nullopt, resolve_quantum);
  collective_figures f;
  f.bytes = spec.bytes;
  f.time_s = sim::seconds(t.elapsed_ps);
  f.ranks = plan.ranks_per_group;
  f.groups = plan.groups;
  f.algbw_GBps = f.time_s > 0 ? spec.bytes / f.time_s / 1e9 : 0;
  f.busbw_GBps = f.algbw_GBps * sim::net::bus_bandwidth_factor(spec.op, f.ranks);
  f.algorithm = std::string(to_string(t.algorithm));
  f.protocol = std::string(to_string(t.proto));
  return f;
}

std::vector<double> parse_size_sweep(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ':') {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() == 1) return {size_of(parts[0], "--bytes")};
  if (parts.size() != 3 || parts[2].size() < 2 || (parts[2][0] != 'x' && parts[2][0] != '+'))
    throw input_error("--bytes '" + text + "': expected SIZE or FROM:TO:xFACTOR or FROM:TO:+STEP");
  const double from = size_of(parts[0], "--bytes");
  const double to = size_of(parts[1], "--bytes");
  if (!(from > 0) || to < from)
    throw input_error("--bytes '" + text + "': need 0 < FROM <= TO, got " + str(from) + " and " +
                      str(to));
  const bool factor = parts[2][0] == 'x';
  double step = 0;
  try {
    step = factor ? parse_number(parts[2].substr(1)) : parse_binary_size(parts[2].substr(1));
  } catch (const std::invalid_argument& e) {
    throw input_error("--bytes '" + text + "': bad step: " + e.what());
  }
  if (factor ? !(step > 1) : !(step > 0))
    throw input_error("--bytes '" + text + "': the step must be " +
                      (factor ? std::string("a factor > 1") : std::string("> 0 bytes")) + ", got " +
                      str(step));
  std::vector<double> out;
  for (double s = from; s <= to * (1 + 1e-12); s = factor ? s * step : s + step) {
    out.push_back(s);
    if (out.size() > 4096) throw input_error("--bytes '" + text + "': more than 4096 sizes");
  }
  return out;
}

wire_dtype parse_wire_dtype(const std::string& text) {
  if (text == "fp8") return wire_dtype::fp8;
  if (text == "bf16") return wire_dtype::bf16;
  throw input_error("dtype '" + text + "': expected fp8 or bf16");
}

sim::net::expert_traffic dispatch_traffic(const bench_cluster& c, const dispatch_options& o) {
  const int devices = c.topo.device_count();
  if (o.ranks < 1 || o.ranks > devices)
    throw input_error("--ranks " + std::to_string(o.ranks) + ": the cluster has " +
                      std::to_string(devices) + " devices");
  if (o.tokens < 1 || o.hidden < 1) throw input_error("--tokens and --hidden must be >= 1");
  if (o.experts < 1 || o.experts % o.ranks != 0)
    throw input_error("--experts " + std::to_string(o.experts) +
                      " must be a positive multiple of " + "--ranks " + std::to_string(o.ranks));
  if (o.topk < 1 || o.topk > o.experts)
    throw input_error("--topk " + std::to_string(o.topk) + " must be in [1, experts " +
                      std::to_string(o.experts) + "]");
  const auto n = static_cast<std::size_t>(o.ranks);
  // Node index of every rank, in order of first appearance.
  std::vector<int> node(n);
  std::vector<int> seen;
  for (std::size_t r = 0; r < n; ++r) {
    const int g = c.topo.devices[r].group;
    auto it = std::find(seen.begin(), seen.end(), g);
    if (it == seen.end()) it = seen.insert(seen.end(), g);
    node[r] = static_cast<int>(it - seen.begin());
  }
  const auto nodes = seen.size();
  models::router_config cfg;
  cfg.experts = o.experts;
  cfg.top_k = o.topk;
  if (o.node_groups > 0) {
    if (o.node_groups > static_cast<int>(nodes) || o.experts % static_cast<int>(nodes) != 0)
      throw input_error("--node-groups " + std::to_string(o.node_groups) +
                        " needs <= " + std::to_string(nodes) + " nodes dividing --experts " +
                        std::to_string(o.experts));
    cfg.n_groups = static_cast<int>(nodes);
    cfg.topk_groups = o.node_groups;
  }
  try {
    models::validate(cfg);
  } catch (const std::invalid_argument& e) {
    throw input_error(std::string("router: ") + e.what());
  }
  const int per_rank = o.experts / o.ranks;
  sim::net::expert_traffic t;
  t.ranks = o.ranks;
  t.nodes = static_cast<int>(nodes);
  t.pair_tokens.assign(n * n, 0.0);
  t.node_tokens.assign(n * nodes, 0.0);
  t.copies.assign(n * n, 0.0);
  auto gen = rng::stream(o.seed, "dispatch.scores");
  std::vector<int> rank_stamp(n, -1);
  std::vector<int> node_stamp(nodes, -1);
  for (std::size_t s = 0; s < n; ++s) {
    const auto routed =
        models::route_logits(models::uniform_logits(o.tokens, o.experts, gen), cfg).decisions;
    for (int tok = 0; tok < routed.tokens; ++tok) {
      const int stamp = static_cast<int>(s) * o.tokens + tok;
      for (const auto e : routed.experts_of(tok)) {
        const auto d = static_cast<std::size_t>(e / per_rank);
        const auto k = static_cast<std::size_t>(node[d]);
        t.copies[s * n + d] += 1;
        if (rank_stamp[d] != stamp) {
          rank_stamp[d] = stamp;
          t.pair_tokens[s * n + d] += 1;
        }
        if (node_stamp[k] != stamp) {
          node_stamp[k] = stamp;
          t.node_tokens[s * nodes + k] += 1;
        }
      }
    }
  }
  return t;
}

dispatch_figures bench_dispatch(const bench_cluster& c, const dispatch_options& o) {
  using sim::net::ep_mode;
  const auto traffic = dispatch_traffic(c, o);
  const double h = o.hidden;
  // DeepEP's wire formats: FP8 carries one 4-byte scale per 128 channels; low-latency dispatch
  // adds 16 bytes of metadata per copy (deepseek-ai/DeepEP tests/test_low_latency.py:
  // `hidden + hidden / 128 * 4 + 16` bytes per FP8 copy, `hidden * 2` per BF16 copy).
  auto token_bytes = [&](wire_dtype d, bool dispatch) {
    double b = d == wire_dtype::fp8 ? h + h / 128 * 4 : 2 * h;
    if (dispatch && o.mode == ep_mode::low_latency && d == wire_dtype::fp8) b += 16;
    return b;
  };
  const double dispatch_b = token_bytes(o.dispatch, true);
  const double combine_b = token_bytes(o.combine, false);
  // DeepEP's counts: per-rank unique (token, rank) pairs intranode, (token, node) pairs
  // internode, every copy in low-latency mode; mean over ranks.
  const std::vector<double>* counts = &traffic.pair_tokens;
  dispatch_figures f;
  f.accounting = "unique (token, rank) pairs received per rank (DeepEP normal, intranode)";
  if (o.mode == ep_mode::low_latency) {
    counts = &traffic.copies;
    f.accounting = "(token, expert) copies per rank, local included (DeepEP low-latency)";
  } else if (traffic.nodes > 1) {
    counts = &traffic.node_tokens;
    f.accounting = "unique (token, node) pairs per rank, own node included (DeepEP RDMA bytes)";
  }
  double total = 0;
  for (double v : *counts) total += v;
  const double per_rank = total / o.ranks;
  f.dispatch_bytes = per_rank * dispatch_b;
  f.combine_bytes = per_rank * combine_b;
  auto params = c.params;
  f.link_efficiency_from = "collective.ep_link_efficiency";
  if (!params.ep_scale_up_efficiency) {
    f.link_efficiency_from = "efficiency.link (the chip preset has no ep_link_efficiency)";
  }
  params.scale_up_efficiency = params.ep_scale_up_efficiency.value_or(params.scale_up_efficiency);
  f.link_efficiency = params.scale_up_efficiency;
  if (o.mode == ep_mode::low_latency) {
    // One DeepEP low-latency kernel: its own fixed cost, then its copies; no NCCL step latency.
    params.launch_overhead_ps = params.ep_low_latency_kernel_ps.value_or(0);
    params.scale_up_step_latency_ps = 0;
    params.scale_out_step_latency_ps = 0;
    f.fixed_cost_from = params.ep_low_latency_kernel_ps
                            ? "collective.ep_low_latency_kernel_ps"
                            : "none (the chip preset has no ep_low_latency_kernel_ps)";
  } else {
    f.fixed_cost_from = "collective.launch_overhead_ps and step latencies (NCCL Simple)";
  }
  f.fixed_cost_s = sim::seconds(params.launch_overhead_ps);
  try {
    for (bool combine : {false, true}) {
      if (!(combine ? o.time_combine : o.time_dispatch)) continue;
      const auto plan = sim::net::plan_expert_exchange(c.topo, traffic, o.mode,
                                                       combine ? combine_b : dispatch_b, combine);
      const auto t = sim::net::time_collective(c.topo, params, plan, o.model,
                                               sim::net::protocol::simple, o.resolve_quantum);
      (combine ? f.combine_time_s : f.dispatch_time_s) = sim::seconds(t.elapsed_ps);
    }
  } catch (const std::invalid_argument& e) {
    throw input_error(std::string("dispatch on ") + c.topo.label + ": " + e.what());
  }
  f.dispatch_GBps = f.dispatch_time_s > 0 ? f.dispatch_bytes / f.dispatch_time_s / 1e9 : 0;
  f.combine_GBps = f.combine_time_s > 0 ? f.combine_bytes / f.combine_time_s / 1e9 : 0;
  return f;
}

}  // namespace moesim::validate
