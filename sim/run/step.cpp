// Over 600 lines, for now: step_run is still the pass executor and the training and fixed-batch
// inference drivers in one class. Splitting it into a small pass executor with one driver file
// per loop (training, fixed-batch inference, serving) is the first part of the serving issue,
// which needs that split; doing it there keeps this file's behaviour fixed while it moves.
#include "sim/run/step.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>

#include "models/capacity.hpp"
#include "models/model_params.hpp"
#include "sim/cluster/profile_table.hpp"
#include "sim/cluster/roofline.hpp"
#include "sim/cluster/stream.hpp"
#include "sim/engine/process.hpp"
#include "sim/engine/simulation.hpp"
#include "sim/net/collectives.hpp"
#include "sim/net/network.hpp"
#include "sim/run/batch.hpp"
#include "sim/run/critical_path.hpp"
#include "sim/run/feasibility.hpp"
#include "sim/run/layout.hpp"
#include "sim/run/op_costs.hpp"
#include "sim/run/pipeline_schedule.hpp"
#include "sim/run/routing_prefetch.hpp"
#include "sim/run/routing_sampler.hpp"
#include "sim/run/trace_selection.hpp"
#include "topologies/cluster.hpp"

namespace moesim::sim::run {

namespace {

/// One rank-to-rank transfer of an expert exchange, in the dispatch direction. direct: what the
/// source's tokens need on the destination rank; to_node: the source's tokens that need the
/// destination's node, once each (hierarchical exchange); forward: the destination's share of
/// what the ranks in `behind` sent to the forwarding rank `from`.
enum class leg_kind : std::uint8_t { direct, to_node, forward };
struct leg {
  int from = 0;
  int to = 0;
  leg_kind kind = leg_kind::direct;
  std::vector<int> behind;  ///< forward legs: the source ranks whose tokens are forwarded
};

/// NVLink time per byte of DeepEP's kernels relative to NCCL's (exchange_plan::charge): 1 for
/// per_copy exchanges or a chip without ep_link_efficiency.
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

/// The legs of an EP group's exchange, in connection order. per_copy / per_rank: every (source,
/// destination) pair, source-major. hierarchical: those pairs inside a node, then each source
/// to the rank at its own position on every other node, then each such rank forwarding to the
/// other ranks of its node.
std::vector<leg> exchange_legs(exchange_kind kind, int ep, const ep_nodes& nodes) {
  std::vector<leg> legs;
  const bool hier = kind == exchange_kind::hierarchical;
  for (int a = 0; a < ep; ++a) {
    for (int b = 0; b < ep; ++b) {
      if (!hier ||
          nodes.node[static_cast<std::size_t>(a)] == nodes.node[static_cast<std::size_t>(b)]) {
        legs.push_back({a, b, leg_kind::direct, {}});
      }
    }
  }
  if (!hier) return legs;
  // at[n][p]: the rank at position p on node n.
  std::vector<std::vector<int>> at(static_cast<std::size_t>(nodes.nodes),
                                   std::vector<int>(static_cast<std::size_t>(nodes.per_node)));
  for (int r = 0; r < ep; ++r) {
    at[static_cast<std::size_t>(nodes.node[static_cast<std::size_t>(r)])]
      [static_cast<std::size_t>(nodes.position[static_cast<std::size_t>(r)])] = r;
  }
  for (int a = 0; a < ep; ++a) {
    const int pos = nodes.position[static_cast<std::size_t>(a)];
    for (int n = 0; n < nodes.nodes; ++n) {
      if (n == nodes.node[static_cast<std::size_t>(a)]) continue;
      legs.push_back({a,
                      at[static_cast<std::size_t>(n)][static_cast<std::size_t>(pos)],
                      leg_kind::to_node,
                      {}});
    }
  }
  for (int f = 0; f < ep; ++f) {
    const int home = nodes.node[static_cast<std::size_t>(f)];
    const int pos = nodes.position[static_cast<std::size_t>(f)];
    std::vector<int> behind;
    for (int a = 0; a < ep; ++a) {
      if (nodes.node[static_cast<std::size_t>(a)] != home &&
          nodes.position[static_cast<std::size_t>(a)] == pos) {
        behind.push_back(a);
      }
    }
    for (int r : at[static_cast<std::size_t>(home)]) {
      if (r != f) legs.push_back({f, r, leg_kind::forward, behind});
    }
  }
  return legs;
}

using op_id = op_log::op_id;

// Per-kernel launch overhead on GPUs and TPUs alike (CUDA kernel launch ~2-5 us; we take the
// lower end since production runs use CUDA graphs / XLA fusion).
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

const char* format_name(cluster::number_format f) {
  switch (f) {
    case cluster::number_format::fp8:
      return "fp8";
    case cluster::number_format::int8:
      return "int8";
    default:
      return "bf16";
  }
}

net::network_params network_params_of(const scenario& s) {
  net::network_params p = net::network_params_for(net::collective_params_for(s.chip),
                                                  s.network.model == network_model::flow
                                                      ? net::timing_model::flow
                                                      : net::timing_model::analytical);
  p.resolve_quantum = s.network.resolve_quantum;
  return p;
}

/// Which row of a measured op profile (cluster::profile_table) times an op; op == nullptr: none.
struct profile_key {
  const char* op = nullptr;  ///< profile op name, without "_backward"
  double tokens = 0;
  double context = 0;
  bool backward = false;
};

/// Counts outstanding pieces of work; the flag is set when the last one is done.
struct countdown {
  explicit countdown(simulation& sim, int n) : done(sim), left(n) {
    if (left == 0) done.set();
  }
  void one() {
    if (--left == 0) done.set();
  }
  flag done;
  int left;
};

struct device_state {
  cluster::stream compute;
  cluster::stream hbm;
  time_ps network_busy = 0;
  double tokens_in = 0;
  std::int64_t compute_op = -1;  ///< op log id of the last recorded op on the compute stream
  std::uint32_t trace_compute = trace_recorder::no_track;
  std::uint32_t trace_hbm = trace_recorder::no_track;
  std::uint32_t trace_net = trace_recorder::no_track;
};

/// An activation (forward) or gradient (backward) available to a model chunk.
struct ready_entry {
  explicit ready_entry(simulation& sim) : available(sim) {}
  flag available;
  op_id op = -1;
};

class step_run {
 public:
  step_run(const scenario& s, trace_recorder& trace, const run_options& opt)
      : s_(s),
        trace_(trace),
        progress_(opt.progress),
        topo_(topo::build_cluster(s.cluster, s.chip)),
        sim_(s.seed),
        net_(sim_, topo_, network_params_of(s)),
        cparams_(net::collective_params_for(s.chip)),
        rates_(cluster::rates_for(s.chip, format_of(s.model.dtype), launch_overhead_ps,
                                  format_of(s.precision.attention_or(s.model.dtype)))),
        layout_(s.parallelism),
        tp_(s.parallelism.tp),
        ep_(s.parallelism.ep),
        pp_(s.parallelism.pp),
        vp_(s.parallelism.vp),
        training_(s.workload.kind == workload_kind::train),
        replicas_(s.folding.dp_replicas ? 1 : s.parallelism.dp),
        micro_batches_(folded_micro_batches(s)),
        steps_(static_cast<int>(s.workload.steps)),
        chunks_(pp_ * vp_),
        shape_(pass_shape_of(s)),
        recompute_(s.workload.training.value_or(training_config{}).recompute),
        nodes_(s.moe.exchange == exchange_kind::hierarchical ? ep_nodes_of(s, layout_)
                                                             : ep_nodes{}),
        ep_nvlink_charge_(ep_nvlink_charge(s)),
        ep_kernel_ps_(ep_kernel_fixed_cost(s)),
        legs_(exchange_legs(s.moe.exchange, ep_, nodes_)),
        sampler_(s, ep_, static_cast<std::int64_t>(shape_.tokens), opt.threads, nodes_.node),
        prefetch_(sampler_, routing_keys(), opt.threads - 1, prefetch_window()),
        dtype_name_(format_name(format_of(s.model.dtype))),
        padded_slots_(s.moe.padded && s.model.moe
                          ? models::expert_capacity(static_cast<std::int64_t>(shape_.tokens),
                                                    s.model.moe->experts, s.model.moe->top_k,
                                                    s.moe.capacity_factor)
                          : 0),
        dev_(static_cast<std::size_t>(layout_.devices())) {
    if (trace_.enabled()) {
      trace_plan plan = plan_trace(s, topo_, opt.trace, trace_);
      for (const topo::device_id d : plan.devices) {
        auto& ds = dev_[static_cast<std::size_t>(d)];
        const std::string name = fmt::format("device {}", d);
        ds.trace_compute = trace_.track(name, "compute");
        ds.trace_hbm = trace_.track(name, "hbm");
        ds.trace_net = trace_.track(name, "network");
      }
      trace_links_ = std::move(plan.links);
      net_.observe_traffic(
          [this](time_ps start, time_ps end, std::span<const net::network::link_traffic> links) {
            trace_link_traffic(start, end, links);
          });
    }
    if (s.model.moe) experts_.resize(static_cast<std::size_t>(s.model.moe->experts));
    completions_.assign(static_cast<std::size_t>(micro_batches_), 0);
    const int passes = steps_ * micro_batches_;
    for (int r = 0; r < replicas_; ++r) {
      for (int k = 0; k < 2 * passes * (chunks_ + 1); ++k) {
        ready_.push_back(std::make_unique<ready_entry>(sim_));
      }
    }
  }

