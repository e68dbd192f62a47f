#include "sim/run/inference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>

#include "models/model_params.hpp"
#include "sim/cluster/roofline.hpp"
#include "sim/cluster/stream.hpp"
#include "sim/engine/simulation.hpp"
#include "sim/net/network.hpp"
#include "sim/run/critical_path.hpp"
#include "sim/run/feasibility.hpp"
#include "sim/run/routing_sampler.hpp"
#include "topologies/cluster.hpp"

namespace moesim::sim::run {

namespace {

using op_id = op_log::op_id;

// Per-kernel launch overhead on GPUs and TPUs alike (CUDA kernel launch ~2-5 us; we take the
// lower end since production decode uses CUDA graphs / XLA fusion).
constexpr time_ps launch_overhead_ps = 2 * ps_per_us;

cluster::number_format format_of(models::weight_dtype d) {
  switch (d) {
    case models::weight_dtype::fp8:
      return cluster::number_format::fp8;
    case models::weight_dtype::int8:
    case models::weight_dtype::int4:
      return cluster::number_format::int8;
    default:
      return cluster::number_format::bf16;
  }
}

struct device_state {
  cluster::stream compute;
  cluster::stream hbm;
  time_ps ready = 0;       ///< when the device may start its next layer
  op_id last_op = -1;      ///< op that made it ready
  time_ps network_busy = 0;
  double tokens_in = 0;
  std::uint32_t trace_compute = 0;
  std::uint32_t trace_hbm = 0;
  std::uint32_t trace_net = 0;
};

class inference_run {
 public:
  inference_run(const scenario& s, trace_recorder& trace)
      : s_(s),
        trace_(trace),
        topo_(topo::build_cluster(s.cluster, s.chip)),
        sim_(s.seed),
        net_(sim_, topo_, network_params_for(s)),
        rates_(cluster::rates_for(s.chip, format_of(s.model.dtype), launch_overhead_ps)),
        devices_(topo_.device_count()),
        ep_(s.parallelism.ep),
        groups_(devices_ / ep_),
        prefill_(s.workload.kind == workload_kind::prefill),
        tokens_per_device_(static_cast<std::int64_t>(s.workload.batch_per_device) *
                           (prefill_ ? std::max<std::uint32_t>(s.workload.context, 1) : 1)),
        sampler_(s, ep_, tokens_per_device_),
        dev_(static_cast<std::size_t>(devices_)) {
    for (int d = 0; d < devices_; ++d) {
      auto& st = dev_[static_cast<std::size_t>(d)];
      const std::string name = fmt::format("device {}", d);
      st.trace_compute = trace_.track(name, "compute");
      st.trace_hbm = trace_.track(name, "hbm");
      st.trace_net = trace_.track(name, "network");
    }
    if (s.model.moe) experts_.resize(static_cast<std::size_t>(s.model.moe->experts));
  }

  run_result run() {
    for (int g = 0; g < groups_; ++g) begin_layer(g, 0, 0);
    sim_.run();
    return result();
  }

 private:
  static net::network_params network_params_for(const scenario& s) {
    net::network_params p;
    p.model = s.network.model == network_model::flow ? net::timing_model::flow
                                                     : net::timing_model::analytical;
    p.scale_up_efficiency = s.chip.efficiency.link.value_or(1.0);
    p.scale_out_efficiency = s.chip.efficiency.nic.value_or(1.0);
    p.resolve_quantum = s.network.resolve_quantum;
    return p;
  }

  [[nodiscard]] int device(int g, int rank) const { return g * ep_ + rank; }
  device_state& dev(int d) { return dev_[static_cast<std::size_t>(d)]; }

  // Enqueues an op on a device's compute stream at `ready`, after `deps`; records it.
  op_id compute_op(int d, category c, const std::string& name, time_ps ready,
                   const cluster::op_cost& cost, std::vector<op_id> deps) {
    device_state& st = dev(d);
    const time_ps dur = cluster::op_time(rates_, cost);
    const auto slot = st.compute.enqueue(ready, dur, static_cast<std::int64_t>(ops_.size()));
    deps.push_back(slot.previous_op);
    const op_id id = ops_.add(c, slot.start, slot.end, deps);
    trace_.span(st.trace_compute, name, std::string(to_string(c)), slot.start, dur,
                {{"flops", fmt::format("{:.6g}", cost.flops), true},
                 {"hbm_bytes", fmt::format("{:.6g}", cost.bytes), true}});
    return id;
  }

  [[nodiscard]] bool is_moe(int layer) const {
    return s_.model.moe && models::is_moe_layer(s_.model, layer);
  }

