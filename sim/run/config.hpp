#pragma once
// The run-side sections of a scenario, as typed and validated data. sim/io reads them from
// YAML (sim/io/scenario_schema.cpp holds the keys, ranges and docs); sim/run consumes them.
// Units are in the names; counts are per what the name says.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/capacity.hpp"
#include "models/model_spec.hpp"
#include "models/routing_trace.hpp"
#include "models/token_source_config.hpp"
#include "sim/cluster/memory.hpp"
#include "sim/place/placement.hpp"
#include "sim/run/exchange_kind.hpp"
#include "sim/serve/request_spec.hpp"

namespace moesim::sim::run {

enum class network_model { flow, analytical };

struct network_config {
  network_model model =
      network_model::flow;     ///< flow: max-min shared flows; analytical: bottleneck
  double resolve_quantum = 0;  ///< flow model: relative re-solve window (0 = exact)
};

/// devices = tp · ep · dp · pp. Attention and other dense layers are data-parallel over ep·dp;
/// experts are sharded over ep and replicated over dp. `order` lists the axes innermost first
/// (Megatron-style): "tp-ep-dp-pp" puts TP ranks on adjacent devices.
struct parallel_config {
  int tp = 1;
  int ep = 1;
  int dp = 1;
  int pp = 1;
  int vp = 1;  ///< virtual pipeline stages per device (interleaved 1F1B)
  std::string order = "tp-ep-dp-pp";
  /// Set when the scenario asked for `order: auto`: the rule that chose `order`.
  std::string order_rule;

  [[nodiscard]] long long devices() const noexcept {
    return static_cast<long long>(tp) * ep * dp * pp;
  }
};

enum class balance_mode { none, bias };

/// How a token picks among an expert's copies on other ranks (expert_placement.hpp, rule 3).
enum class replica_choice { balanced, nearest };

/// `moe.placement.rebalance`: how moves of expert weights take effect.
enum class rebalance_mode { stop_the_world, background };
struct rebalance_config {
  std::uint32_t every = 1;   ///< steps (decode/prefill/train) or serving iterations between
  std::uint32_t window = 1;  ///< passes of measured loads the new placement is computed from
  rebalance_mode mode = rebalance_mode::stop_the_world;
  /// Set: improve the current placement move by move while a move lowers the layer's device
  /// load max/mean by at least this per expert copy it transfers (place::rebalance_moves);
  /// unset: place afresh with the strategy and keep what devices hold (place::keep_in_place).
  std::optional<double> min_gain;
};

/// `moe.placement`: which device holds which experts (sim/place/placement.hpp's strategies),
/// with `redundant_experts` extra slots per MoE layer (physical = experts + redundant_experts,
/// split evenly over the EP ranks), and optionally rebalanced as the loads drift
/// (sim/run/expert_residency.hpp). Absent: the contiguous split.
struct placement_config {
  place::strategy strategy = place::strategy::contiguous;
  std::uint32_t redundant_experts = 0;
  replica_choice choice = replica_choice::balanced;
  /// Passes of the scenario's own routing (the real router on sampled tokens) measured before
  /// the timed run for load-driven strategies' initial placement.
  std::uint32_t warmup = 4;
  std::optional<rebalance_config> rebalance;
};
/// How tokens pick experts: the model's top-k router, expert choice (Zhou et al. 2022: each
/// expert takes its capacity of best tokens), or hash routing (Roller et al. 2021).
enum class routing_policy { top_k, expert_choice, hash };

struct moe_config {
  double capacity_factor = 0;  ///< 0 = dropless
  models::drop_policy drop = models::drop_policy::lowest_score;
  balance_mode balance = balance_mode::none;
  routing_policy routing = routing_policy::top_k;
  /// Static-shape dispatch (GShard / Switch on TPUs, Mesh-TensorFlow, Tutel's padded mode):
  /// every source sends each expert a buffer of its full local capacity
  /// ceil(top_k * tokens / experts * capacity_factor) slots, filled or not, and experts compute
  /// over all slots. Needs capacity_factor > 0.
  bool padded = false;
  exchange_kind exchange = exchange_kind::per_copy;
  std::optional<placement_config> placement;  ///< absent: the contiguous split
};

/// Number formats of what a deployment stores and moves at run time where they differ from the
/// model's weights (model.dtype, each one's default). DeepSeek's inference, for one, keeps FP8
/// GEMMs and dispatch but runs MLA's core and the combine in BF16 (open-infra-index, day-6
/// inference system overview).
struct precision_config {
  std::optional<models::weight_dtype> kv_cache;   ///< KV cache entries
  std::optional<models::weight_dtype> attention;  ///< attention core maths (scores, values)
  std::optional<models::weight_dtype> dispatch;   ///< tokens sent to the experts
  std::optional<models::weight_dtype> combine;    ///< expert outputs sent back
  /// Stored formats of weights (applied to the model as model_spec::expert_dtype and
  /// attention_dtype by the loader): routed experts, attention projections.
  std::optional<models::weight_dtype> expert_weights;
  std::optional<models::weight_dtype> attention_weights;
  /// Their group quantisation's metadata (model_spec::expert_quant, attention_quant); only
  /// with an integer format (int8, int4, int3, int2).
  std::optional<models::weight_quant> expert_quant;
  std::optional<models::weight_quant> attention_quant;