  run_result run() {
    for (int r = 0; r < replicas_; ++r) {
      for (int st = 0; st < pp_; ++st) sim_.spawn(run_stage(r, st));
    }
    sim_.run();
    return result();
  }

 private:
  // ---- shapes and layout -------------------------------------------------------------------

  /// Micro-batches simulated per step: all, or folding.micro_batches when that is fewer.
  static int folded_micro_batches(const scenario& s) {
    const std::uint32_t fold = s.folding.micro_batches;
    return static_cast<int>(fold > 0 && fold < s.workload.micro_batches ? fold
                                                                        : s.workload.micro_batches);
  }

  static pass_shape pass_shape_of(const scenario& s) {
    const auto& w = s.workload;
    const batch_shape b = batch_of(s);
    pass_shape x;
    x.tp = s.parallelism.tp;
    x.sequences = b.pass_sequences;
    x.tokens = b.pass_tokens;
    const double context = std::max<std::uint32_t>(w.context, 1);
    const bool decode = w.kind == workload_kind::decode;
    x.keys = decode ? w.context + 1.0 : (context + 1) / 2;
    x.kv_read_tokens = decode ? w.context : 0;
    x.decode = decode;
    x.kv_dtype = s.precision.kv_or(s.model.dtype);
    return x;
  }

  [[nodiscard]] topo::device_id device(int rep, int stage, int ep_rank, int tp_rank = 0) const {
    return layout_.device({tp_rank, ep_rank, rep, stage});
  }
  device_state& dev(topo::device_id d) { return dev_[static_cast<std::size_t>(d)]; }

  [[nodiscard]] int stage_of_chunk(int model_chunk) const { return model_chunk % pp_; }
  [[nodiscard]] bool is_moe(int layer) const {
    if (!s_.model.moe) return false;
    return layer >= s_.model.layers || models::is_moe_layer(s_.model, layer);
  }
  /// Layers of a model chunk in forward order; the last chunk of a training run also carries
  /// the multi-token-prediction modules (DeepSeek-V3 §2.2), numbered after the main layers.
  [[nodiscard]] std::vector<int> chunk_layers(int model_chunk) const {
    std::vector<int> layers;
    const auto [first, last] = chunk_layer_range(s_.model.layers, chunks_, model_chunk);
    for (int l = first; l < last; ++l) layers.push_back(l);
    if (training_ && model_chunk == chunks_ - 1) {
      for (int i = 0; i < s_.model.mtp_modules; ++i) layers.push_back(s_.model.layers + i);
    }
    return layers;
  }

  ready_entry& ready(int rep, pass_kind kind, int pass, int model_chunk) {
    const int passes = steps_ * micro_batches_;
    const std::size_t i =
        ((static_cast<std::size_t>(rep) * 2 + (kind == pass_kind::backward ? 1 : 0)) *
             static_cast<std::size_t>(passes) +
         static_cast<std::size_t>(pass)) *
            static_cast<std::size_t>(chunks_ + 1) +
        static_cast<std::size_t>(model_chunk);
    return *ready_[i];
  }

  // ---- ops ---------------------------------------------------------------------------------

  /// Enqueues an op on device d's compute stream (its TP peers run the same); returns its end.
  cluster::stream_slot compute(topo::device_id d, category c, const std::string& name, time_ps at,
                               const cluster::op_cost& cost, const profile_key& key = {}) {
    return compute(d, c, name, at, std::span(&cost, 1), key);
  }
  cluster::stream_slot compute(topo::device_id d, category c, const std::string& name, time_ps at,
                               std::span<const cluster::op_cost> kernels,
                               const profile_key& key = {}) {
    device_state& st = dev(d);
    const time_ps dur = duration(kernels, key);
    const auto slot = st.compute.enqueue(at, dur, st.compute_op);
    if (trace_.records(st.trace_compute)) {
      double flops = 0;
      double bytes = 0;
      for (const auto& k : kernels) {
        flops += k.flops;
        bytes += k.bytes;
      }
      trace_.span(st.trace_compute, name, std::string(to_string(c)), slot.start, dur,
                  {{"flops", fmt::format("{:.6g}", flops), true},
                   {"hbm_bytes", fmt::format("{:.6g}", bytes), true}});
    }
    return slot;
  }

  /// An op's time: the scenario's measured profile (op_profile) when it has the op, else the
  /// roofline.
  [[nodiscard]] time_ps duration(std::span<const cluster::op_cost> kernels,
                                 const profile_key& key) const {
    if (s_.profile && key.op != nullptr) {
      const std::string op = std::string(key.op) + (key.backward ? "_backward" : "");
      if (const auto t = s_.profile->lookup(op, dtype_name_, key.tokens, key.context)) return *t;
    }
    return cluster::op_time(rates_, kernels);
  }

  /// After recording `op` for the ranks of (rep, stage): each rank's compute stream now ends
  /// with it, so an op queued behind it next names it as its stream predecessor (the other
  /// task's work, when two overlap).
  void mark_compute(int rep, int stage, op_id op) {
    for (int e = 0; e < ep_; ++e) dev(device(rep, stage, e)).compute_op = op;
  }

