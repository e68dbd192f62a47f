// About 640 lines: every check a scenario passes before it is simulated, in one place (the
// loader calls check_feasible for validate, run and each sweep point, so a file that validates
// runs). The split when it grows: the serving checks (KV pool, serving layout) into
// serve_feasibility.cpp.
#include "sim/run/feasibility.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "models/model_params.hpp"
#include "sim/run/batch.hpp"
#include "sim/run/expert_offload.hpp"
#include "sim/run/expert_placement.hpp"
#include "sim/run/layout.hpp"
#include "sim/run/serve_instances.hpp"
#include "sim/run/speculation.hpp"
#include "topologies/cluster.hpp"

namespace moesim::sim::run {

namespace {

// What the memory accounting needs of the model, from its exact parameter counts. Norm and
// final-norm counts are what layer_params and total_params hold beyond the named parts, so the
// accounting follows models/model_params.hpp's conventions without restating them.
cluster::model_memory_shape memory_shape(const models::model_spec& m,
                                         const precision_config& precision) {
  cluster::model_memory_shape x;
  x.hidden = m.hidden;
  x.heads = m.attention.heads;
  x.vocab = m.vocab;
  x.attention_params = models::attention_params(m);
  x.dense_ffn_params = models::dense_ffn_params(m);
  x.dense_ffn_hidden = m.dense_ffn_hidden;
  x.router_params = models::router_params(m);
  x.expert_params = models::expert_params(m);
  x.gated_ffn = models::is_gated(m.activation);
  x.embedding_params = models::embedding_params(m);
  x.lm_head_params = models::lm_head_params(m);
  if (m.moe) {
    x.experts = m.moe->experts;
    x.top_k = m.moe->top_k;
    x.shared_experts = m.moe->shared_experts;
    x.expert_ffn_hidden = m.moe->expert_ffn_hidden;
  }
  auto ffn_of = [&](int layer) {
    return models::is_moe_layer(m, layer)
               ? x.router_params + x.experts * x.expert_params + models::shared_expert_params(m)
               : x.dense_ffn_params;
  };
  x.norm_params = models::layer_params(m, 0) - x.attention_params - ffn_of(0);
  std::int64_t layers_sum = 0;
  int moe_layer = 0;
  for (int i = 0; i < m.layers; ++i) {
    layers_sum += models::layer_params(m, i);
    if (models::is_moe_layer(m, i) && !models::is_moe_layer(m, moe_layer)) moe_layer = i;
  }
  x.final_norm_params =
      models::total_params(m) - x.embedding_params - x.lm_head_params - layers_sum;
  if (m.mtp_modules > 0) {
    // A module's block is an MoE layer when the model has any; it shares the embedding and
    // output head with the main model (DeepSeek-V3 §2.2), which mtp_params counts as copies.
    x.mtp_modules = m.mtp_modules;
    x.mtp_extra_params = models::mtp_params(m) / m.mtp_modules -
                         models::layer_params(m, moe_layer) - 2 * x.embedding_params;
  }
  x.weight_bytes_per_param = models::bytes_per_param(m.dtype);
  x.expert_bytes_per_param = models::expert_bytes_per_param(m);
  x.attention_bytes_per_param = models::attention_bytes_per_param(m);
  // KV cache and exchanged tokens in their run-time formats, as the step moves them; the
  // dispatch buffers are reused by the combine, so they fit the wider of the two.
  x.kv_bytes_per_token_layer =
      models::kv_cache_bytes_per_token(m, precision.kv_or(m.dtype)) / m.layers;
  x.kv_heads = m.attention.kind == models::attention_kind::mla ? 0 : m.attention.kv_heads;
  x.dispatch_bytes_per_value = std::max(models::bytes_per_param(precision.dispatch_or(m.dtype)),
                                        models::bytes_per_param(precision.combine_or(m.dtype)));
  return x;
}

cluster::memory_workload memory_workload_of(const scenario& s) {
  const workload_config& w = s.workload;
  if (w.kind == workload_kind::serve) {
    // Weights and the buffers of one iteration at the scheduler's limits; the KV cache is the
    // paged pool given what is left (serve_kv_pool_of).
    const moesim::serve::scheduler_spec& sched = w.serve->scheduler;
    cluster::memory_workload x;
    x.sequences = 0;
    x.pass_sequences = sched.max_running;
    x.tokens_per_pass = sched.token_budget;
    x.micro_batches = 1;
    x.capacity_factor = s.moe.capacity_factor;
    x.sequence_tokens = sched.token_budget;
    return x;
  }
  const batch_shape b = batch_of(s);  // the one definition of the batch, as the step runs it
  cluster::memory_workload x;
  x.training = w.kind == workload_kind::train;
  x.sequences = static_cast<std::int64_t>(b.replica_sequences);
  // Overlapped inference keeps two micro-batches' transient activations and buffers alive.
  const double in_flight = !x.training && w.overlap && w.micro_batches > 1 ? 2 : 1;
  x.pass_sequences = static_cast<std::int64_t>(b.pass_sequences * in_flight);
  x.tokens_per_pass = static_cast<std::int64_t>(b.pass_tokens * in_flight);
  x.micro_batches = w.micro_batches;
  x.capacity_factor = s.moe.capacity_factor;
  // Decode: the cache grows by one token per sequence and step.
  x.sequence_tokens = static_cast<std::int64_t>(w.context) +
                      (w.kind == workload_kind::decode ? static_cast<std::int64_t>(w.steps) : 0);
  const training_config t = w.training.value_or(training_config{});
  x.recompute = t.recompute;
  x.zero_stage = t.zero;
  x.gradient_bytes_per_param = models::bytes_per_param(t.gradients);
  return x;
}

// "device 0 needs 1.23 TiB > 74.5 GiB HBM of h100 (a 1.17 TiB, b 40.1 GiB, c 3.00 GiB, and
// 4 more 1.10 GiB)": the three largest items name the cause, the rest are summed.
std::string describe_overflow(const cluster::memory_plan& plan, const scenario& s) {
  constexpr std::size_t shown = 3;
  std::string items;
  double shown_bytes = 0;
  for (const auto& item : plan.largest(shown)) {
    items += fmt::format("{}{} {}", items.empty() ? "" : ", ", item.name,
                         cluster::format_memory_bytes(item.bytes));
    shown_bytes += item.bytes;
  }
  if (plan.items.size() > shown) {
    items += fmt::format(", and {} more {}", plan.items.size() - shown,
                         cluster::format_memory_bytes(plan.total_bytes - shown_bytes));
  }
  const std::string stage =
      s.parallelism.pp > 1 ? fmt::format(" (pipeline stage {} of {})", plan.stage, s.parallelism.pp)
                           : "";
  return fmt::format("memory: device {}{} needs {} > {} HBM of {} ({})", plan.device, stage,
                     cluster::format_memory_bytes(plan.total_bytes),
                     cluster::format_memory_bytes(s.chip.hbm_bytes), s.chip.name, items);
}

// Tensor parallelism all-reduces twice per layer: its groups must stay inside one scale-up
// domain (an NVLink node, or a TPU slice on its ICI torus), never across InfiniBand or the DCN.
// "offload: the expert cache of 256 experts (88.0 GiB) exceeds the 11.9 GiB of HBM left on
// device 0 (t4, 14.9 GiB) after the rest (3.00 GiB)".
void check_offload_cache(const scenario& s, const cluster::memory_plan& plan) {
  double cache = 0;
  for (const auto& item : plan.items) {
    if (item.name == "expert cache (offloaded experts)") cache = item.bytes;
  }
  const double rest = plan.total_bytes - cache;
  const double left = s.chip.hbm_bytes - rest;
  if (cache <= left) return;
  const double expert = offload_expert_bytes(s);
  throw std::invalid_argument(fmt::format(
      "offload: the expert cache of {} experts of {} ({}) exceeds the {} of HBM left on device "
      "{} ({}, {}) after the rest ({})",
      static_cast<long long>(std::llround(cache / expert)), cluster::format_memory_bytes(expert),
      cluster::format_memory_bytes(cache), cluster::format_memory_bytes(std::max(0.0, left)),
      plan.device, s.chip.name, cluster::format_memory_bytes(s.chip.hbm_bytes),
      cluster::format_memory_bytes(rest)));
}

// Devices that share one host (its CPU and DRAM): gpus_per_host on GPU nodes, a host_shape
// block on a TPU torus.
long long devices_per_host(const topo::cluster_spec& c) {
  if (c.fabric == topo::fabric_kind::nvswitch) return std::max(1, c.gpus_per_host);
  long long n = 1;
  for (std::size_t a = 0; a < c.host_shape.size(); ++a) {
    n *= std::min(c.host_shape[a], a < c.shape.size() ? c.shape[a] : 1);
  }
  return std::max(1LL, n);
}

// The offloaded experts live in their host's DRAM: a device's experts the cache does not hold
// when the run starts (its routed experts over its MoE layers less the cache's capacity; a
// fetched expert swaps places with the one it evicts, as mixtral-offloading's ExpertCache does,
// so the host never holds more). Every device of a host holds as many as the fullest stage's.
// "offload: host 0 needs 84.0 GiB for the offloaded experts of its 1 device (256 experts of
// 336 MiB) > 11.8 GiB of DRAM (cluster colab-t4, host.dram_bytes)". A host without a stated
// dram_bytes is not checked.
void check_offload_host(const scenario& s) {
  if (!s.cluster.host || !(s.cluster.host->dram_bytes > 0) || !s.model.moe) return;
  const parallel_config& p = s.parallelism;
  // MoE layers per stage (chunk c sits on stage c % pp, as in stage_memory_plans).
  std::vector<int> stage_moe(static_cast<std::size_t>(std::max(1, p.pp)), 0);
  for (int c = 0; c < p.pp * p.vp; ++c) {
    const auto [first, last] = chunk_layer_range(s.model.layers, p.pp * p.vp, c);
    for (int i = first; i < last; ++i) {
      stage_moe[static_cast<std::size_t>(c % p.pp)] += models::is_moe_layer(s.model, i) ? 1 : 0;
    }
  }
  const int moe_layers = *std::max_element(stage_moe.begin(), stage_moe.end());
  const long long per_rank = s.model.moe->experts / std::max(1, p.ep);
  const long long cached = offload_cache_experts(s, moe_layers);
  const long long offloaded = std::max(0LL, per_rank * moe_layers - cached);
  const long long devices = std::min(devices_per_host(s.cluster), cluster_devices(s.cluster));
  const double expert = offload_expert_bytes(s);
  const double need = static_cast<double>(offloaded * devices) * expert;
  if (need <= s.cluster.host->dram_bytes) return;
  throw std::invalid_argument(fmt::format(
      "offload: host 0 needs {} for the offloaded experts of its {} device{} ({} experts of {} "
      "each, {} of {} per device not cached) > {} of DRAM (cluster {}, host.dram_bytes)",
      cluster::format_memory_bytes(need), devices, devices == 1 ? "" : "s", offloaded * devices,
      cluster::format_memory_bytes(expert), offloaded, per_rank * moe_layers,
      cluster::format_memory_bytes(s.cluster.host->dram_bytes), s.cluster.name));
}

/// "{a,b,...}" for messages: the first 8 devices of `group`, each divided by `per` (1: the
/// devices themselves, a node's size: their nodes).
std::string brace_list(const std::vector<topo::device_id>& group, long long per = 1) {
  std::string t;
  for (std::size_t i = 0; i < group.size() && i < 8; ++i) {
    t += (i ? "," : "") + std::to_string(group[i] / per);
  }
  return "{" + t + (group.size() > 8 ? ",...}" : "}");
}

void check_tp_domains(const scenario& s, const layout& l) {
  const int tp = s.parallelism.tp;
  if (tp == 1) return;
  const bool gpus = s.cluster.fabric == topo::fabric_kind::nvswitch;
  const long long domain =
      gpus ? s.cluster.gpus_per_node : cluster_devices(s.cluster) / std::max(s.cluster.slices, 1);
  const std::string what = gpus ? fmt::format("NVLink domains (nodes of {} GPUs)", domain)
                                : fmt::format("TPU slices ({} chips each)", domain);
  for (int d = 0; d < l.devices(); ++d) {
    const coords c = l.of(d);
    if (c.tp != 0) continue;
    const auto group = l.tp_group(c.ep, c.dp, c.pp);
    std::vector<long long> domains;
    domains.reserve(group.size());
    for (const auto member : group) domains.push_back(member / domain);
    std::sort(domains.begin(), domains.end());
    const auto spanned = std::unique(domains.begin(), domains.end()) - domains.begin();
    if (spanned > 1) {
      throw std::invalid_argument(fmt::format(
          "parallelism: tp group {} spans {} {} under order '{}'; tensor parallelism must stay "
          "inside one (put tp first in the order, with tp <= {})",
          brace_list(group), spanned, what, s.parallelism.order, domain));
    }
  }
}

/// The largest a length distribution draws, when bounded.
std::optional<std::int64_t> longest(const moesim::serve::length_dist& d) {
  using kind = moesim::serve::length_dist::kind;
  switch (d.shape) {
    case kind::fixed:
      return static_cast<std::int64_t>(d.value);
    case kind::uniform:
      return static_cast<std::int64_t>(d.max);
    case kind::lognormal:
      if (d.max > 0) return static_cast<std::int64_t>(d.max);
      return std::nullopt;
  }
  return std::nullopt;
}

// A serving device needs KV-cache blocks, and the longest request the stream can send (prompt +
// output - 1 tokens of KV, when its lengths are bounded) must fit one EP group's pool and, without
// chunked prefill, one iteration's budget; unbounded lengths are checked as requests arrive.
void check_serve_memory(const scenario& s, double other_bytes) {
  const moesim::serve::serve_spec& spec = *s.workload.serve;
  const moesim::serve::scheduler_spec& sched = spec.scheduler;
  const serve_kv_pool pool = serve_kv_pool_of(s, other_bytes);
  if (pool.blocks < 1) {
    throw std::invalid_argument(fmt::format(
        "workload: serve: the KV cache gets no block: {} of KV pool per device "
        "(kv_memory_fraction {:g} of the {} of HBM left after weights and buffers) is less than "
        "one block of {} tokens ({} per token)",
        cluster::format_memory_bytes(pool.bytes), sched.kv_memory_fraction,
        cluster::format_memory_bytes(std::max(0.0, s.chip.hbm_bytes - other_bytes)),
        sched.block_tokens, cluster::format_memory_bytes(pool.bytes_per_token)));
  }
  const auto& r = spec.requests;
  std::optional<std::int64_t> need;
  std::string what;
  if (r.arrivals == moesim::serve::arrival_kind::trace) {
    std::int64_t most = 0;
    for (const auto& q : r.trace) most = std::max(most, q.prompt_tokens + q.output_tokens - 1);
    need = most;
    what = "the trace's longest prompt + output - 1";
  } else if (const auto p = longest(r.prompt), o = longest(r.output); p && o) {
    need = *p + *o - 1;
    what = fmt::format("prompt up to {} + output up to {} - 1", *p, *o);
  }
  if (!need) return;
  // A request runs on one attention-DP rank: its KV pool and its token budget.
  const std::int64_t pool_tokens = pool.blocks * sched.block_tokens;
  if (*need > pool_tokens) {
    throw std::invalid_argument(fmt::format(
        "workload: serve: the longest request needs {} tokens of KV cache ({}), but one "
        "attention-DP rank's pool holds {} ({} blocks of {} tokens, {} of HBM)",
        *need, what, pool_tokens, pool.blocks, sched.block_tokens,
        cluster::format_memory_bytes(pool.bytes)));
  }
  const std::int64_t budget = sched.token_budget;
  if (!sched.chunked_prefill && *need > budget) {
    throw std::invalid_argument(fmt::format(
        "workload: serve: the longest request needs {} tokens recomputed in one iteration "
        "after a preemption ({}), but without chunked prefill one rank's iteration computes at "
        "most token_budget {}",
        *need, what, budget));
  }
}

// The serving loop runs one pipeline stage and sizes its KV pool from the HBM left over.
void check_serve_layout(const scenario& s) {
  if (s.parallelism.pp != 1) {
    throw std::invalid_argument(fmt::format(
        "parallelism: serving runs pp 1 (got pp {}); pipeline-parallel serving is not built",
        s.parallelism.pp));
  }
  if (s.parallelism.dp != 1) {
    throw std::invalid_argument(fmt::format(
        "parallelism: serving simulates one data-parallel replica (got dp {}); run one replica "
        "with its share of the request rate",
        s.parallelism.dp));
  }
}

// The cluster's graph is built as the run builds it, so a wiring it cannot build (a fat-tree
// whose switches cannot join the nodes, a chip without the NIC or links the wiring needs) is
// refused before anything is simulated, at cluster.scale_out for the fat-tree, else at cluster.
void check_cluster_builds(const scenario& s) {
  try {
    (void)topo::build_cluster(s.cluster, s.chip);
  } catch (const std::invalid_argument& e) {
    const std::string_view what = e.what();
    throw std::invalid_argument(
        std::string(what.starts_with("fat-tree: ") ? "cluster.scale_out: " : "cluster: ") +
        e.what());
  }
}

// Keys of the layout that have no effect in this scenario, and the batch split the pipeline
// schedule needs: refused at the key, as the run would refuse (or ignore) them.
void check_pipeline_keys(const scenario& s) {
  const auto& p = s.parallelism;
  const auto& w = s.workload;
  if (p.vp > 1 && p.pp == 1) {
    throw std::invalid_argument(fmt::format(
        "parallelism.vp: vp {} interleaves pipeline stages, but pp is 1: set pp > 1 or remove "
        "vp",
        p.vp));
  }
  if (w.overlap && w.micro_batches < 2) {
    throw std::invalid_argument(
        "workload.overlap: overlap runs two micro-batches of a stage at once, but "
        "micro_batches is 1: set micro_batches >= 2 or remove overlap");
  }
  const std::uint32_t fold = s.folding.micro_batches;
  const bool folded = fold > 0 && fold < w.micro_batches;  // the folding check covers those
  if (p.vp > 1 && !folded && w.micro_batches % static_cast<std::uint32_t>(p.pp) != 0) {
    throw std::invalid_argument(fmt::format(
        "workload.micro_batches: {} micro-batches cannot run the interleaved schedule of vp {}: "
        "they must be a multiple of pp {}",
        w.micro_batches, p.vp, p.pp));
  }
}

}  // namespace

ep_nodes ep_nodes_of(const scenario& s, const layout& l) {
  if (s.cluster.fabric != topo::fabric_kind::nvswitch) {
    throw std::invalid_argument(
        "moe: exchange hierarchical forwards over NVLink inside a node: it needs a GPU cluster "
        "of NVSwitch nodes");
  }
  const long long per = s.cluster.gpus_per_node;
  const parallel_config& p = l.config();
  ep_nodes out;
  std::vector<topo::device_id> first_group;
  bool first = true;
  for (int dp = 0; dp < p.dp; ++dp) {
    for (int pp = 0; pp < p.pp; ++pp) {
      const auto group = l.ep_group(0, dp, pp);
      std::vector<long long> seen;
      ep_nodes here;
      std::vector<int> count;
      for (const auto d : group) {
        const long long n = d / per;
        auto it = std::find(seen.begin(), seen.end(), n);
        if (it == seen.end()) {
          seen.push_back(n);
          count.push_back(0);
          it = seen.end() - 1;
        }
        const auto k = static_cast<std::size_t>(it - seen.begin());
        here.node.push_back(static_cast<int>(k));
        here.position.push_back(count[k]++);
      }
      here.nodes = static_cast<int>(seen.size());
      here.per_node = count.front();
      for (int c : count) {
        if (c != here.per_node) {
          throw std::invalid_argument(fmt::format(
              "moe: exchange hierarchical needs the same number of EP ranks on each node; the EP "
              "group of device {} has {} on one node and {} on another",
              group.front(), here.per_node, c));
        }
      }
      if (first) {
        out = here;
        first_group = group;
        first = false;
      } else if (here.node != out.node || here.position != out.position) {
        throw std::invalid_argument(fmt::format(
            "moe: exchange hierarchical needs every EP group spread over nodes alike; under order "
            "'{}' the group {} sits on nodes {} and the group {} on nodes {} (an order starting "
            "tp-ep lays every group out alike)",
            p.order, brace_list(first_group), brace_list(first_group, per), brace_list(group),
            brace_list(group, per)));
      }
    }
  }
  return out;
}

int pipeline_stage_of(const parallel_config& p, long long device) {
  return layout(p).of(static_cast<topo::device_id>(device)).pp;
}

serve_kv_pool serve_kv_pool_of(const scenario& s, double other_bytes) {
  const moesim::serve::scheduler_spec& sched = s.workload.serve->scheduler;
  const models::model_spec& m = s.model;
  const double kv_split = m.attention.kind == models::attention_kind::mla
                              ? 1.0
                              : std::min<double>(s.parallelism.tp, m.attention.kv_heads);
  serve_kv_pool pool;
  // A drafter's KV of each token shares the pool (speculative decoding; 0 otherwise).
  pool.bytes_per_token =
      models::kv_cache_bytes_per_token(m, s.precision.kv_or(m.dtype)) / kv_split +
      draft_kv_bytes_per_token(s);
  pool.bytes = std::max(0.0, s.chip.hbm_bytes - other_bytes) * sched.kv_memory_fraction;
  pool.blocks = static_cast<std::int64_t>(pool.bytes / (pool.bytes_per_token * sched.block_tokens));
  return pool;
}

std::vector<cluster::memory_plan> stage_memory_plans(const scenario& s) {
  const parallel_config& p = s.parallelism;
  const cluster::model_memory_shape shape = memory_shape(s.model, s.precision);
  const cluster::memory_layout layout{p.tp, p.ep, p.dp, p.pp, p.vp};
  const cluster::memory_workload work = memory_workload_of(s);
  // Model chunk c (chunk_layer_range) sits on pipeline stage c % pp (interleaved 1F1B gives
  // stage k the chunks k, k + pp, ...; with vp 1 that is one contiguous block).
  std::vector<cluster::stage_layers> stages(static_cast<std::size_t>(p.pp));
  for (int c = 0; c < p.pp * p.vp; ++c) {
    const auto [first, last] = chunk_layer_range(s.model.layers, p.pp * p.vp, c);
    auto& st = stages[static_cast<std::size_t>(c % p.pp)];
    for (int i = first; i < last; ++i) {
      (models::is_moe_layer(s.model, i) ? st.moe_layers : st.dense_layers) += 1;
    }
  }
  std::vector<cluster::memory_plan> plans;
  for (int k = 0; k < p.pp; ++k) {
    stages[static_cast<std::size_t>(k)].stage = k;
    cluster::model_memory_shape stage_shape = shape;
    if (s.offload) {
      stage_shape.resident_routed_expert_bytes =
          offload_cache_experts(s, stages[static_cast<std::size_t>(k)].moe_layers) *
          offload_expert_bytes(s);
    }
    cluster::memory_plan plan = cluster::plan_device_memory(
        stage_shape, layout, stages[static_cast<std::size_t>(k)], work);
    plan.device = run::layout(p).device({0, 0, 0, k});
    // moe.placement's redundant slots: slots / ep - experts / ep more experts per MoE layer.
    if (s.moe.placement && s.moe.placement->redundant_experts > 0 && s.model.moe) {
      const double slots = static_cast<double>(s.moe.placement->redundant_experts) / p.ep *
                           stages[static_cast<std::size_t>(k)].moe_layers;
      const double extra = slots * static_cast<double>(models::expert_params(s.model)) *
                           models::bytes_per_param(s.model.dtype) / p.tp;
      plan.items.push_back({"redundant experts", extra});
      plan.total_bytes += extra;
    }
    if (s.workload.kind == workload_kind::serve) {
      // The drafter's weights sit beside the target's (speculative decoding).
      if (const double draft = draft_weight_bytes(s); draft > 0) {
        plan.items.push_back({"draft weights", draft});
        plan.total_bytes += draft;
      }
      // Policy divided's extra expert copies, as many as the rank holding the most has.
      if (const double replicas = replica_weight_bytes(s); replicas > 0) {
        plan.items.push_back({"expert replicas", replicas});
        plan.total_bytes += replicas;
      }
      const double pool = serve_kv_pool_of(s, plan.total_bytes).bytes;
      if (pool > 0) {
        plan.items.push_back({"KV cache pool", pool});
        plan.total_bytes += pool;
      }
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

double serving_weights_and_buffers(const scenario& s) {
  double most = 0;
  for (const auto& plan : stage_memory_plans(s)) {
    double other = plan.total_bytes;
    for (const auto& item : plan.items) other -= item.name == "KV cache pool" ? item.bytes : 0;
    most = std::max(most, other);
  }
  return most;
}

long long cluster_devices(const topo::cluster_spec& c) noexcept {
  if (c.fabric == topo::fabric_kind::nvswitch) {
    return static_cast<long long>(c.nodes) * c.gpus_per_node;
  }
  long long n = c.slices;
  for (int a : c.shape) n *= a;
  return n;
}

void check_feasible(const scenario& s) {
  if (s.workload.serve && s.workload.serve->disaggregation) {
    check_disaggregation(s);  // each instance's layout, checked as a scenario of its own
    return;
  }
  const auto& p = s.parallelism;
  const long long devices = cluster_devices(s.cluster);
  if (p.devices() != devices) {
    throw std::invalid_argument(fmt::format(
        "parallelism: tp {} x ep {} x dp {} x pp {} = {} devices, but cluster '{}' has {}", p.tp,
        p.ep, p.dp, p.pp, p.devices(), s.cluster.name, devices));
  }
  check_cluster_builds(s);  // once the layout's device count matches the cluster's
  if (s.model.moe) {
    const int experts = s.model.moe->experts;
    if (experts % p.ep != 0) {
      std::string divisors;
      for (int d = 1; d <= experts; ++d) {
        if (experts % d == 0) divisors += (divisors.empty() ? "" : ", ") + std::to_string(d);
      }
      throw std::invalid_argument(
          fmt::format("parallelism: ep {} does not divide the {} experts of {} (divisors: {})",
                      p.ep, experts, s.model.name, divisors));
    }
    if (const auto& pl = s.moe.placement;
        pl && (experts + static_cast<long long>(pl->redundant_experts)) % p.ep != 0) {
      throw std::invalid_argument(fmt::format(
          "moe: placement.redundant_experts {}: {} experts + {} = {} slots do not split over ep "
          "{} (use a redundant_experts that makes the slots a multiple of {})",
          pl->redundant_experts, experts, pl->redundant_experts,
          experts + static_cast<long long>(pl->redundant_experts), p.ep, p.ep));
    }
    // per_rank / hierarchical count the ranks and nodes each token needs when its layer is
    // routed, ahead of the pass: a placement with one fixed copy per expert is known then; a
    // replica's copy is chosen per pass from the whole batch's counts, and a rebalanced
    // placement changes during the run.
    if (const auto& pl = s.moe.placement;
        pl && s.moe.exchange != exchange_kind::per_copy &&
        (pl->redundant_experts > 0 || pl->rebalance)) {
      throw std::invalid_argument(fmt::format(
          "moe: placement {} with {} under exchange {}: its per-rank and per-node token counts "
          "are made when a layer is routed, before a pass picks among copies or a rebalance "
          "moves experts; use exchange per_copy, or a placement without redundant experts "
          "and rebalancing",
          place::to_string(pl->strategy),
          pl->redundant_experts > 0 ? "redundant experts" : "rebalancing",
          s.moe.exchange == exchange_kind::per_rank ? "per_rank" : "hierarchical"));
    }
  } else if (p.ep != 1) {
    throw std::invalid_argument(
        fmt::format("parallelism: ep {} needs an MoE model, and {} is dense", p.ep, s.model.name));
  } else if (s.moe.placement) {
    throw std::invalid_argument(
        fmt::format("moe: placement places experts, and {} is dense", s.model.name));
  }
  if (s.model.attention.heads % p.tp != 0) {
    throw std::invalid_argument(
        fmt::format("parallelism: tp {} does not divide the {} attention heads of {}", p.tp,
                    s.model.attention.heads, s.model.name));
  }
  if (p.pp > s.model.layers) {
    throw std::invalid_argument(fmt::format("parallelism: pp {} exceeds the {} layers of {}", p.pp,
                                            s.model.layers, s.model.name));
  }
  // Without interleaving, stages may hold uneven layer counts (chunk_layer_range); the
  // interleaved schedule needs equal chunks.
  if (p.vp > 1 && s.model.layers % (p.pp * p.vp) != 0) {
    throw std::invalid_argument(fmt::format(
        "parallelism: pp {} x vp {} = {} virtual stages do not divide the {} layers of {}", p.pp,
        p.vp, p.pp * p.vp, s.model.layers, s.model.name));
  }
  check_tp_domains(s, layout(p));  // layout() throws for an order that does not name every axis
  if (s.moe.padded && !(s.moe.capacity_factor > 0)) {
    throw std::invalid_argument(
        "moe: padded dispatch needs a capacity_factor > 0 (the buffers are sized by it)");
  }
  if (s.moe.padded && s.moe.exchange != exchange_kind::per_copy) {
    throw std::invalid_argument(
        "moe: padded dispatch sends a buffer per expert; exchange must be per_copy");
  }
  if (s.moe.exchange == exchange_kind::hierarchical) (void)ep_nodes_of(s, layout(p));
  const std::uint32_t fold = s.folding.micro_batches;
  if (fold > 0 && fold < s.workload.micro_batches) {
    const auto least = static_cast<std::uint32_t>(2 * p.pp + 2);
    if (fold < least || (p.vp > 1 && fold % static_cast<std::uint32_t>(p.pp) != 0)) {
      throw std::invalid_argument(fmt::format(
          "folding: micro_batches {} must be at least 2 x pp + 2 = {}{} so that a steady state "
          "is simulated",
          fold, least, p.vp > 1 ? fmt::format(" and divisible by pp {}", p.pp) : ""));
    }
  }
  if (s.sampling.math_hidden > static_cast<std::uint32_t>(s.model.hidden)) {
    throw std::invalid_argument(
        fmt::format("sampling: math_hidden {} exceeds the model's hidden size {}",
                    s.sampling.math_hidden, s.model.hidden));
  }
  check_pipeline_keys(s);
  if (s.workload.kind == workload_kind::serve) {
    check_serve_layout(s);
  } else {
    check_batch(s);  // the split of a rank's sequences into micro-batches
  }
  // Memory last: its plan assumes the layout above holds. The fullest stage is reported.
  const std::vector<cluster::memory_plan> plans = stage_memory_plans(s);
  const auto fullest =
      std::max_element(plans.begin(), plans.end(),
                       [](const auto& a, const auto& b) { return a.total_bytes < b.total_bytes; });
  if (s.offload) {
    check_offload_cache(s, *fullest);
    check_offload_host(s);
  }
  if (fullest->total_bytes > s.chip.hbm_bytes) {
    throw std::invalid_argument(describe_overflow(*fullest, s));
  }
  if (s.workload.kind == workload_kind::serve)
    check_serve_memory(s, serving_weights_and_buffers(s));
}

}  // namespace moesim::sim::run