  [[nodiscard]] models::weight_dtype kv_or(models::weight_dtype d) const {
    return kv_cache.value_or(d);
  }
  [[nodiscard]] models::weight_dtype attention_or(models::weight_dtype d) const {
    return attention.value_or(d);
  }
  [[nodiscard]] models::weight_dtype dispatch_or(models::weight_dtype d) const {
    return dispatch.value_or(d);
  }
  [[nodiscard]] models::weight_dtype combine_or(models::weight_dtype d) const {
    return combine.value_or(d);
  }
};

/// What a routing trace replays for a routed MoE layer it does not record: nothing (the
/// loader refuses such a trace) or the recorded layers in turn by MoE ordinal.
enum class trace_reuse { none, cyclic };

/// `sampling.routing_trace`: a file (models/routing_trace.hpp formats), or {file, reuse}.
struct routing_trace_ref {
  std::string file;  ///< as written; the loader resolves it against the scenario's folder
  trace_reuse reuse = trace_reuse::none;
  [[nodiscard]] bool empty() const noexcept { return file.empty(); }
};

/// The maths runs on `tokens_per_step` sampled tokens per MoE layer and step; per-device
/// counts for the full batch are scaled from them (see models/). math_hidden 0 = full size.
struct sampling_config {
  std::uint32_t tokens_per_step = 1024;
  std::uint32_t math_hidden = 0;
  double skew = models::default_token_skew;  ///< token-source topic skew (0 = uniform scores)
  /// Recorded routing to replay instead of the router; the loader reads the file and checks
  /// its layers against the model (every routed MoE layer recorded, unless reuse is cyclic).
  routing_trace_ref routing_trace;
  std::shared_ptr<const models::routing_trace> trace;  ///< the file's contents, when given
};

/// serve: a stream of requests through a continuous-batching scheduler (workload.serve).
enum class workload_kind { decode, prefill, train, serve };

/// What `strategies:` are ranked by: shortest step, most tokens per second, lowest cost per
/// million tokens (strategies that change the batch are compared fairly by these two), or (serving)
/// most requests per second meeting the SLO.
enum class objective_kind { step_time, tokens_per_s, cost, goodput };

/// Provably identical work simulated once and replicated (named in the metrics).
struct folding_config {
  bool dp_replicas = true;  ///< simulate data-parallel replica 0 only
  /// Simulate this many micro-batches per step and extend the step by the rest at the
  /// measured steady-state period (0 = simulate all). At least 2 * pp + 2.
  std::uint32_t micro_batches = 0;
};

/// Optimizers whose state the memory accounting knows. adam: mixed-precision Adam(W), fp32
/// master weights and two fp32 moments (12 bytes per parameter).
enum class optimizer_kind { adam };

/// `workload.training.resilience`: a long job of `run_hours` wall-clock hours played as an event
/// loop over steps (each of the simulated step time), checkpoints and failures
/// (sim/run/resilience.hpp). A checkpoint starts at the first step boundary once
/// `checkpoint_interval_s` of training has run since the last checkpoint or restart, and blocks
/// training for its write time: `checkpoint_write_s`, or the checkpoint's bytes (weights plus
/// the optimizer's state) over `storage_bytes_per_s` — exactly one is set.
struct resilience_config {
  double run_hours = 0;                    ///< the job's wall-clock length (its horizon)
  double checkpoint_interval_s = 0;        ///< training seconds between checkpoints
  std::optional<double> checkpoint_write_s;   ///< blocking write time of one checkpoint
  std::optional<double> storage_bytes_per_s;  ///< or: aggregate write bandwidth to storage
  double restart_s = 0;  ///< from a device loss to training again (replace, reload checkpoint)
};

/// `workload.training`, only for kind train (absent: these defaults).
struct training_config {
  cluster::recompute_mode recompute = cluster::recompute_mode::none;
  int zero = 0;  ///< ZeRO stage: 1 shards optimizer states over DP, 2 + gradients, 3 + weights
  optimizer_kind optimizer = optimizer_kind::adam;
  models::weight_dtype gradients = models::weight_dtype::fp32;  ///< fp32 or bf16
  std::optional<resilience_config> resilience;  ///< a long run with checkpoints and failures
};

/// decode/prefill: batch_per_device sequences per device, context tokens already cached
/// (decode) or prompt length (prefill). train: batch_per_device is the micro-batch of one
/// data-parallel rank (Megatron's micro-batch size; a rank spans tp * pp devices), context the
/// sequence length, micro_batches per step (global batch = batch_per_device * micro_batches *
/// ep * dp sequences). serve: the request stream and scheduler of `serve` decide batches and
/// lengths; batch_per_device, context and steps are not used (the loader refuses them).
struct workload_config {
  workload_kind kind = workload_kind::decode;
  std::uint32_t batch_per_device = 1;  ///< sequences per device (decode: one token each)
  std::uint32_t context = 1024;        ///< tokens already in the KV cache (decode)
  std::uint32_t steps = 1;
  std::uint32_t micro_batches = 1;
  /// Two tasks of a stage at once: training pairs each steady-state forward with a backward
  /// (DualPipe-style), inference runs two micro-batches; one's all-to-all hides under the
  /// other's compute.
  bool overlap = false;
  std::optional<training_config> training;  ///< `workload.training`, only with kind train
  std::optional<moesim::serve::serve_spec>
      serve;  ///< `workload.serve`, only and always with kind serve
};

/// `offload:` expert offloading (sim/run/expert_offload.hpp). Each device's routed experts
/// live in host memory; an HBM cache holds some of them. Exactly one cache size is set.
enum class offload_policy { lru, lfu };
enum class offload_miss { fetch, cpu };
enum class offload_prefetch { none, gate, previous_token };
struct offload_config {
  std::optional<int> cache_experts_per_layer;  ///< a cache of this many per MoE layer
  std::optional<int> cache_experts;            ///< one cache of this many over all layers
  std::optional<double> cache_bytes;           ///< one cache of this many bytes (whole experts)
  offload_policy policy = offload_policy::lru;
  offload_miss miss = offload_miss::fetch;  ///< fetch over the host link, or run on the host
  offload_prefetch prefetch = offload_prefetch::none;
  double prefetch_accuracy = 1.0;  ///< gate: probability each predicted expert is right
};

}  // namespace moesim::sim::run