  /// The same op on every rank of an EP group at `at`: records it on the critical path as
  /// the slowest rank's op, after `dep`; returns (end, op id).
  std::pair<time_ps, op_id> group_compute(int rep, int stage, category c, const std::string& name,
                                          time_ps at, const cluster::op_cost& cost, op_id dep,
                                          const profile_key& key = {}) {
    return group_compute(rep, stage, c, name, at, std::span(&cost, 1), dep, key);
  }
  /// An op of several kernels run back to back (attention: projections, then the core).
  std::pair<time_ps, op_id> group_compute(int rep, int stage, category c, const std::string& name,
                                          time_ps at, std::span<const cluster::op_cost> kernels,
                                          op_id dep, const profile_key& key = {}) {
    cluster::stream_slot slowest{at, at, -1};
    for (int e = 0; e < ep_; ++e) {
      const auto slot = compute(device(rep, stage, e), c, name, at, kernels, key);
      if (slot.end > slowest.end) slowest = slot;
    }
    const op_id deps[] = {dep, slowest.previous_op};
    const op_id op = ops_.add(c, slowest.start, slowest.end, deps, stage);
    mark_compute(rep, stage, op);
    return {slowest.end, op};
  }

  // ---- collectives -------------------------------------------------------------------------

  /// Plays a planned collective now; returns a countdown to await.
  std::shared_ptr<countdown> collective(const std::shared_ptr<const net::collective_plan>& plan) {
    auto cd = std::make_shared<countdown>(sim_, 1);
    net::run_collective(net_, sim_, plan, cparams_, net::protocol::simple,
                        [cd](time_ps) { cd->one(); });
    return cd;
  }

  /// The TP all-reduce of a pass's activations, over every TP group of (rep, stage).
  std::shared_ptr<const net::collective_plan> tp_plan(int rep, int stage) {
    auto& cached = tp_plans_[{rep, stage}];
    if (!cached) {
      net::collective_spec spec;
      spec.op = net::collective_op::all_reduce;
      spec.bytes = shape_.tokens * s_.model.hidden * models::bytes_per_param(s_.model.dtype);
      for (int e = 0; e < ep_; ++e) spec.groups.push_back(layout_.tp_group(e, rep, stage));
      cached = std::make_shared<net::collective_plan>(net::plan_collective(topo_, cparams_, spec));
    }
    return cached;
  }

  /// An all-to-all-v between the ranks of EP group (rep, stage) in one direction: one
  /// connection per leg (legs_) and TP rank, routed once for the run, and each connection's
  /// receiving EP rank.
  struct exchange_plan {
    net::route_set routes;
    std::vector<std::uint32_t> receiver;
    /// Per connection: link time charged per byte relative to NCCL's. DeepEP's kernels (per_rank
    /// and hierarchical exchanges) reach collective.ep_link_efficiency of NVLink where NCCL
    /// reaches efficiency.link: a connection inside one node is charged link / ep bytes per
    /// byte (empty when every factor is 1).
    std::vector<double> charge;
  };

  const exchange_plan& exchange(int rep, int stage, bool to_experts) {
    auto& plan = exchanges_[{rep, stage, to_experts}];
    if (plan) return *plan;
    std::vector<net::connection> connections;
    plan = std::make_unique<exchange_plan>();
    for (const leg& g : legs_) {
      // The combine runs every leg backwards.
      const int from = to_experts ? g.from : g.to;
      const int to = to_experts ? g.to : g.from;
      for (int t = 0; t < tp_; ++t) {
        const topo::device_id a = device(rep, stage, from, t);
        const topo::device_id b = device(rep, stage, to, t);
        connections.push_back({a, b, exchange_tag});
        plan->receiver.push_back(static_cast<std::uint32_t>(to));
        const bool nvlink = a != b && topo_.family == topo::topology_family::switched &&
                            topo_.devices[static_cast<std::size_t>(a)].group ==
                                topo_.devices[static_cast<std::size_t>(b)].group;
        plan->charge.push_back(nvlink ? ep_nvlink_charge_ : 1.0);
      }
    }
    if (std::all_of(plan->charge.begin(), plan->charge.end(), [](double c) { return c == 1.0; })) {
      plan->charge.clear();
    }
    plan->routes = net_.plan_routes(connections);
    return *plan;
  }

  /// Tokens each connection of the exchange carries (either direction: both carry the same
  /// copies between the same pairs), tp_ entries per leg.
  [[nodiscard]] std::vector<double> exchange_tokens(const layer_routing& lr) const {
    const int per_rank = lr.experts / ep_;
    auto tokens = [&](int src, int dst) -> std::int64_t {
      switch (s_.moe.exchange) {
        case exchange_kind::per_copy: {
          if (s_.moe.padded) return padded_slots_ * per_rank;
          std::int64_t copies = 0;
          for (int e = dst * per_rank; e < (dst + 1) * per_rank; ++e) {
            copies += lr.copies[static_cast<std::size_t>(src) * lr.experts + e];
          }
          return copies;
        }
        case exchange_kind::per_rank:
        case exchange_kind::hierarchical:
          return lr.rank_tokens.at(static_cast<std::size_t>(src) * ep_ + dst);
      }
      return 0;
    };
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
      out.insert(out.end(), static_cast<std::size_t>(tp_), static_cast<double>(n));
    }
    return out;
  }

  /// Bytes of one token sent in `c` (dispatch or combine) in its precision; fp8 activations
  /// carry one fp32 scale per 128 values (DeepSeek-V3 s3.3.2 fine-grained quantization; the
  /// bytes DeepEP's tests count).
  [[nodiscard]] double token_bytes(category c) const {
    const models::weight_dtype d = c == category::dispatch
                                       ? s_.precision.dispatch_or(s_.model.dtype)
                                       : s_.precision.combine_or(s_.model.dtype);
    const double scales = d == models::weight_dtype::fp8 ? 4.0 / 128 : 0;
    return s_.model.hidden * (models::bytes_per_param(d) + scales);
  }

  // ---- routing -----------------------------------------------------------------------------

  /// ECMP tag of every expert-exchange flow: an EP group's connections (RDMA queue pairs) are
  /// set up once and reused by every layer and step, and a connection keeps its path (InfiniBand
  /// forwards by destination through static tables; RoCE hashes the connection's 5-tuple), so
  /// a (source, destination) pair takes the same path every time.
  static constexpr std::uint64_t exchange_tag = 0;

  /// Every routing the run takes: each replica's passes through each MoE layer.
  [[nodiscard]] routing_key_space routing_keys() const {
    routing_key_space keys;
    keys.replicas = replicas_;
    keys.steps = steps_;
    keys.micro_batches = micro_batches_;
    for (int chunk = 0; chunk < chunks_; ++chunk) {
      for (const int layer : chunk_layers(chunk)) {
        if (is_moe(layer)) keys.layers.push_back(layer);
      }
    }
    std::sort(keys.layers.begin(), keys.layers.end());
    return keys;
  }

  /// Routings computed ahead and not yet taken: about 64 MiB of per-(source, expert) counts.
  [[nodiscard]] std::size_t prefetch_window() const {
    constexpr double budget_bytes = 64.0 * 1024 * 1024;
    const double per_routing =
        static_cast<double>(ep_) * (s_.model.moe ? s_.model.moe->experts : 1) * 8.0;
    return static_cast<std::size_t>(std::clamp(budget_bytes / per_routing, 2.0, 4096.0));
  }

