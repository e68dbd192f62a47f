#include "sim/io/offload_schema.hpp"

#include <fmt/format.h>

#include <string>

#include "sim/io/error.hpp"
#include "sim/place/placement.hpp"

namespace moesim::io {

using sim::run::offload_config;
using sim::run::precision_config;

const object_type<models::weight_quant>& weight_quant_type() {
  static const auto t = [] {
    object_type<models::weight_quant> o(
        "quant", "Group quantisation metadata: one scale and one zero per group of weights");
    o.required("group_size", &models::weight_quant::group_size, integer_spec<int>{1, 1 << 20},
               "weights sharing one scale and zero (HQQ group_size)")
        .optional("scale_bits", &models::weight_quant::scale_bits, integer_spec<int>{1, 32},
                  "bits of a stored scale (16: fp16; 8: HQQ quant_scale)")
        .optional("zero_bits", &models::weight_quant::zero_bits, integer_spec<int>{1, 32},
                  "bits of a stored zero (16: fp16; 8: HQQ quant_zero)")
        .optional("scale_group_size", &models::weight_quant::scale_group_size,
                  integer_spec<int>{0, 1 << 20},
                  "quantised scales sharing one fp16 scale and zero (HQQ "
                  "scale_quant_params.group_size; 0: not counted)");
    return o;
  }();
  return t;
}

const object_type<precision_config>& precision_type() {
  static const auto t = [] {
    object_type<precision_config> o(
        "precision", "Number formats at run time where they differ from model.dtype");
    enum_spec<models::weight_dtype> formats;
    for (auto d : {models::weight_dtype::fp32, models::weight_dtype::bf16,
                   models::weight_dtype::fp16, models::weight_dtype::fp8}) {
      formats.choices.emplace_back(std::string(models::to_string(d)), d);
    }
    // Stored weight formats: weight-only quantisation down to 2 bits (HQQ, GPTQ, AWQ).
    enum_spec<models::weight_dtype> stored;
    for (auto d : {models::weight_dtype::bf16, models::weight_dtype::fp16,
                   models::weight_dtype::fp8, models::weight_dtype::int8,
                   models::weight_dtype::int4, models::weight_dtype::int3,
                   models::weight_dtype::int2}) {
      stored.choices.emplace_back(std::string(models::to_string(d)), d);
    }
    using f = optional_spec<models::weight_dtype, enum_spec<models::weight_dtype>>;
    using q = optional_spec<models::weight_quant, object_spec<models::weight_quant>>;
    o.optional("kv_cache", &precision_config::kv_cache, f{formats},
               "KV cache entries (default: model.dtype)")
        .optional("attention", &precision_config::attention, f{formats},
                  "attention core maths, scores and values (default: model.dtype)")
        .optional("dispatch", &precision_config::dispatch, f{formats},
                  "tokens sent to the experts (default: model.dtype; fp8 adds one fp32 scale "
                  "per 128 values)")
        .optional("combine", &precision_config::combine, f{formats},
                  "expert outputs sent back (default: model.dtype)")
        .optional("expert_weights", &precision_config::expert_weights, f{stored},
                  "stored format of the routed experts' weights (default: model.dtype); "
                  "computed at model.dtype's FLOP/s, dequantised on the fly")
        .optional("attention_weights", &precision_config::attention_weights, f{stored},
                  "stored format of the attention projections' weights (default: model.dtype)")
        .optional("expert_quant", &precision_config::expert_quant, q{nested(weight_quant_type())},
                  "expert_weights' group quantisation metadata: counted in the bytes stored, "
                  "streamed and fetched, and its per-use dequantisation traffic")
        .optional("attention_quant", &precision_config::attention_quant,
                  q{nested(weight_quant_type())},
                  "attention_weights' group quantisation metadata");
    return o;
  }();
  return t;
}

const object_type<offload_config>& offload_type() {
  static const auto t = [] {
    object_type<offload_config> o(
        "offload",
        "Expert offloading: routed experts in host memory, an HBM cache, misses fetched over "
        "the host link or run on the host CPU");
    using count = optional_spec<int, integer_spec<int>>;
    o.optional("cache_experts_per_layer", &offload_config::cache_experts_per_layer,
               count{integer_spec<int>{0, 1 << 20}},
               "a cache of this many experts per MoE layer and device (mixtral-offloading)")
        .optional("cache_experts", &offload_config::cache_experts,
                  count{integer_spec<int>{0, 1 << 30}},
                  "one cache of this many experts per device over all its layers")
        .optional("cache_bytes", &offload_config::cache_bytes,
                  optional_spec<double, quantity_spec>{quantity_spec{dimension::bytes, 0, 1e18}},
                  "one cache of this many bytes per device (whole experts)")
        .optional("policy", &offload_config::policy,
                  enum_spec<sim::run::offload_policy>{{{"lru", sim::run::offload_policy::lru},
                                                       {"lfu", sim::run::offload_policy::lfu}}},
                  "eviction: least recently or least frequently used")
        .optional("miss", &offload_config::miss,
                  enum_spec<sim::run::offload_miss>{{{"fetch", sim::run::offload_miss::fetch},
                                                     {"cpu", sim::run::offload_miss::cpu}}},
                  "a missed expert: fetched over the host link, or run on the host CPU")
        .optional("prefetch", &offload_config::prefetch,
                  enum_spec<sim::run::offload_prefetch>{
                      {{"none", sim::run::offload_prefetch::none},
                       {"gate", sim::run::offload_prefetch::gate},
                       {"previous_token", sim::run::offload_prefetch::previous_token}}},
                  "the next layer's experts fetched ahead: from a gate prediction or the "
                  "previous token's")
        .optional("prefetch_accuracy", &offload_config::prefetch_accuracy, number_spec{0, 1},
                  "gate: probability each predicted expert is one the next layer uses");
    return o;
  }();
  return t;
}

namespace {

bool integer_format(const std::optional<models::weight_dtype>& d) {
  using models::weight_dtype;
  return d && (*d == weight_dtype::int8 || *d == weight_dtype::int4 || *d == weight_dtype::int3 ||
               *d == weight_dtype::int2);
}

/// precision.<quant_key> describes the groups of an integer precision.<format_key>.
void check_quant(const doc::node& root, const std::optional<models::weight_quant>& quant,
                 const std::optional<models::weight_dtype>& format, const char* quant_key,
                 const char* format_key) {
  if (!quant || integer_format(format)) return;
  const doc::node* p = root.find("precision");
  const doc::node* k = p != nullptr ? p->find(quant_key) : nullptr;
  throw input_error(k != nullptr ? k->where() : root.where(),
                    std::string("precision.") + quant_key,
                    fmt::format("group quantisation metadata needs an integer precision.{} "
                                "(int8, int4, int3 or int2), got {}",
                                format_key,
                                format ? std::string(models::to_string(*format)) : "none"));
}

}  // namespace

void resolve_offload(sim::run::scenario& s, const doc::node& root) {
  check_quant(root, s.precision.expert_quant, s.precision.expert_weights, "expert_quant",
              "expert_weights");
  check_quant(root, s.precision.attention_quant, s.precision.attention_weights,
              "attention_quant", "attention_weights");
  if (s.model.moe) {
    s.model.expert_dtype = s.precision.expert_weights;
    s.model.expert_quant = s.precision.expert_quant;
  }
  s.model.attention_dtype = s.precision.attention_weights;
  s.model.attention_quant = s.precision.attention_quant;
  if (!s.offload) return;
  const doc::node* n = root.find("offload");
  const source_loc where = n != nullptr ? n->where() : root.where();
  auto fail_at = [&](const char* key, const std::string& what) {
    const doc::node* k = n != nullptr ? n->find(key) : nullptr;
    throw input_error(k != nullptr ? k->where() : where, std::string("offload.") + key, what);
  };
  const offload_config& o = *s.offload;
  const int sizes = (o.cache_experts_per_layer ? 1 : 0) + (o.cache_experts ? 1 : 0) +
                    (o.cache_bytes ? 1 : 0);
  if (sizes != 1) {
    throw input_error(where, "offload",
                      fmt::format("expected exactly one cache size (cache_experts_per_layer, "
                                  "cache_experts or cache_bytes), got {}",
                                  sizes));
  }
  using sim::run::workload_kind;
  if (s.workload.kind == workload_kind::train) {
    throw input_error(where, "offload",
                      "expert offloading runs inference (decode, prefill or serve), not training");
  }
  if (s.workload.kind == workload_kind::serve && s.workload.serve &&
      s.workload.serve->disaggregation) {
    throw input_error(where, "offload",
                      "expert offloading runs aggregated serving (one instance's caches), not "
                      "disaggregated prefill and decode instances");
  }
  if (!s.model.moe) {
    throw input_error(where, "offload",
                      fmt::format("model {} has no routed experts to offload", s.model.name));
  }
  if (s.parallelism.tp != 1) {
    throw input_error(where, "offload",
                      fmt::format("expert offloading needs parallelism.tp 1, got {}",
                                  s.parallelism.tp));
  }
  if (s.moe.placement && (s.moe.placement->strategy != place::strategy::contiguous ||
                          s.moe.placement->redundant_experts > 0)) {
    throw input_error(where, "offload",
                      fmt::format("expert offloading runs the contiguous expert split, but "
                                  "moe.placement asks for strategy {} with {} redundant experts",
                                  place::to_string(s.moe.placement->strategy),
                                  s.moe.placement->redundant_experts));
  }
  const int per_rank = s.model.moe->experts / std::max(1, s.parallelism.ep);
  if (o.cache_experts_per_layer && *o.cache_experts_per_layer > per_rank) {
    fail_at("cache_experts_per_layer",
            fmt::format("{} exceeds the {} experts of a layer on one device ({} experts over "
                        "ep {})",
                        *o.cache_experts_per_layer, per_rank, s.model.moe->experts,
                        s.parallelism.ep));
  }
  if (o.prefetch != sim::run::offload_prefetch::none &&
      (o.cache_experts_per_layer.value_or(1) == 0 || o.cache_experts.value_or(1) == 0 ||
       o.cache_bytes.value_or(1) == 0)) {
    fail_at("prefetch", "prefetched experts need a cache to enter (the cache size is 0)");
  }
  if (o.miss == sim::run::offload_miss::cpu && !s.cluster.host) {
    fail_at("miss", fmt::format("miss: cpu runs experts on the host CPU, but cluster {} has no "
                                "`host:` (cores, FLOP/s, DRAM)",
                                s.cluster.name));
  }
}

}  // namespace moesim::io
