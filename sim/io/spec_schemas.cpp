#include "sim/io/spec_schemas.hpp"

namespace moesim::io {

namespace {

using models::attention_spec;
using models::model_spec;
using models::moe_spec;
using models::router_spec;

constexpr int max_dim = 1 << 24;

integer_spec<int> count(int min, int max = max_dim) {
  return {min, max};
}

template <class E, std::size_t N>
enum_spec<E> enum_of(const std::array<E, N>& values) {
  enum_spec<E> s;
  for (E v : values) s.choices.emplace_back(std::string(to_string(v)), v);
  return s;
}

const object_type<attention_spec>& attention_type() {
  static const auto t = [] {
    object_type<attention_spec> o("attention", "Attention shape of every layer");
    o.required("kind", &attention_spec::kind,
               enum_of(std::array{models::attention_kind::mha, models::attention_kind::gqa,
                                  models::attention_kind::mla}),
               "mha, gqa (grouped-query) or mla (DeepSeek multi-head latent attention)")
        .required("heads", &attention_spec::heads, count(1, 4096), "query heads")
        .required("kv_heads", &attention_spec::kv_heads, count(1, 4096),
                  "key/value heads (= heads for mha and mla)")
        .required("head_dim", &attention_spec::head_dim, count(1, 65536),
                  "dimension of one head (mla: qk_nope_head_dim + qk_rope_head_dim)")
        .optional("q_lora_rank", &attention_spec::q_lora_rank, count(0),
                  "mla: query latent rank (0 = direct query projection)")
        .optional("kv_lora_rank", &attention_spec::kv_lora_rank, count(0),
                  "mla: key/value latent rank")
        .optional("qk_nope_head_dim", &attention_spec::qk_nope_head_dim, count(0),
                  "mla: non-positional part of a query/key head")
        .optional("qk_rope_head_dim", &attention_spec::qk_rope_head_dim, count(0),
                  "mla: rotary part of a query/key head")
        .optional("v_head_dim", &attention_spec::v_head_dim, count(0), "mla: value head dimension");
    return o;
  }();
  return t;
}

const object_type<router_spec>& router_type() {
  static const auto t = [] {
    object_type<router_spec> o("router", "How tokens choose experts");
    o.optional(
         "scoring", &router_spec::scoring,
         enum_of(std::array{models::router_scoring::softmax, models::router_scoring::sigmoid}),
         "softmax over experts (Mixtral, Switch) or per-expert sigmoid (DeepSeek-V3)")
        .optional("normalize_top_k", &router_spec::normalize_top_k, bool_spec{},
                  "renormalise the selected experts' scores to sum to 1")
        .optional("routed_scaling_factor", &router_spec::routed_scaling_factor,
                  number_spec{0, 1e6, true}, "multiplies the combine weights (DeepSeek-V3: 2.5)")
        .optional("n_groups", &router_spec::n_groups, count(1, 1 << 16),
                  "expert groups for group-limited routing (DeepSeek-V3: 8)")
        .optional("topk_groups", &router_spec::topk_groups, count(1, 1 << 16),
                  "groups each token may use (DeepSeek-V3: 4)")
        .optional("bias_balancing", &router_spec::bias_balancing, bool_spec{},
                  "auxiliary-loss-free balancing bias on selection scores");
    return o;
  }();
  return t;
}

const object_type<moe_spec>& moe_type() {
  static const auto t = [] {
    object_type<moe_spec> o("moe", "Mixture-of-Experts layers (absent for a dense model)");
    o.required("experts", &moe_spec::experts, count(1, 1 << 20), "routed experts per MoE layer")
        .required("top_k", &moe_spec::top_k, count(1, 1 << 20), "experts chosen per token")
        .required("expert_ffn_hidden", &moe_spec::expert_ffn_hidden, count(1),
                  "FFN width of one expert")
        .optional("shared_experts", &moe_spec::shared_experts, count(0, 1 << 10),
                  "always-active shared experts, each expert_ffn_hidden wide")
        .optional("first_k_dense", &moe_spec::first_k_dense, count(0, 1 << 16),
                  "leading layers with a dense FFN")
        .optional("every_n", &moe_spec::every_n, count(1, 1 << 16),
                  "MoE in every n-th layer after first_k_dense (GShard, GLaM: 2)")
        .optional("router", &moe_spec::router, nested(router_type()), "router configuration");
    return o;
  }();
  return t;
}

}  // namespace

const object_type<model_spec>& model_type() {
  static const auto t = [] {
    object_type<model_spec> o("model", "The model: a preset name and/or its shape");
    o.passthrough("preset", json{{"type", "string"}},
                  "start from this model preset (moesim presets); other keys override it")
        .required("name", &model_spec::name, string_spec{}, "model name")
        .optional("source", &model_spec::source, string_spec{false},
                  "where the shape comes from (citation)")
        .required("layers", &model_spec::layers, count(1, 1 << 16), "transformer blocks")
        .required("hidden", &model_spec::hidden, count(1), "model (embedding) dimension")
        .required("vocab", &model_spec::vocab, count(1, 1 << 26), "vocabulary size")
        .optional("dtype", &model_spec::dtype,
                  enum_of(std::array{models::weight_dtype::fp32, models::weight_dtype::bf16,
                                     models::weight_dtype::fp16, models::weight_dtype::fp8,
                                     models::weight_dtype::int8, models::weight_dtype::int4}),
                  "number format of the weights")
        .optional("activation", &model_spec::activation,
                  enum_of(std::array{models::ffn_activation::swiglu, models::ffn_activation::geglu,
                                     models::ffn_activation::gelu, models::ffn_activation::relu}),
                  "FFN activation (swiglu/geglu: gated, three matrices)")
        .optional("dense_ffn_hidden", &model_spec::dense_ffn_hidden, count(0),
                  "FFN width of dense layers")
        .optional("tie_embeddings", &model_spec::tie_embeddings, bool_spec{},
                  "output head shares the embedding matrix")
        .optional("mtp_modules", &model_spec::mtp_modules, count(0, 64),
                  "multi-token-prediction modules (DeepSeek-V3: 1)")
        .required("attention", &model_spec::attention, nested(attention_type()), "attention shape")
        .optional("moe", &model_spec::moe,
                  optional_spec<moe_spec, object_spec<moe_spec>>{nested(moe_type())},
                  "MoE layers; absent or null for a dense model")
        .check(validated_by<model_spec>(&models::validate));
    return o;
  }();
  return t;
}

}  // namespace moesim::io