  std::shared_ptr<const layer_routing> routing_for(int rep, int pass, int layer, bool forward) {
    const auto key = std::make_tuple(rep, pass, layer);
    if (forward) {
      auto lr = std::make_shared<const layer_routing>(prefetch_.take(rep, pass, layer));
      record_routing(layer, *lr);
      if (training_) routings_[key] = lr;
      return lr;
    }
    auto it = routings_.find(key);
    auto lr = it->second;
    routings_.erase(it);
    return lr;
  }

  // ---- experts -----------------------------------------------------------------------------

  struct expert_op {
    time_ps end = 0;
    time_ps start = 0;
    op_id stream_previous = -1;  ///< the op its compute stream ran before it
    category cat = category::expert_compute;
  };

  /// Expert work of EP rank `e` for one layer pass, enqueued at `at` on its compute stream.
  expert_op run_experts(int rep, int stage, int e, const layer_routing& lr, time_ps at, bool fwd,
                        const std::string& tag) {
    const int per_rank = lr.experts / ep_;
    double copies = 0;
    int active = 0;
    for (int x = e * per_rank; x < (e + 1) * per_rank; ++x) {
      std::int64_t n = 0;
      for (int src = 0; src < ep_; ++src)
        n += lr.copies[static_cast<std::size_t>(src) * lr.experts + x];
      copies += static_cast<double>(n);
      active += n > 0 ? 1 : 0;
    }
    // Static shapes: every local expert computes over its full capacity from every source.
    const double computed =
        s_.moe.padded ? static_cast<double>(padded_slots_) * per_rank * ep_ : copies;
    const int loaded = s_.moe.padded ? per_rank : active;
    const cluster::op_cost f = expert_cost(s_.model, shape_, computed, loaded);
    const cluster::op_cost cost = fwd ? f : backward_cost(f, 0, recompute_);
    const category c = cluster::memory_bound(rates_, cost) ? category::expert_weight_load
                                                           : category::expert_compute;
    const topo::device_id d = device(rep, stage, e);
    device_state& st = dev(d);
    const cluster::stream_slot gemm =
        compute(d, c, fmt::format("experts {} ({} active)", tag, active), at, cost,
                {"experts", computed, 0, !fwd});
    const time_ps gemm_end = gemm.end;
    const double shared_tokens = s_.model.moe->shared_experts > 0 ? shape_.tokens : 0;
    const cluster::op_cost act = ffn_elementwise_cost(
        s_.model, shape_, computed + shared_tokens * s_.model.moe->shared_experts,
        s_.model.moe->expert_ffn_hidden, computed);
    const time_ps end =
        compute(d, category::expert_compute, "expert activation " + tag, gemm_end,
                fwd ? act : backward_cost(act, 0, recompute_), {"activation", computed, 0, !fwd})
            .end;
    // The weight stream on the HBM track: the part of the op spent reading expert weights.
    const double weight_bytes =
        f.bytes - 2.0 * computed * s_.model.hidden * models::bytes_per_param(s_.model.dtype);
    const time_ps weights_ps =
        ps_from_seconds(std::max(0.0, weight_bytes) / rates_.hbm_bytes_per_s);
    const auto w = st.hbm.enqueue(gemm.start, weights_ps, -1);
    if (trace_.records(st.trace_hbm)) {
      trace_.span(st.trace_hbm, "expert weights " + tag, "expert_weight_load", w.start, weights_ps,
                  {{"bytes", fmt::format("{:.6g}", weight_bytes), true},
                   {"active_experts", std::to_string(active), true}});
    }
    if (fwd) st.tokens_in += copies;
    return {end, gemm.start, gemm.previous_op, c};
  }

  /// Trace counters of the links an exchange loaded hardest: the average rate each carried over
  /// the exchange (GB/s, under the trace process "links", back to 0 at its end), for the
  /// InfiniBand, DCN and ICI links it kept at least half busy (NVLink and PCIe legs are the
  /// devices' own network tracks; quieter links would swell a large run's trace). Overlapping
  /// exchanges on one link show the later one's rate.
  /// Trace counters of the links a batch of flows (an expert exchange, a pipeline send, one
  /// phase of a TP or DP collective) kept at least half busy: its average rate over the batch,
  /// from its start to its last byte. A later batch on the same link overwrites the value.
  void trace_link_traffic(time_ps start, time_ps end,
                          std::span<const net::network::link_traffic> links) {
    if (end <= start) return;
    const double span_s = seconds(end - start);
    for (const auto& [link, b] : links) {
      const auto l = static_cast<topo::link_id>(link);
      if (!trace_links_[static_cast<std::size_t>(l)]) continue;  // not selected
      if (b / span_s < 0.5 * net_.capacity_bytes_per_s(l)) continue;
      const auto& info = topo_.link(l);
      if (info.kind == topo::link_kind::pcie) continue;
      const std::string name = fmt::format("{} {}->{} GB/s", to_string(info.kind),
                                           topo_.name(info.src), topo_.name(info.dst));
      trace_.counter_interval("links", name, start, end, b / span_s / 1e9);
    }
  }

  void note_network(int rep, int stage, category c, const std::string& tag, time_ps start,
                    const std::vector<time_ps>& arrived) {
    for (int e = 0; e < ep_; ++e) {
      device_state& st = dev(device(rep, stage, e));
      const time_ps end = arrived[static_cast<std::size_t>(e)];
      st.network_busy += end - start;
      if (trace_.records(st.trace_net) && end > start) {
        trace_.span(st.trace_net, std::string(to_string(c)) + " " + tag, std::string(to_string(c)),
                    start, end - start);
      }
    }
  }

  // ---- collectives started now, awaited by the caller ----------------------------------------

  std::shared_ptr<countdown> start_tp_all_reduce(int rep, int stage) {
    return collective(tp_plan(rep, stage));
  }

  /// Sends the activations (forward) or their gradients (backward) of one micro-batch from
  /// every device of stage `from` to the same position of stage `to`, then publishes them.
  void send(int rep, int from, int to, op_id after, ready_entry& out) {
    const double bytes =
        shape_.tokens * s_.model.hidden * models::bytes_per_param(s_.model.dtype) / tp_;
    std::vector<net::flow_request> flows;
    for (int e = 0; e < ep_; ++e) {
      for (int t = 0; t < tp_; ++t) {
        flows.push_back({device(rep, from, e, t), device(rep, to, e, t), bytes,
                         static_cast<std::uint64_t>(from * pp_ + to)});
      }
    }
    const time_ps start = sim_.now();
    const std::vector<std::uint32_t> one_group(flows.size(), 0);
    net_.start_groups(flows, one_group, 1, [this, start, after, from, &out](std::size_t) {
      publish(out, network_op(category::pipeline_bubble, start, after, from));
    });
  }

  op_id network_op(category c, time_ps start, op_id dep, int owner) {
    const op_id deps[] = {dep};
    return ops_.add(c, start, sim_.now(), deps, owner);
  }

  // ---- tasks -------------------------------------------------------------------------------