  // Attention of one layer on one device: QKV/output projections over its tokens and the
  // scores/values over the context (decode reads the whole KV cache; prefill is causal).
  cluster::op_cost attention_cost() const {
    const auto& m = s_.model;
    const double tokens = static_cast<double>(tokens_per_device_);
    const double bpp = models::bytes_per_param(m.dtype);
    const double params = static_cast<double>(models::attention_params(m));
    const double context = static_cast<double>(s_.workload.context);
    const double per_layer_kv =
        models::kv_cache_bytes_per_token(m, m.dtype) / static_cast<double>(m.layers);
    const double qk_dim = m.attention.kind == models::attention_kind::mla
                              ? m.attention.qk_nope_head_dim + m.attention.qk_rope_head_dim
                              : m.attention.head_dim;
    const double v_dim = m.attention.kind == models::attention_kind::mla ? m.attention.v_head_dim
                                                                          : m.attention.head_dim;
    const double heads = m.attention.heads;
    const double batch = s_.workload.batch_per_device;
    // Keys each query attends to: the cache (decode) or half the prompt on average (prefill).
    const double keys = prefill_ ? (context + 1) / 2 : context + 1;
    const double flops = 2 * params * tokens + 2 * heads * (qk_dim + v_dim) * keys * tokens;
    const double kv_read = prefill_ ? 0 : batch * context * per_layer_kv;
    const double kv_write = tokens * per_layer_kv;
    const double act = 2 * tokens * m.hidden * bpp;
    return {flops, params * bpp + kv_read + kv_write + act};
  }

  void begin_layer(int g, int step, int layer) {
    const auto& m = s_.model;
    const double bpp = models::bytes_per_param(m.dtype);
    const double tokens = static_cast<double>(tokens_per_device_);
    std::vector<op_id> routed(static_cast<std::size_t>(ep_));
    time_ps barrier = 0;
    for (int r = 0; r < ep_; ++r) {
      const int d = device(g, r);
      device_state& st = dev(d);
      op_id a = compute_op(d, category::attention, fmt::format("attention L{}", layer), st.ready,
                           attention_cost(), {st.last_op});
      if (!is_moe(layer)) {
        const double p = static_cast<double>(models::dense_ffn_params(m));
        const op_id f = compute_op(d, category::dense_ffn, fmt::format("dense ffn L{}", layer),
                                   st.ready, {2 * p * tokens, p * bpp + 2 * tokens * m.hidden * bpp},
                                   {a});
        finish_layer_on(d, f, step, layer);
        continue;
      }
      const double p = static_cast<double>(models::router_params(m));
      routed[static_cast<std::size_t>(r)] =
          compute_op(d, category::router, fmt::format("router L{}", layer), st.ready,
                     {2 * p * tokens, p * bpp + tokens * m.hidden * bpp}, {a});
      barrier = std::max(barrier, dev(d).compute.free_at());
    }
    if (!is_moe(layer)) {
      maybe_next_layer(g, step, layer);
      return;
    }
    sim_.schedule_at(barrier, [this, g, step, layer, routed = std::move(routed)] {
      dispatch(g, step, layer, routed);
    });
  }

  // All-to-all-v of token copies: flow (src -> dst) carries the copies src's tokens send to
  // experts hosted on dst. Expert e lives on rank e / experts_per_rank.
  void dispatch(int g, int step, int layer, const std::vector<op_id>& routed) {
    const layer_routing lr = sampler_.route(g, step, layer);
    record_routing(layer, lr);
    const int experts = lr.experts;
    const int per_rank = experts / ep_;
    const double token_bytes = s_.model.hidden * models::bytes_per_param(s_.model.dtype);
    auto pending = std::make_shared<layer_state>();
    pending->routing = lr;
    pending->barrier_ops = routed;
    pending->start = sim_.now();
    pending->arrivals.assign(static_cast<std::size_t>(ep_), 0);
    std::vector<net::flow_request> flows;
    for (int src = 0; src < ep_; ++src) {
      for (int dst = 0; dst < ep_; ++dst) {
        std::int64_t copies = 0;
        for (int e = dst * per_rank; e < (dst + 1) * per_rank; ++e) {
          copies += lr.copies[static_cast<std::size_t>(src) * experts + e];
        }
        if (copies == 0) continue;
        flows.push_back({device(g, src), device(g, dst), static_cast<double>(copies) * token_bytes,
                         static_cast<std::uint64_t>(layer)});
        ++pending->arrivals[static_cast<std::size_t>(dst)];
      }
    }
    dispatch_bytes_ += [&] {
      double b = 0;
      for (const auto& f : flows) b += f.src == f.dst ? 0 : f.bytes;
      return b;
    }();
    // A rank that receives nothing still runs its (empty) expert phase at the barrier.
    for (int r = 0; r < ep_; ++r) {
      if (pending->arrivals[static_cast<std::size_t>(r)] == 0) run_experts(g, step, layer, r, pending);
    }
    net_.start_batch(flows, [this, g, step, layer, pending, flows](std::size_t i) {
      const int dst = flows[i].dst - device(g, 0);
      if (--pending->arrivals[static_cast<std::size_t>(dst)] == 0) {
        run_experts(g, step, layer, dst, pending);
      }
    });
  }

