#include "sim/run/executor.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "models/capacity.hpp"
#include "models/model_params.hpp"
#include "sim/run/layout.hpp"

namespace moesim::sim::run {

pass_executor::pass_executor(machine& m, expert_exchange& x, routing_source& routing,
                             const scenario& s, const model_chunks& chunks,
                             const expert_placement* placement)
    : m_(m),
      x_(x),
      routing_(routing),
      s_(s),
      chunks_(chunks),
      contiguous_(s.model.moe ? s.model.moe->experts : 0, s.parallelism.ep, 0),
      placement_(placement != nullptr ? *placement : contiguous_),
      tp_(s.parallelism.tp),
      ep_(s.parallelism.ep),
      recompute_(s.workload.training.value_or(training_config{}).recompute) {
  if (s.offload) offload_ = std::make_unique<expert_offload>(m, s);
}

/// One rank's op: its kernels (one or two) and the profile row that times it.
struct pass_executor::rank_op {
  cluster::op_cost kernels[2];
  std::size_t n = 1;
  profile_key key;
};

const pass_shape& pass_executor::shape_of(const pass_request& r, int e) {
  return r.ranks.empty() ? r.shape : r.ranks[static_cast<std::size_t>(e)];
}

const pass_shape& pass_executor::widest(const pass_request& r) {
  if (r.ranks.empty()) return r.shape;
  return *std::max_element(r.ranks.begin(), r.ranks.end(),
                           [](const auto& a, const auto& b) { return a.tokens < b.tokens; });
}

/// The op `op_of(shape)` on every rank of r's group at `at`, each with its own shape.
template <class Op>
std::pair<time_ps, op_id> pass_executor::on_ranks(const pass_request& r, category c,
                                                  const std::string& name, time_ps at, op_id dep,
                                                  Op&& op_of) {
  if (r.ranks.empty()) {
    const rank_op o = op_of(r.shape);
    return m_.group_compute(r.rep, r.stage, c, name, at, std::span(o.kernels, o.n), dep, o.key);
  }
  return m_.group_compute_each(r.rep, r.stage, c, at, dep, [&](int e, topo::device_id d) {
    const rank_op o = op_of(shape_of(r, e));
    return m_.compute(d, c, name, at, std::span(o.kernels, o.n), o.key);
  });
}

std::int64_t pass_executor::padded_slots(const pass_shape& shape) const {
  if (!s_.moe.padded || !s_.model.moe) return 0;
  return models::expert_capacity(static_cast<std::int64_t>(shape.tokens), s_.model.moe->experts,
                                 s_.model.moe->top_k, s_.moe.capacity_factor);
}

task pass_executor::run(const pass_request& r, op_id* end) {
  const bool fwd = r.kind == pass_kind::forward;
  const bool last_chunk = r.model_chunk == chunks_.chunks - 1;
  op_id cur = r.after;
  std::vector<int> layers = chunks_.layers(r.model_chunk);
  if (!fwd) std::reverse(layers.begin(), layers.end());
  if (!fwd && last_chunk) {
    auto [head_end, op] = head(r, cur);
    cur = op;
    co_await until{head_end};
  }
  for (const int layer : layers) {
    const std::string tag = fmt::format("{} L{} mb{}", fwd ? "fwd" : "bwd", layer, r.pass);
    const bool moe = chunks_.is_moe(layer);
    if (fwd) {
      auto [at, op] =
          on_ranks(r, category::attention, "attention " + tag, m_.sim().now(), cur,
                   [&](const pass_shape& shape) {
                     const attention_kernels attn = attention_cost(s_.model, shape);
                     return rank_op{
                         {attn.projections, attn.core}, 2, {"attention", shape.tokens, shape.keys}};
                   });
      std::tie(at, cur) =
          on_ranks(r, category::attention, "norms " + tag, at, op, [&](const pass_shape& shape) {
            return rank_op{
                {attention_elementwise_cost(s_.model, shape)}, 1, {"norms", shape.tokens}};
          });
      if (moe) {
        std::tie(at, cur) =
            on_ranks(r, category::router, "router " + tag, at, cur, [&](const pass_shape& shape) {
              return rank_op{{router_cost(s_.model, shape)}, 1, {"router", shape.tokens}};
            });
      }
      co_await until{at};
      co_await tp_all_reduce(r, &cur);
    }
    if (moe) {
      co_await layer_moe(r, layer, tag, &cur);
    } else {
      co_await layer_dense(r, tag, &cur);
    }
    co_await tp_all_reduce(r, &cur);
    if (!fwd) {
      auto [at, op] =
          on_ranks(r, category::attention, "attention " + tag, m_.sim().now(), cur,
                   [&](const pass_shape& shape) {
                     const attention_kernels attn = attention_cost(s_.model, shape);
                     return rank_op{{backward_cost(attn.projections, 0, recompute_),
                                     backward_cost(attn.core, attn.core.flops, recompute_)},
                                    2,
                                    {"attention", shape.tokens, shape.keys, true}};
                   });
      std::tie(at, cur) =
          on_ranks(r, category::attention, "norms " + tag, at, op, [&](const pass_shape& shape) {
            return rank_op{
                {backward_cost(attention_elementwise_cost(s_.model, shape), 0, recompute_)},
                1,
                {"norms", shape.tokens, 0, true}};
          });
      co_await until{at};
      co_await tp_all_reduce(r, &cur);
    }
  }
  if (fwd && last_chunk) {
    auto [head_end, op] = head(r, cur);
    cur = op;
    co_await until{head_end};
    if (widest(r).proposal_heads > 0) {
      // Blockwise parallel decoding: the proposal heads after the output head.
      std::tie(head_end, cur) = on_ranks(
          r, category::lm_head, "proposal heads", head_end, cur, [&](const pass_shape& shape) {
            return rank_op{
                {proposal_heads_cost(s_.model, shape.sequences, shape.proposal_heads, tp_)}, 1, {}};
          });
      co_await until{head_end};
    }
  }
  *end = cur;
}

/// Forward: dispatch to the experts, experts, combine back. Backward: the combine's gradient to
/// the experts, experts backward, the dispatch's gradient back; then the router's backward.
task pass_executor::layer_moe(const pass_request& r, int layer, const std::string& tag,
                              op_id* cur) {
  const bool fwd = r.kind == pass_kind::forward;
  simulation& sim = m_.sim();
  std::shared_ptr<const layer_routing> lr;
  std::shared_ptr<expert_offload::layer_plan> offloaded;
  if (offload_ && fwd) {
    std::tie(lr, offloaded) = begin_offload(r, layer);
  } else {
    lr = routing_.routing(r.rep, r.pass, layer, fwd);
  }
  // Both directions carry the same copies between the same pairs.
  const expert_placement::pass_assignment placed = placement_.assign(*lr, layer);
  const std::vector<double> tokens = x_.tokens(*lr, padded_slots(widest(r)), placed);
  if (observer_ != nullptr && fwd) {
    observer_->on_layer(layer, *lr, placed, x_.token_bytes(category::dispatch));
  }
  for (int phase = 0; phase < 2; ++phase) {
    const bool to_experts = phase == 0;
    const category c = to_experts == fwd ? category::dispatch : category::combine;
    const time_ps start = sim.now();
    const expert_exchange::plan& plan = x_.routes(r.rep, r.stage, to_experts);
    std::vector<double> bytes = tokens;
    const double token_bytes = x_.token_bytes(c);
    for (double& b : bytes) b *= token_bytes;
    if (fwd && to_experts) {
      for (std::size_t i = 0; i < bytes.size(); ++i) {
        const auto& conn = plan.routes.at(i);
        dispatch_bytes_ += conn.src == conn.dst ? 0 : bytes[i];
      }
    }
    if (x_.kernel_ps() > 0) co_await until{start + x_.kernel_ps()};
    auto arrived = std::make_shared<std::vector<time_ps>>(static_cast<std::size_t>(ep_), start);
    auto cd = std::make_shared<countdown>(sim, ep_);
    std::vector<double> charged;
    if (!plan.charge.empty()) {
      charged.resize(bytes.size());
      for (std::size_t i = 0; i < bytes.size(); ++i) charged[i] = bytes[i] * plan.charge[i];
    }
    m_.network().start_groups(plan.routes, plan.charge.empty() ? bytes : charged, plan.receiver,
                              static_cast<std::size_t>(ep_), [&sim, arrived, cd](std::size_t e) {
                                (*arrived)[e] = sim.now();
                                cd->one();
                              });
    co_await cd->done;
    m_.note_network(r.rep, r.stage, c, tag, start, *arrived);
    if (!to_experts) {
      *cur = m_.network_op(c, start, *cur, r.stage);
      continue;
    }
    // Each rank's experts start when its own tokens are in; the slowest rank's exchange and
    // experts are the group's critical path.
    expert_op critical;
    int critical_rank = 0;
    if (offloaded) co_await offloaded->done->done;
    for (int e = 0; e < ep_; ++e) {
      const auto ue = static_cast<std::size_t>(e);
      expert_op x;
      if (offloaded) {
        x = run_offloaded_experts(r, e, *offloaded, (*arrived)[ue], tag);
      } else {
        x = run_experts(r, e, placed.ranks[ue], (*arrived)[ue], tag);
      }
      if (x.end > critical.end) {
        critical = x;
        critical_rank = e;
      }
    }
    const time_ps arrival = (*arrived)[static_cast<std::size_t>(critical_rank)];
    if (offloaded) offload_->note_stall(std::max<time_ps>(0, critical.start - arrival));
    const op_id a_deps[] = {*cur};
    const op_id a = m_.ops().add(c, start, arrival, a_deps, r.stage);
    const op_id x_deps[] = {a, critical.stream_previous};
    *cur = m_.ops().add(critical.cat, critical.start, critical.end, x_deps, r.stage);
    m_.mark_compute(r.rep, r.stage, *cur);
    co_await until{std::max(critical.end, sim.now())};
  }
  if (!fwd) {
    auto [at, op] =
        on_ranks(r, category::router, "router " + tag, sim.now(), *cur, [&](const pass_shape& sh) {
          return rank_op{{backward_cost(router_cost(s_.model, sh), 0, recompute_)},
                         1,
                         {"router", sh.tokens, 0, true}};
        });
    *cur = op;
    co_await until{at};
  }
}

task pass_executor::layer_dense(const pass_request& r, const std::string& tag, op_id* cur) {
  const bool fwd = r.kind == pass_kind::forward;
  auto [at, op] = on_ranks(r, category::dense_ffn, "dense ffn " + tag, m_.sim().now(), *cur,
                           [&](const pass_shape& shape) {
                             const cluster::op_cost ffn = dense_ffn_cost(s_.model, shape);
                             return rank_op{{fwd ? ffn : backward_cost(ffn, 0, recompute_)},
                                            1,
                                            {"dense_ffn", shape.tokens, 0, !fwd}};
                           });
  std::tie(at, *cur) =
      on_ranks(r, category::dense_ffn, "activation " + tag, at, op, [&](const pass_shape& shape) {
        const cluster::op_cost act =
            ffn_elementwise_cost(s_.model, shape, shape.tokens, s_.model.dense_ffn_hidden, 0);
        return rank_op{{fwd ? act : backward_cost(act, 0, recompute_)},
                       1,
                       {"activation", shape.tokens, 0, !fwd}};
      });
  co_await until{at};
}

/// The TP all-reduce of the pass's activations over every TP group of (rep, stage), when tp > 1.
task pass_executor::tp_all_reduce(const pass_request& r, op_id* cur) {
  if (tp_ <= 1) co_return;
  const time_ps start = m_.sim().now();
  // Every TP group of the stage at once; with per-rank shapes each group reduces its own
  // rank's activations (one plan per group and size), and a rank without tokens has none.
  std::vector<std::shared_ptr<countdown>> running;
  for (int g = 0; g < (r.ranks.empty() ? 1 : ep_); ++g) {
    const double tokens = r.ranks.empty() ? r.shape.tokens : shape_of(r, g).tokens;
    if (!r.ranks.empty() && tokens <= 0) continue;
    auto& plan = tp_plans_[{r.rep, r.stage, r.ranks.empty() ? -1 : g, tokens}];
    if (!plan) {
      net::collective_spec spec;
      spec.op = net::collective_op::all_reduce;
      spec.bytes = tokens * s_.model.hidden * models::bytes_per_param(s_.model.dtype);
      for (int e = 0; e < ep_; ++e) {
        if (r.ranks.empty() || e == g) spec.groups.push_back(m_.tp_group(e, r.rep, r.stage));
      }
      plan = std::make_shared<net::collective_plan>(
          net::plan_collective(m_.topology(), m_.collective_params(), spec));
    }
    running.push_back(m_.collective(plan));
  }
  for (const auto& cd : running) co_await cd->done;
  *cur = m_.network_op(category::tp_collective, start, *cur, r.stage);
}

/// Expert work of EP rank `e` for one layer pass, enqueued at `at` on its compute stream.
pass_executor::expert_op pass_executor::run_experts(const pass_request& r, int e,
                                                    const expert_placement::rank_load& held,
                                                    time_ps at, const std::string& tag) {
  const bool fwd = r.kind == pass_kind::forward;
  const pass_shape& shape = shape_of(r, e);
  const int per_rank = s_.model.moe->experts / ep_;
  const double copies = held.copies;
  const int active = held.active;
  // Static shapes: every local expert computes over its full capacity from every source.
  const double computed =
      s_.moe.padded ? static_cast<double>(padded_slots(widest(r))) * per_rank * ep_ : copies;
  const int loaded = s_.moe.padded ? per_rank : active;
  const cluster::op_cost f = expert_cost(s_.model, shape, computed, loaded);
  const cluster::op_cost cost = fwd ? f : backward_cost(f, 0, recompute_);
  const category c = cluster::memory_bound(m_.rates(), cost) ? category::expert_weight_load
                                                             : category::expert_compute;
  const topo::device_id d = m_.device(r.rep, r.stage, e);
  device_state& st = m_.dev(d);
  const cluster::stream_slot gemm =
      m_.compute(d, c, fmt::format("experts {} ({} active)", tag, active), at, cost,
                 {"experts", computed, 0, !fwd});
  const double shared_tokens = s_.model.moe->shared_experts > 0 ? shape.tokens : 0;
  const cluster::op_cost act =
      ffn_elementwise_cost(s_.model, shape, computed + shared_tokens * s_.model.moe->shared_experts,
                           s_.model.moe->expert_ffn_hidden, computed);
  const time_ps end =
      m_.compute(d, category::expert_compute, "expert activation " + tag, gemm.end,
                 fwd ? act : backward_cost(act, 0, recompute_), {"activation", computed, 0, !fwd})
          .end;
  // The weight stream on the HBM track: the part of the op spent reading expert weights.
  const double weight_bytes =
      f.bytes - 2.0 * computed * s_.model.hidden * models::bytes_per_param(s_.model.dtype);
  const time_ps weights_ps =
      ps_from_seconds(std::max(0.0, weight_bytes) / cluster::hbm_rate(m_.rates(), f));
  const auto w = st.hbm.enqueue(gemm.start, weights_ps, -1);
  trace_recorder& trace = m_.trace();
  if (trace.records(st.trace_hbm)) {
    trace.span(st.trace_hbm, "expert weights " + tag, "expert_weight_load", w.start, weights_ps,
               {{"bytes", fmt::format("{:.6g}", weight_bytes), true},
                {"active_experts", std::to_string(active), true}});
  }
  if (fwd) st.tokens_in += copies;
  return {end, gemm.start, gemm.previous_op, c};
}

/// Offloading: this layer's routing (taken a layer early under gate prefetch) and the offload
/// plan begun now, with the next MoE layer's routing taken ahead for gate prefetch.
std::pair<std::shared_ptr<const layer_routing>, std::shared_ptr<expert_offload::layer_plan>>
pass_executor::begin_offload(const pass_request& r, int layer) {
  std::shared_ptr<const layer_routing> lr;
  const auto here = lookahead_.find({r.rep, r.pass, layer});
  if (here != lookahead_.end()) {
    lr = here->second;
    lookahead_.erase(here);
  } else {
    lr = routing_.routing(r.rep, r.pass, layer, true);
  }
  int next = -1;
  for (const int l : chunks_.layers(r.model_chunk)) {
    if (l > layer && chunks_.is_moe(l)) {
      next = l;
      break;
    }
  }
  const layer_routing* ahead = nullptr;
  if (next >= 0 && offload_->wants_lookahead()) {
    auto& slot = lookahead_[{r.rep, r.pass, next}];
    slot = routing_.routing(r.rep, r.pass, next, true);
    ahead = slot.get();
  }
  return {lr, offload_->begin_layer(r.rep, r.stage, layer, *lr, ahead, next)};
}

/// Offloading: rank e's device computes the experts it holds once their weights are in (the
/// hits and fetched misses), and its layer ends when the host's experts' outputs are back too.
pass_executor::expert_op pass_executor::run_offloaded_experts(
    const pass_request& r, int e, const expert_offload::layer_plan& plan, time_ps arrived,
    const std::string& tag) {
  const auto ue = static_cast<std::size_t>(e);
  const time_ps ready = std::max(arrived, static_cast<time_ps>(plan.ready[ue]));
  expert_placement::rank_load held;
  held.copies = plan.gpu_copies[ue];
  held.active = plan.gpu_active[ue];
  expert_op x = run_experts(r, e, held, ready, tag);
  x.end = std::max(x.end, static_cast<time_ps>(plan.cpu_done[ue]));
  return x;
}

/// The output head (and the loss) on the last chunk: forward after the last layer, backward
/// before it.
std::pair<time_ps, op_id> pass_executor::head(const pass_request& r, op_id dep) {
  const bool fwd = r.kind == pass_kind::forward;
  return on_ranks(r, category::lm_head, fwd ? "lm head" : "lm head bwd", m_.sim().now(), dep,
                  [&](const pass_shape& shape) {
                    const double positions = chunks_.training ? shape.tokens : shape.sequences;
                    cluster::op_cost c = lm_head_cost(s_.model, positions, tp_);
                    if (chunks_.training) {
                      // The multi-token-prediction modules have heads of their own
                      // (DeepSeek-V3 s2.2).
                      c.flops *= 1 + s_.model.mtp_modules;
                      c.bytes *= 1 + s_.model.mtp_modules;
                    }
                    return rank_op{{fwd ? c : backward_cost(c, 0, recompute_)},
                                   1,
                                   {"lm_head", positions, 0, !fwd}};
                  });
}

}  // namespace moesim::sim::run