  process run_stage(int rep, int stage) {
    schedule_options o;
    o.pp = pp_;
    o.vp = vp_;
    o.micro_batches = micro_batches_;
    o.overlap = s_.workload.overlap;
    const std::vector<pipeline_slot> slots =
        training_ ? one_f_one_b(o, stage) : forward_only(o, stage);
    op_id last = -1;
    for (int step = 0; step < steps_; ++step) {
      for (const pipeline_slot& slot : slots) {
        auto cd = std::make_shared<countdown>(sim_, static_cast<int>(slot.tasks.size()));
        auto ends = std::make_shared<std::vector<op_id>>();
        for (const pipeline_task& t : slot.tasks) {
          sim_.spawn(run_task(rep, stage, step, t, last, cd, ends));
        }
        co_await cd->done;
        for (op_id e : *ends) last = latest(last, e);
      }
      if (training_) {
        const time_ps start = sim_.now();
        const bool zero = s_.workload.training.value_or(training_config{}).zero >= 1;
        auto grads = start_gradient_sync(
            stage, step,
            zero ? net::collective_op::reduce_scatter : net::collective_op::all_reduce);
        co_await grads->started;
        co_await grads->done->done;
        if (sim_.now() > start) last = network_op(category::dp_collective, start, last, stage);
        const time_ps end = optimizer(rep, stage);
        const op_id deps[] = {last};
        last = ops_.add(category::optimizer, sim_.now(), end, deps, stage);
        co_await until{end};
        if (zero) {
          const time_ps gather = sim_.now();
          auto params = start_gradient_sync(stage, step, net::collective_op::all_gather);
          co_await params->started;
          co_await params->done->done;
          if (sim_.now() > gather) last = network_op(category::dp_collective, gather, last, stage);
        }
      }
    }
    end_time_ = std::max(end_time_, sim_.now());
  }

  [[nodiscard]] op_id latest(op_id a, op_id b) const {
    if (a < 0) return b;
    if (b < 0) return a;
    return ops_.end_of(a) >= ops_.end_of(b) ? a : b;
  }

  process run_task(int rep, int stage, int step, pipeline_task t, op_id prev,
                   std::shared_ptr<countdown> done, std::shared_ptr<std::vector<op_id>> ends) {
    const bool fwd = t.kind == pass_kind::forward;
    const int model_chunk = t.chunk * pp_ + stage;
    const int pass = step * micro_batches_ + t.micro_batch;
    const bool last_chunk = model_chunk == chunks_ - 1;
    // 1. The input: the previous chunk's activations, the next chunk's gradients (or this
    //    chunk's own forward, on the last chunk), or (decode) the previous step's token.
    op_id cur = prev;
    ready_entry* in = nullptr;
    if (fwd && model_chunk > 0) {
      in = &ready(rep, t.kind, pass, model_chunk);
    } else if (fwd && !training_ && step > 0) {
      in = &ready(rep, t.kind, pass - micro_batches_, chunks_);
    } else if (!fwd) {
      in = &ready(rep, t.kind, pass, model_chunk);
    }
    if (in != nullptr) {
      co_await in->available;
      // A zero-length mark keeps both the stage's own order and the input as dependencies, so
      // the critical path can tell a wait for another stage (pipeline bubble) from work.
      const op_id deps[] = {prev, in->op};
      cur = ops_.add(category::idle, sim_.now(), sim_.now(), deps, stage);
    }
    std::vector<int> layers = chunk_layers(model_chunk);
    if (!fwd) std::reverse(layers.begin(), layers.end());
    if (!fwd && last_chunk) {
      auto [end, op] = head(rep, stage, false, cur);
      cur = op;
      co_await until{end};
    }
    // 2. The layers: the awaits are inline, as a process cannot await another process.
    for (const int layer : layers) {
      const std::string tag = fmt::format("{} L{} mb{}", fwd ? "fwd" : "bwd", layer, pass);
      const bool moe = is_moe(layer);
      if (fwd) {
        const attention_kernels attn = attention_cost(s_.model, shape_);
        const cluster::op_cost kernels[] = {attn.projections, attn.core};
        auto [end, op] =
            group_compute(rep, stage, category::attention, "attention " + tag, sim_.now(), kernels,
                          cur, {"attention", shape_.tokens, shape_.keys});
        std::tie(end, cur) = group_compute(rep, stage, category::attention, "norms " + tag, end,
                                           attention_elementwise_cost(s_.model, shape_), op,
                                           {"norms", shape_.tokens});
        if (moe) {
          std::tie(end, cur) =
              group_compute(rep, stage, category::router, "router " + tag, end,
                            router_cost(s_.model, shape_), cur, {"router", shape_.tokens});
        }
        co_await until{end};
        if (tp_ > 1) {
          const time_ps start = sim_.now();
          co_await start_tp_all_reduce(rep, stage)->done;
          cur = network_op(category::tp_collective, start, cur, stage);
        }
      }
      if (moe) {
        const auto lr = routing_for(rep, pass, layer, fwd);
        // Both directions carry the same copies between the same pairs.
        const std::vector<double> tokens = exchange_tokens(*lr);
        // Forward: dispatch to the experts, experts, combine back. Backward: the combine's
        // gradient to the experts, experts backward, the dispatch's gradient back.
        for (int phase = 0; phase < 2; ++phase) {
          const bool to_experts = phase == 0;
          const category c = to_experts == fwd ? category::dispatch : category::combine;
          const time_ps start = sim_.now();
          const exchange_plan& plan = exchange(rep, stage, to_experts);
          std::vector<double> bytes = tokens;
          for (double& b : bytes) b *= token_bytes(c);
          if (fwd && to_experts) {
            for (std::size_t i = 0; i < bytes.size(); ++i) {
              const auto& conn = plan.routes.at(i);
              dispatch_bytes_ += conn.src == conn.dst ? 0 : bytes[i];
            }
          }
          if (ep_kernel_ps_ > 0) co_await until{start + ep_kernel_ps_};
          auto arrived =
              std::make_shared<std::vector<time_ps>>(static_cast<std::size_t>(ep_), start);
          auto cd = std::make_shared<countdown>(sim_, ep_);
          std::vector<double> charged;
          if (!plan.charge.empty()) {
            charged.resize(bytes.size());
            for (std::size_t i = 0; i < bytes.size(); ++i) charged[i] = bytes[i] * plan.charge[i];
          }
          net_.start_groups(plan.routes, plan.charge.empty() ? bytes : charged, plan.receiver,
                            static_cast<std::size_t>(ep_), [this, arrived, cd](std::size_t e) {
                              (*arrived)[e] = sim_.now();
                              cd->one();
                            });
          co_await cd->done;
          note_network(rep, stage, c, tag, start, *arrived);
          if (!to_experts) {
            cur = network_op(c, start, cur, stage);
            continue;
          }
          // Each rank's experts start when its own tokens are in; the slowest rank's
          // exchange and experts are the group's critical path.
          expert_op critical;
          int critical_rank = 0;
          for (int e = 0; e < ep_; ++e) {
            const expert_op x =
                run_experts(rep, stage, e, *lr, (*arrived)[static_cast<std::size_t>(e)], fwd, tag);
            if (x.end > critical.end) {
              critical = x;
              critical_rank = e;
            }
          }
          const time_ps arrival = (*arrived)[static_cast<std::size_t>(critical_rank)];
          const op_id a_deps[] = {cur};
          const op_id a = ops_.add(c, start, arrival, a_deps, stage);
          const op_id x_deps[] = {a, critical.stream_previous};
          cur = ops_.add(critical.cat, critical.start, critical.end, x_deps, stage);
          mark_compute(rep, stage, cur);
          co_await until{std::max(critical.end, sim_.now())};
        }
        if (!fwd) {
          auto [end, op] =
              group_compute(rep, stage, category::router, "router " + tag, sim_.now(),
                            backward_cost(router_cost(s_.model, shape_), 0, recompute_), cur,
                            {"router", shape_.tokens, 0, true});
          cur = op;
          co_await until{end};
        }
      } else {
        const cluster::op_cost ffn = dense_ffn_cost(s_.model, shape_);
        const cluster::op_cost act =
            ffn_elementwise_cost(s_.model, shape_, shape_.tokens, s_.model.dense_ffn_hidden, 0);
        auto [end, op] = group_compute(rep, stage, category::dense_ffn, "dense ffn " + tag,
                                       sim_.now(), fwd ? ffn : backward_cost(ffn, 0, recompute_),
                                       cur, {"dense_ffn", shape_.tokens, 0, !fwd});
        std::tie(end, cur) = group_compute(rep, stage, category::dense_ffn, "activation " + tag,
                                           end, fwd ? act : backward_cost(act, 0, recompute_), op,
                                           {"activation", shape_.tokens, 0, !fwd});
        co_await until{end};
      }
      if (tp_ > 1) {
        const time_ps start = sim_.now();
        co_await start_tp_all_reduce(rep, stage)->done;
        cur = network_op(category::tp_collective, start, cur, stage);
      }
      if (!fwd) {
        const attention_kernels attn = attention_cost(s_.model, shape_);
        const cluster::op_cost kernels[] = {backward_cost(attn.projections, 0, recompute_),
                                            backward_cost(attn.core, attn.core.flops, recompute_)};
        auto [end, op] =
            group_compute(rep, stage, category::attention, "attention " + tag, sim_.now(), kernels,
                          cur, {"attention", shape_.tokens, shape_.keys, true});
        std::tie(end, cur) = group_compute(
            rep, stage, category::attention, "norms " + tag, end,
            backward_cost(attention_elementwise_cost(s_.model, shape_), 0, recompute_), op,
            {"norms", shape_.tokens, 0, true});
        co_await until{end};
        if (tp_ > 1) {
          const time_ps start = sim_.now();
          co_await start_tp_all_reduce(rep, stage)->done;
          cur = network_op(category::tp_collective, start, cur, stage);
        }
      }
    }
    if (fwd && last_chunk) {
      auto [end, op] = head(rep, stage, true, cur);
      cur = op;
      co_await until{end};
    }
    // 3. Hand the output on: to the next chunk's stage (forward), the previous chunk's
    //    (backward), this stage's own backward (last chunk), or the next decode step.
    const int next = fwd ? model_chunk + 1 : model_chunk - 1;
    if (next >= 0 && next < chunks_) {
      const int to = stage_of_chunk(next);
      ready_entry& out = ready(rep, t.kind, pass, next);
      if (to == stage) {
        publish(out, cur);
      } else {
        // The send overlaps the stage's next task (Megatron's overlapped p2p communication).
        send(rep, stage, to, cur, out);
      }
    } else if (fwd && training_) {
      publish(ready(rep, pass_kind::backward, pass, model_chunk), cur);
    } else if (fwd) {
      publish(ready(rep, t.kind, pass, chunks_), cur);
    }
    // A micro-batch is through the pipeline when its last pass ends (folding measures the
    // steady-state period from these).
    if (rep == 0 && step == 0 && (training_ ? !fwd && model_chunk == 0 : fwd && last_chunk)) {
      completions_[static_cast<std::size_t>(t.micro_batch)] = sim_.now();
    }
    if (progress_) {
      progress_(++passes_done_, static_cast<std::uint64_t>(replicas_ * steps_ * micro_batches_ *
                                                           chunks_ * (training_ ? 2 : 1)));
    }
    ends->push_back(cur);
    done->one();
  }