  struct layer_state {
    layer_routing routing;
    std::vector<op_id> barrier_ops;
    std::vector<int> arrivals;
    std::vector<op_id> expert_ops;
    time_ps start = 0;
    time_ps experts_done = 0;
    int ranks_done = 0;
  };

  void run_experts(int g, int step, int layer, int rank,
                   const std::shared_ptr<layer_state>& ls) {
    const int d = device(g, rank);
    device_state& st = dev(d);
    const auto& m = s_.model;
    const int experts = ls->routing.experts;
    const int per_rank = experts / ep_;
    const double bpp = models::bytes_per_param(m.dtype);
    // The dispatch "op" on this device: from the barrier to its last arriving byte.
    const op_id arrive = ops_.add(category::dispatch, ls->start, sim_.now(), ls->barrier_ops);
    st.network_busy += sim_.now() - ls->start;
    trace_.span(st.trace_net, fmt::format("dispatch L{}", layer), "dispatch", ls->start,
                sim_.now() - ls->start);
    double routed_tokens = 0;
    int active = 0;
    for (int e = rank * per_rank; e < (rank + 1) * per_rank; ++e) {
      std::int64_t n = 0;
      for (int src = 0; src < ep_; ++src) n += ls->routing.copies[static_cast<std::size_t>(src) * experts + e];
      routed_tokens += static_cast<double>(n);
      active += n > 0 ? 1 : 0;
    }
    // Shared experts process this device's own tokens.
    const double shared_tokens = m.moe->shared_experts > 0 ? static_cast<double>(tokens_per_device_) : 0;
    const double expert_p = static_cast<double>(models::expert_params(m));
    const double shared_p = static_cast<double>(models::shared_expert_params(m));
    const double weight_bytes = (active * expert_p + shared_p) * bpp;
    const double flops = 2 * expert_p * routed_tokens + 2 * shared_p * shared_tokens;
    const double act_bytes = 2 * (routed_tokens + shared_tokens) * m.hidden * bpp;
    const cluster::op_cost cost{flops, weight_bytes + act_bytes};
    const category c = cluster::memory_bound(rates_, cost) ? category::expert_weight_load
                                                            : category::expert_compute;
    const op_id x = compute_op(d, c, fmt::format("experts L{} ({} active)", layer, active),
                               sim_.now(), cost, {arrive});
    // The weight stream on the HBM track: the part of the op spent reading expert weights.
    const time_ps weights_ps = ps_from_seconds(weight_bytes / rates_.hbm_bytes_per_s);
    const auto w = st.hbm.enqueue(sim_.now(), weights_ps, x);
    trace_.span(st.trace_hbm, fmt::format("expert weights L{}", layer), "expert_weight_load",
                w.start, weights_ps,
                {{"bytes", fmt::format("{:.6g}", weight_bytes), true},
                 {"active_experts", std::to_string(active), true}});
    st.tokens_in += routed_tokens;
    ls->expert_ops.push_back(x);
    ls->experts_done = std::max(ls->experts_done, st.compute.free_at());
    if (++ls->ranks_done == ep_) {
      sim_.schedule_at(ls->experts_done, [this, g, step, layer, ls] { combine(g, step, layer, ls); });
    }
  }

