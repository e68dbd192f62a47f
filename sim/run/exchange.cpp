#include "sim/run/exchange.hpp"

#include <algorithm>
#include <stdexcept>

#include "models/model_params.hpp"

namespace moesim::sim::run {

namespace {

/// NVLink time per byte of DeepEP's kernels relative to NCCL's (plan::charge): 1 for per_copy
/// exchanges or a chip without ep_link_efficiency.
double ep_nvlink_charge(const scenario& s) {
  if (s.moe.exchange == exchange_kind::per_copy || !s.chip.collective ||
      !s.chip.collective->ep_link_efficiency) {
    return 1.0;
  }
  return s.chip.efficiency.link.value_or(1.0) / *s.chip.collective->ep_link_efficiency;
}

/// Fixed cost of each dispatch and combine kernel: a decode pass's per_copy exchange on a chip
/// with collective.ep_low_latency_kernel_ps is DeepEP's low-latency kernels (one copy per token
/// and expert, as decode engines run them: SGLang's --deepep-mode auto takes low_latency for
/// decode), which pay it before their copies; any other exchange pays none, and an EP group of
/// one rank exchanges nothing.
time_ps ep_kernel_fixed_cost(const scenario& s) {
  if (s.moe.exchange != exchange_kind::per_copy || s.workload.kind != workload_kind::decode ||
      s.parallelism.ep < 2 || !s.chip.collective) {
    return 0;
  }
  return s.chip.collective->ep_low_latency_kernel_ps.value_or(0);
}

}  // namespace

expert_exchange::expert_exchange(machine& m, const scenario& s)
    : m_(m),
      s_(s),
      ep_(s.parallelism.ep),
      tp_(s.parallelism.tp),
      nodes_(s.moe.exchange == exchange_kind::hierarchical ? ep_nodes_of(s, m.layout())
                                                           : ep_nodes{}),
      nvlink_charge_(ep_nvlink_charge(s)),
      kernel_ps_(ep_kernel_fixed_cost(s)),
      legs_(legs_of(s.moe.exchange, ep_, nodes_)) {}

/// per_copy / per_rank: every (source, destination) pair, source-major. hierarchical: those
/// pairs inside a node, then each source to the rank at its own position on every other node,
/// then each such rank forwarding to the other ranks of its node.
std::vector<expert_exchange::leg> expert_exchange::legs_of(exchange_kind kind, int ep,
                                                           const ep_nodes& nodes) {
  std::vector<leg> legs;
  const bool hier = kind == exchange_kind::hierarchical;
  auto node = [&](int r) { return nodes.node[static_cast<std::size_t>(r)]; };
  auto position = [&](int r) { return nodes.position[static_cast<std::size_t>(r)]; };
  for (int a = 0; a < ep; ++a) {
    for (int b = 0; b < ep; ++b) {
      if (!hier || node(a) == node(b)) legs.push_back({a, b, leg_kind::direct, {}});
    }
  }
  if (!hier) return legs;
  // at[n][p]: the rank at position p on node n.
  std::vector<std::vector<int>> at(static_cast<std::size_t>(nodes.nodes),
                                   std::vector<int>(static_cast<std::size_t>(nodes.per_node)));
  for (int r = 0; r < ep; ++r) {
    at[static_cast<std::size_t>(node(r))][static_cast<std::size_t>(position(r))] = r;
  }
  for (int a = 0; a < ep; ++a) {
    for (int n = 0; n < nodes.nodes; ++n) {
      if (n == node(a)) continue;
      legs.push_back({a,
                      at[static_cast<std::size_t>(n)][static_cast<std::size_t>(position(a))],
                      leg_kind::to_node,
                      {}});
    }
  }
  for (int f = 0; f < ep; ++f) {
    std::vector<int> behind;
    for (int a = 0; a < ep; ++a) {
      if (node(a) != node(f) && position(a) == position(f)) behind.push_back(a);
    }
    for (int r : at[static_cast<std::size_t>(node(f))]) {
      if (r != f) legs.push_back({f, r, leg_kind::forward, behind});
    }
  }
  return legs;
}

const expert_exchange::plan& expert_exchange::routes(int rep, int stage, bool to_experts) {
  auto& p = plans_[{rep, stage, to_experts}];
  if (p) return *p;
  const topo::topology& topo = m_.topology();
  std::vector<net::connection> connections;
  p = std::make_unique<plan>();
  for (const leg& g : legs_) {
    // The combine runs every leg backwards.
    const int from = to_experts ? g.from : g.to;
    const int to = to_experts ? g.to : g.from;
    for (int t = 0; t < tp_; ++t) {
      const topo::device_id a = m_.device(rep, stage, from, t);
      const topo::device_id b = m_.device(rep, stage, to, t);
      connections.push_back({a, b, tag});
      p->receiver.push_back(static_cast<std::uint32_t>(to));
      const bool nvlink = a != b && topo.family == topo::topology_family::switched &&
                          topo.devices[static_cast<std::size_t>(a)].group ==
                              topo.devices[static_cast<std::size_t>(b)].group;
      p->charge.push_back(nvlink ? nvlink_charge_ : 1.0);
    }
  }
  if (std::all_of(p->charge.begin(), p->charge.end(), [](double c) { return c == 1.0; })) {
    p->charge.clear();
  }
  p->routes = m_.network().plan_routes(connections);
  return *p;
}

std::vector<double> expert_exchange::tokens(const layer_routing& lr, std::int64_t padded_slots,
                                            const expert_placement::pass_assignment& placed) const {
  // 1. Tokens from each source rank to each EP rank (row-major ep x ep): its copies to the
  //    rank's experts (per_copy), or the tokens needing the rank at least once.
  const int per_rank = lr.experts / ep_;
  const auto n_ep = static_cast<std::size_t>(ep_);
  std::vector<std::int64_t> pair(n_ep * n_ep, 0);
  switch (s_.moe.exchange) {
    case exchange_kind::per_copy:
      if (s_.moe.padded) {
        std::fill(pair.begin(), pair.end(), padded_slots * per_rank);
      } else {
        pair = placed.pairs;
      }
      break;
    case exchange_kind::per_rank:
    case exchange_kind::hierarchical:
      if (lr.rank_tokens.size() != pair.size()) {
        throw std::logic_error("expert_exchange: routing without per-rank token counts");
      }
      pair = lr.rank_tokens;
      break;
  }
  auto tokens = [&](int src, int dst) {
    return pair[static_cast<std::size_t>(src) * n_ep + static_cast<std::size_t>(dst)];
  };
  // 2. Each leg's, TP entries per leg.
  std::vector<double> out;
  out.reserve(legs_.size() * static_cast<std::size_t>(tp_));
  for (const leg& g : legs_) {
    std::int64_t n = 0;
    switch (g.kind) {
      case leg_kind::direct:
        n = tokens(g.from, g.to);
        break;
      case leg_kind::to_node:  // once per token that needs the node
        n = lr.node_tokens.at(static_cast<std::size_t>(g.from) * nodes_.nodes +
                              static_cast<std::size_t>(nodes_.node[g.to]));
        break;
      case leg_kind::forward:  // what the sources behind g.from sent for rank g.to
        for (int src : g.behind) n += tokens(src, g.to);
        break;
    }
    if (tp_ == 1) {
      out.push_back(static_cast<double>(n));
    } else {
      out.insert(out.end(), static_cast<std::size_t>(tp_), static_cast<double>(n));
    }
  }
  return out;
}

double expert_exchange::token_bytes(category c) const {
  const models::weight_dtype d = c == category::dispatch ? s_.precision.dispatch_or(s_.model.dtype)
                                                         : s_.precision.combine_or(s_.model.dtype);
  const double scales = d == models::weight_dtype::fp8 ? 4.0 / 128 : 0;
  return s_.model.hidden * (models::bytes_per_param(d) + scales);
}

}  // namespace moesim::sim::run