  /// The output head (and the loss) on the last chunk: forward after the last layer, backward
  /// before it.
  std::pair<time_ps, op_id> head(int rep, int stage, bool fwd, op_id dep) {
    const double positions = training_ ? shape_.tokens : shape_.sequences;
    cluster::op_cost c = lm_head_cost(s_.model, positions, tp_);
    if (training_) {
      // The multi-token-prediction modules have heads of their own (DeepSeek-V3 §2.2).
      c.flops *= 1 + s_.model.mtp_modules;
      c.bytes *= 1 + s_.model.mtp_modules;
    }
    return group_compute(rep, stage, category::lm_head, fwd ? "lm head" : "lm head bwd", sim_.now(),
                         fwd ? c : backward_cost(c, 0, recompute_), dep,
                         {"lm_head", positions, 0, !fwd});
  }

  void publish(ready_entry& r, op_id op) {
    r.op = op;
    r.available.set();
  }

  // ---- weight update -------------------------------------------------------------------------

  /// Parameters one device of `stage` holds, split into those reduced over the attention-DP
  /// group (ep·dp replicas) and the routed experts (dp replicas); already divided by tp.
  struct stage_params {
    double dense = 0;
    double experts = 0;
  };
  [[nodiscard]] stage_params params_of(int stage) const {
    const auto& m = s_.model;
    stage_params p;
    const double expert = static_cast<double>(models::expert_params(m));
    const int routed = m.moe ? m.moe->experts : 0;
    for (int c = stage; c < chunks_; c += pp_) {
      for (const int l : chunk_layers(c)) {
        // An MTP module's block is shaped like the last layer (an MoE layer in DeepSeek-V3).
        double all = static_cast<double>(models::layer_params(m, std::min(l, m.layers - 1)));
        if (is_moe(l)) {
          all -= routed * expert;
          p.experts += routed / ep_ * expert;
        }
        p.dense += all;
      }
    }
    if (stage == 0) p.dense += static_cast<double>(models::embedding_params(m));
    if (stage == stage_of_chunk(chunks_ - 1))
      p.dense += static_cast<double>(models::lm_head_params(m));
    p.dense /= tp_;
    p.experts /= tp_;
    return p;
  }

  /// Gradient reduce-scatter / all-reduce, or the parameter all-gather, of one stage over its
  /// data-parallel groups (every group at once, over the real devices even when folded).
  struct gradient_sync {
    gradient_sync(simulation& sim, int replicas) : started(sim), waiting(replicas) {}
    flag started;  ///< the collectives are running (done is set)
    int waiting;
    std::shared_ptr<countdown> done;
  };

  std::shared_ptr<gradient_sync> start_gradient_sync(int stage, int step, net::collective_op op) {
    const training_config t = s_.workload.training.value_or(training_config{});
    const stage_params p = params_of(stage);
    const double bytes_per = op == net::collective_op::all_gather
                                 ? models::bytes_per_param(s_.model.dtype)
                                 : models::bytes_per_param(t.gradients);
    std::vector<std::shared_ptr<const net::collective_plan>> plans;
    auto plan_for = [&](int kind, double bytes, auto groups_of) {
      auto& cached = dp_plans_[{stage, kind, static_cast<int>(op)}];
      if (!cached) {
        net::collective_spec spec;
        spec.op = op;
        spec.bytes = bytes;
        groups_of(spec.groups);
        cached =
            std::make_shared<net::collective_plan>(net::plan_collective(topo_, cparams_, spec));
      }
      plans.push_back(cached);
    };
    if (ep_ * layout_.config().dp > 1 && p.dense > 0) {
      plan_for(0, p.dense * bytes_per, [&](auto& groups) {
        for (int t2 = 0; t2 < tp_; ++t2) groups.push_back(layout_.attention_dp_group(t2, stage));
      });
    }
    if (layout_.config().dp > 1 && p.experts > 0) {
      plan_for(1, p.experts * bytes_per, [&](auto& groups) {
        for (int t2 = 0; t2 < tp_; ++t2) {
          for (int e = 0; e < ep_; ++e) groups.push_back(layout_.expert_dp_group(t2, e, stage));
        }
      });
    }
    // Every simulated replica arrives here; the collectives (spanning all replicas) start
    // when the last one has.
    auto& sync = dp_sync_[{stage, static_cast<int>(op), step}];
    if (!sync) sync = std::make_shared<gradient_sync>(sim_, replicas_);
    if (--sync->waiting == 0) {
      sync->done = std::make_shared<countdown>(sim_, static_cast<int>(plans.size()));
      for (const auto& plan : plans) {
        net::run_collective(net_, sim_, plan, cparams_, net::protocol::simple,
                            [cd = sync->done](time_ps) { cd->one(); });
      }
      sync->started.set();
    }
    return sync;
  }