  void combine(int g, int step, int layer, const std::shared_ptr<layer_state>& ls) {
    const int experts = ls->routing.experts;
    const int per_rank = experts / ep_;
    const double token_bytes = s_.model.hidden * models::bytes_per_param(s_.model.dtype);
    std::vector<net::flow_request> flows;
    auto arrivals = std::make_shared<std::vector<int>>(static_cast<std::size_t>(ep_), 0);
    for (int src = 0; src < ep_; ++src) {  // expert host
      for (int dst = 0; dst < ep_; ++dst) {  // token owner
        std::int64_t copies = 0;
        for (int e = src * per_rank; e < (src + 1) * per_rank; ++e) {
          copies += ls->routing.copies[static_cast<std::size_t>(dst) * experts + e];
        }
        if (copies == 0) continue;
        flows.push_back({device(g, src), device(g, dst), static_cast<double>(copies) * token_bytes,
                         static_cast<std::uint64_t>(layer) + 1'000'000});
        ++(*arrivals)[static_cast<std::size_t>(dst)];
      }
    }
    const time_ps start = sim_.now();
    auto done = std::make_shared<int>(0);
    auto arrive = [this, g, step, layer, ls, start, done](int rank) {
      const int d = device(g, rank);
      const op_id c = ops_.add(category::combine, start, sim_.now(), ls->expert_ops);
      dev(d).network_busy += sim_.now() - start;
      trace_.span(dev(d).trace_net, fmt::format("combine L{}", layer), "combine", start,
                  sim_.now() - start);
      finish_layer_on(d, c, step, layer);
      if (++*done == ep_) maybe_next_layer(g, step, layer);
    };
    for (int r = 0; r < ep_; ++r) {
      if ((*arrivals)[static_cast<std::size_t>(r)] == 0) arrive(r);
    }
    net_.start_batch(flows, [this, g, flows, arrivals, arrive](std::size_t i) {
      const int dst = flows[i].dst - device(g, 0);
      if (--(*arrivals)[static_cast<std::size_t>(dst)] == 0) arrive(dst);
    });
  }

  void finish_layer_on(int d, op_id last, int step, int layer) {
    device_state& st = dev(d);
    st.ready = std::max(sim_.now(), st.compute.free_at());
    st.last_op = last;
    if (layer + 1 == s_.model.layers) {
      // LM head over the device's tokens (decode: the new token; prefill: the last position).
      const auto& m = s_.model;
      const double p = static_cast<double>(models::lm_head_params(m));
      const double tokens = s_.workload.batch_per_device;
      const double bpp = models::bytes_per_param(m.dtype);
      st.last_op = compute_op(d, category::lm_head, fmt::format("lm head step {}", step), st.ready,
                              {2 * p * tokens, p * bpp}, {last});
      st.ready = st.compute.free_at();
      end_time_ = std::max(end_time_, st.ready);
    }
  }

  void maybe_next_layer(int g, int step, int layer) {
    int next_layer = layer + 1;
    int next_step = step;
    if (next_layer == s_.model.layers) {
      next_layer = 0;
      ++next_step;
      if (next_step == static_cast<int>(s_.workload.steps)) return;
    }
    // Each device starts its next layer at its own ready time (begin_layer enqueues there);
    // the event only has to run once every device of the group knows that time.
    sim_.schedule_in(0, [this, g, next_step, next_layer] { begin_layer(g, next_step, next_layer); });
  }

  void record_routing(int layer, const layer_routing& lr) {
    ++routed_layers_;
    layer_stats& ls = layer_sums_[layer];
    ls.layer = layer;
    ls.drop_rate += lr.drop_rate;
    ls.unique_experts += lr.unique_experts;
    unique_sum_ += lr.unique_experts;
    drop_sum_ += lr.drop_rate;
    scaled_ = scaled_ || lr.scaled;
    std::vector<double> per_rank(static_cast<std::size_t>(ep_), 0.0);
    const int per = lr.experts / ep_;
    for (int src = 0; src < lr.sources; ++src) {
      for (int e = 0; e < lr.experts; ++e) {
        const auto n = static_cast<double>(lr.copies[static_cast<std::size_t>(src) * lr.experts + e]);
        per_rank[static_cast<std::size_t>(e / per)] += n;
        experts_[static_cast<std::size_t>(e)].tokens += n;
      }
    }
    for (int e = 0; e < lr.experts; ++e) {
      experts_[static_cast<std::size_t>(e)].dropped +=
          static_cast<double>(lr.dropped_per_expert[static_cast<std::size_t>(e)]);
    }
    double mx = 0, sum = 0;
    for (double v : per_rank) {
      mx = std::max(mx, v);
      sum += v;
    }
    if (sum > 0) {
      imbalance_sum_ += mx / (sum / ep_);
      ls.load_max_over_mean += mx / (sum / ep_);
    }
  }