  /// Mixed-precision Adam on the device's shard: fp32 master weights and two moments read and
  /// written (24 B), the fp32 gradient read (4 B), the bf16 weight written (2 B) per parameter;
  /// memory-bound. Returns the end on each device of the stage (all equal).
  time_ps optimizer(int rep, int stage) {
    const training_config t = s_.workload.training.value_or(training_config{});
    const stage_params p = params_of(stage);
    const double dense_shard = t.zero >= 1 ? ep_ * layout_.config().dp : 1;
    const double expert_shard = t.zero >= 1 ? layout_.config().dp : 1;
    const double params = p.dense / dense_shard + p.experts / expert_shard;
    const cluster::op_cost cost{10.0 * params, 30.0 * params};
    time_ps end = sim_.now();
    for (int e = 0; e < ep_; ++e) {
      end = std::max(end, compute(device(rep, stage, e), category::optimizer, "optimizer step",
                                  sim_.now(), cost)
                              .end);
    }
    return end;
  }

  // ---- statistics ------------------------------------------------------------------------------

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
        const auto n =
            static_cast<double>(lr.copies[static_cast<std::size_t>(src) * lr.experts + e]);
        per_rank[static_cast<std::size_t>(e / per)] += n;
        experts_[static_cast<std::size_t>(e)].tokens += n;
      }
    }
    for (int e = 0; e < lr.experts; ++e) {
      experts_[static_cast<std::size_t>(e)].dropped +=
          static_cast<double>(lr.dropped_per_expert[static_cast<std::size_t>(e)]);
    }
    double mx = 0;
    double sum = 0;
    for (double v : per_rank) {
      mx = std::max(mx, v);
      sum += v;
    }
    if (sum > 0) {
      imbalance_sum_ += mx / (sum / ep_);
      ls.load_max_over_mean += mx / (sum / ep_);
    }
  }

  [[nodiscard]] double tokens_per_step() const { return batch_of(s_).step_tokens; }

  /// Model FLOPs per step: Megatron's count for training; the forward's for inference.
  [[nodiscard]] double model_flops_per_step() const {
    const auto& w = s_.workload;
    if (training_) return training_model_flops_per_token(s_.model, w.context) * tokens_per_step();
    const double keys = w.kind == workload_kind::prefill ? (w.context + 1.0) / 2 : w.context + 1.0;
    return models::forward_flops_per_token(s_.model, static_cast<std::int64_t>(keys)) *
           tokens_per_step();
  }

  run_result result() const {
    run_result r;
    r.scenario = s_.name;
    r.variant = s_.variant;
    r.seed = s_.seed;
    r.workload = training_                                    ? "train"
                 : s_.workload.kind == workload_kind::prefill ? "prefill"
                                                              : "decode";
    r.network_model = s_.network.model == network_model::flow ? "flow" : "analytical";
    r.devices = layout_.devices();
    r.steps = s_.workload.steps;
    const time_ps extra = folded_time();
    r.simulated_time_s = seconds(end_time_ + extra);
    r.step_time_s = r.simulated_time_s / r.steps;
    r.tokens_per_step = tokens_per_step();
    r.tokens_per_s = r.step_time_s > 0 ? r.tokens_per_step / r.step_time_s : 0;
    r.tokens_per_s_per_device = r.tokens_per_s / r.devices;
    const double flops_per_s_per_device =
        r.step_time_s > 0 ? model_flops_per_step() / r.step_time_s / r.devices : 0;
    r.model_tflops_per_device = flops_per_s_per_device / 1e12;
    const double peak = cluster::rates_for(s_.chip, format_of(s_.model.dtype), 0).flops_per_s /
                        s_.chip.efficiency.compute.value_or(1.0);
    r.mfu = peak > 0 ? flops_per_s_per_device / peak : 0;
    if (s_.chip.price_usd_per_hour && r.tokens_per_s > 0) {
      r.cost_usd_per_million_tokens =
          *s_.chip.price_usd_per_hour * r.devices / 3600.0 / r.tokens_per_s * 1e6;
    }
    r.breakdown_s = ops_.critical_path(busiest_stage());
    stretch(r.breakdown_s, seconds(extra));
    for (auto& [k, v] : r.breakdown_s) v /= r.steps;
    if (routed_layers_ > 0) {
      const double n = routed_layers_;
      r.load_max_over_mean = imbalance_sum_ / n;
      r.unique_experts = unique_sum_ / n;
      r.drop_rate = drop_sum_ / n;
      r.dispatch_bytes_per_step = dispatch_bytes_ / r.steps;
      r.experts = experts_;
      const double per_layer = static_cast<double>(steps_) * micro_batches_ * replicas_;
      for (auto [layer, ls] : layer_sums_) {
        ls.drop_rate /= per_layer;
        ls.unique_experts /= per_layer;
        ls.load_max_over_mean /= per_layer;
        r.layers.push_back(ls);
      }
      const double per_step_layer = n / (steps_ * replicas_);
      for (auto& e : r.experts) {
        e.tokens /= per_step_layer;
        e.dropped /= per_step_layer;
      }
    }
    const std::vector<cluster::memory_plan> memory = stage_memory_plans(s_);
    for (int d = 0; d < r.devices; ++d) {
      const coords c = layout_.of(d);
      const auto& st = dev_[static_cast<std::size_t>(
          layout_.device({0, c.ep, replicas_ == 1 ? 0 : c.dp, c.pp}))];
      const double memory_bytes = memory[static_cast<std::size_t>(c.pp)].total_bytes;
      // Per step, the folded micro-batches included.
      const double per_step =
          static_cast<double>(s_.workload.micro_batches) / micro_batches_ / r.steps;
      r.per_device.push_back(
          {seconds(st.compute.busy_ps()) * per_step, seconds(st.hbm.busy_ps()) * per_step,
           seconds(st.network_busy) * per_step, st.tokens_in * per_step, memory_bytes});
      r.peak_hbm_bytes = std::max(r.peak_hbm_bytes, memory_bytes);
    }
    r.layout = layout_.describe();
    approximations(r);
    r.events = sim_.events_processed();
    return r;
  }

  /// The pipeline stage whose devices computed longest (replica 0): the bottleneck whose
  /// timeline the breakdown follows.
  [[nodiscard]] int busiest_stage() const {
    int best = 0;
    time_ps most = -1;
    for (int st = 0; st < pp_; ++st) {
      for (int e = 0; e < ep_; ++e) {
        const time_ps busy =
            dev_[static_cast<std::size_t>(layout_.device({0, e, 0, st}))].compute.busy_ps();
        if (busy > most) {
          most = busy;
          best = st;
        }
      }
    }
    return best;
  }

  /// Folding of micro-batches: the time the unsimulated ones add, at the steady-state period
  /// P measured between completions of micro-batches 1 .. N-pp-1 of the first step (the
  /// pipeline's pace once filled, before the cool-down): (M - N) * P per step.
  [[nodiscard]] time_ps folded_time() const {
    const int total = static_cast<int>(s_.workload.micro_batches);
    if (micro_batches_ >= total) return 0;
    const int first = 1;
    const int last = micro_batches_ - pp_ - 1;
    const time_ps period = (completions_[static_cast<std::size_t>(last)] -
                            completions_[static_cast<std::size_t>(first)]) /
                           (last - first);
    return period * (total - micro_batches_) * steps_;
  }

  /// Spreads `extra` seconds over the categories of the pipeline's steady state (everything
  /// but the bubble and the once-per-step gradient sync and optimizer), in proportion.
  static void stretch(breakdown& b, double extra) {
    if (extra <= 0) return;
    auto steady = [](const std::string& k) {
      return k != "pipeline_bubble" && k != "dp_collective" && k != "optimizer";
    };
    double base = 0;
    for (const auto& [k, v] : b) base += steady(k) ? v : 0;
    if (base <= 0) return;
    for (auto& [k, v] : b) v += steady(k) ? extra * v / base : 0;
  }

  void approximations(run_result& r) const {
    const std::string scaling =
        scaled_ ? "; per-device counts scaled to the full batch by multinomial draws" : "";
    if (s_.sampling.trace) {
      const std::string& file = s_.sampling.routing_trace.file;
      r.approximations.push_back(fmt::format("routing replayed from {} ({} tokens per layer){}",
                                             file, sampler_.sample_tokens(), scaling));
      const auto missing = models::unrecorded_layers(*s_.sampling.trace, s_.model, training_);
      if (!missing.empty()) {
        r.approximations.push_back(fmt::format(
            "routing trace reuse cyclic: {} of the {} routed MoE layers are not in {} and replay "
            "its recorded layers in turn",
            missing.size(), models::routed_layers(s_.model, training_).size(), file));
      }
    } else if (s_.model.moe) {
      r.approximations.push_back(fmt::format(
          "routing maths on {} sampled tokens per layer and micro-batch at hidden size {} "
          "(model: {}){}",
          sampler_.sample_tokens(), sampler_.math_hidden(), s_.model.hidden, scaling));
    }
    if (s_.network.model == network_model::flow && s_.network.resolve_quantum > 0) {
      r.approximations.push_back(
          fmt::format("flow network re-solved at most every {} x busy time after finishes",
                      s_.network.resolve_quantum));
    }
    if (ep_kernel_ps_ > 0) {
      r.approximations.push_back(fmt::format(
          "decode per_copy exchanges run as DeepEP low-latency kernels: {} us fixed per dispatch "
          "or combine (collective.ep_low_latency_kernel_ps)",
          static_cast<double>(ep_kernel_ps_) / ps_per_us));
    }
    r.approximations.push_back(fmt::format("op times by roofline with {} us launch overhead per op",
                                           static_cast<double>(launch_overhead_ps) / ps_per_us));
    const auto absent = cluster::absent_efficiencies(s_.chip, format_of(s_.model.dtype));
    if (!absent.empty()) {
      r.approximations.push_back(fmt::format(
          "chip {} has no measured efficiency.{}: {}", s_.chip.name,
          fmt::join(absent, ", efficiency."),
          "compute and HBM at datasheet peak, fp8 GEMMs at the bf16 factor, attention at the GEMM "
          "factor, where absent"));
    }
    if (micro_batches_ < static_cast<int>(s_.workload.micro_batches)) {
      r.approximations.push_back(fmt::format(
          "folding.micro_batches: {} of {} micro-batches per step simulated; the rest added at "
          "the measured steady-state period of {:.6g} s each, spread over the steady-state "
          "categories of the breakdown",
          micro_batches_, s_.workload.micro_batches,
          seconds(folded_time()) / steps_ /
              (static_cast<double>(s_.workload.micro_batches) - micro_batches_)));
    }
    if (replicas_ < layout_.config().dp) {
      r.approximations.push_back(fmt::format(
          "folding.dp_replicas: 1 of {} data-parallel replicas simulated, its figures copied to "
          "the others; gradient collectives run over all devices",
          layout_.config().dp));
    }
    if (tp_ > 1) {
      r.approximations.push_back(
          "tensor parallelism without sequence parallelism: an all-reduce after attention and "
          "after the FFN / MoE block; each expert split over the TP ranks, which all receive its "
          "tokens");
    }
  }

  const scenario& s_;
  trace_recorder& trace_;
  progress_fn progress_;
  std::uint64_t passes_done_ = 0;  ///< tasks (pipeline passes) done, for progress_
  std::vector<bool> trace_links_;  ///< [link id]: whether the trace keeps its counters
  topo::topology topo_;
  simulation sim_;
  net::network net_;
  net::collective_params cparams_;
  cluster::device_rates rates_;
  layout layout_;
  int tp_;
  int ep_;
  int pp_;
  int vp_;
  bool training_;
  int replicas_;
  int micro_batches_;
  int steps_;
  int chunks_;
  pass_shape shape_;
  cluster::recompute_mode recompute_;
  ep_nodes nodes_;               ///< hierarchical exchange: where an EP group's ranks sit
  double ep_nvlink_charge_ = 1;  ///< see exchange_plan::charge
  time_ps ep_kernel_ps_ = 0;     ///< see ep_kernel_fixed_cost
  std::vector<leg> legs_;  ///< the dispatch direction's rank-to-rank legs, in connection order
  routing_sampler sampler_;
  routing_prefetch prefetch_;  ///< after sampler_: its workers use it
  std::string dtype_name_;     ///< the op profile's dtype column for the model's number format
  /// Padded dispatch: slots each source sends each expert (its local capacity), else 0.
  std::int64_t padded_slots_ = 0;
  std::vector<device_state> dev_;
  op_log ops_;
  std::vector<std::unique_ptr<ready_entry>> ready_;
  std::map<std::tuple<int, int, int>, std::shared_ptr<const layer_routing>> routings_;
  std::map<std::tuple<int, int, bool>, std::unique_ptr<exchange_plan>> exchanges_;
  std::map<std::pair<int, int>, std::shared_ptr<const net::collective_plan>> tp_plans_;
  std::map<std::tuple<int, int, int>, std::shared_ptr<const net::collective_plan>> dp_plans_;
  std::map<std::tuple<int, int, int>, std::shared_ptr<gradient_sync>> dp_sync_;
  time_ps end_time_ = 0;
  std::vector<time_ps> completions_;  ///< replica 0, step 0: when each micro-batch finished
  std::vector<expert_load> experts_;
  int routed_layers_ = 0;
  std::map<int, layer_stats> layer_sums_;
  double unique_sum_ = 0;
  double drop_sum_ = 0;
  double imbalance_sum_ = 0;
  double dispatch_bytes_ = 0;
  bool scaled_ = false;
};

}  // namespace

run_result simulate_steps(const scenario& s, trace_recorder& trace, const run_options& opt) {
  check_batch(s);
  step_run run(s, trace, opt);
  return run.run();
}

}  // namespace moesim::sim::run