  run_result result() const {
    run_result r;
    r.scenario = s_.name;
    r.variant = s_.variant;
    r.seed = s_.seed;
    r.workload = prefill_ ? "prefill" : "decode";
    r.network_model = s_.network.model == network_model::flow ? "flow" : "analytical";
    r.devices = devices_;
    r.steps = s_.workload.steps;
    r.simulated_time_s = seconds(end_time_);
    r.step_time_s = r.simulated_time_s / r.steps;
    r.tokens_per_step = static_cast<double>(tokens_per_device_) * devices_;
    r.tokens_per_s = r.simulated_time_s > 0 ? r.tokens_per_step * r.steps / r.simulated_time_s : 0;
    r.tokens_per_s_per_device = r.tokens_per_s / devices_;
    r.breakdown_s = ops_.critical_path();
    for (auto& [k, v] : r.breakdown_s) v /= r.steps;
    if (routed_layers_ > 0) {
      const double n = routed_layers_;
      r.load_max_over_mean = imbalance_sum_ / n;
      r.unique_experts = unique_sum_ / n;
      r.drop_rate = drop_sum_ / n;
      r.dispatch_bytes_per_step = dispatch_bytes_ / r.steps;
      r.experts = experts_;
      const double per_layer = static_cast<double>(s_.workload.steps) * groups_;
      for (auto [layer, ls] : layer_sums_) {
        ls.drop_rate /= per_layer;
        ls.unique_experts /= per_layer;
        ls.load_max_over_mean /= per_layer;
        r.layers.push_back(ls);
      }
      const double per_step_layer = n / groups_;
      for (auto& e : r.experts) {
        e.tokens /= per_step_layer;
        e.dropped /= per_step_layer;
      }
    }
    const std::vector<cluster::memory_plan> memory = stage_memory_plans(s_);
    for (int d = 0; d < devices_; ++d) {
      const auto& st = dev_[static_cast<std::size_t>(d)];
      const double memory_bytes =
          memory[static_cast<std::size_t>(pipeline_stage_of(s_.parallelism, d))].total_bytes;
      r.per_device.push_back({seconds(st.compute.busy_ps()), seconds(st.hbm.busy_ps()),
                              seconds(st.network_busy), st.tokens_in / r.steps, memory_bytes});
      r.peak_hbm_bytes = std::max(r.peak_hbm_bytes, memory_bytes);
    }
    const std::string scaling =
        scaled_ ? "; per-device counts scaled to the full batch by multinomial draws" : "";
    if (s_.sampling.trace) {
      r.approximations.push_back(fmt::format("routing replayed from {} ({} tokens per layer){}",
                                             s_.sampling.routing_trace, sampler_.sample_tokens(),
                                             scaling));
    } else {
      r.approximations.push_back(fmt::format(
          "routing maths on {} sampled tokens per layer and step at hidden size {} (model: {}){}",
          sampler_.sample_tokens(), sampler_.math_hidden(), s_.model.hidden, scaling));
    }
    if (s_.network.model == network_model::flow && s_.network.resolve_quantum > 0) {
      r.approximations.push_back(fmt::format(
          "flow network re-solved at most every {} x busy time after finishes",
          s_.network.resolve_quantum));
    }
    r.approximations.push_back(fmt::format(
        "op times by roofline with {} us launch overhead per op",
        static_cast<double>(launch_overhead_ps) / ps_per_us));
    r.events = sim_.events_processed();
    return r;
  }

  const scenario& s_;
  trace_recorder& trace_;
  topo::topology topo_;
  simulation sim_;
  net::network net_;
  cluster::device_rates rates_;
  int devices_;
  int ep_;
  int groups_;
  bool prefill_;
  std::int64_t tokens_per_device_;
  routing_sampler sampler_;
  std::vector<device_state> dev_;
  op_log ops_;
  time_ps end_time_ = 0;
  std::vector<expert_load> experts_;
  int routed_layers_ = 0;
  std::map<int, layer_stats> layer_sums_;  ///< sums over steps and groups, by layer
  double unique_sum_ = 0;
  double drop_sum_ = 0;
  double imbalance_sum_ = 0;
  double dispatch_bytes_ = 0;
  bool scaled_ = false;
};

}  // namespace

run_result simulate_inference(const scenario& s, trace_recorder& trace) {
  if (s.parallelism.tp != 1 || s.parallelism.pp != 1) {
    throw std::invalid_argument(fmt::format(
        "workload: the {} workload runs ep x dp layouts so far; tp {} and pp {} are not yet "
        "supported for inference (see CHANGELOG)",
        s.workload.kind == workload_kind::prefill ? "prefill" : "decode", s.parallelism.tp,
        s.parallelism.pp));
  }
  if (!s.model.moe && s.parallelism.ep != 1) {
    throw std::invalid_argument("parallelism: ep > 1 needs an MoE model");
  }
  inference_run run(s, trace);
  return run.run();
}

}  // namespace moesim::sim::run
