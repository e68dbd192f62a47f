#include "models/model_params.hpp"

namespace moesim::models {
namespace {

using i64 = std::int64_t;

i64 norm_params_per_layer(const model_spec& spec) noexcept {
  return 2 * i64{spec.hidden};
}

/// Parameters of the attention projections that are matrix multiplies (norms excluded).
i64 attention_matmul_params(const model_spec& spec) noexcept {
  const attention_spec& a = spec.attention;
  const i64 h = spec.hidden;
  if (a.kind != attention_kind::mla) {
    const i64 q = i64{a.heads} * a.head_dim;
    const i64 kv = i64{a.kv_heads} * a.head_dim;
    return h * q + 2 * h * kv + q * h;
  }
  const i64 qk = i64{a.qk_nope_head_dim} + a.qk_rope_head_dim;
  const i64 q_proj =
      a.q_lora_rank > 0 ? h * a.q_lora_rank + i64{a.q_lora_rank} * a.heads * qk : h * a.heads * qk;
  const i64 kv_a = h * (i64{a.kv_lora_rank} + a.qk_rope_head_dim);
  const i64 kv_b = i64{a.kv_lora_rank} * a.heads * (i64{a.qk_nope_head_dim} + a.v_head_dim);
  const i64 o = i64{a.heads} * a.v_head_dim * h;
  return q_proj + kv_a + kv_b + o;
}

i64 attention_norm_params(const model_spec& spec) noexcept {
  const attention_spec& a = spec.attention;
  return a.kind == attention_kind::mla ? i64{a.q_lora_rank} + a.kv_lora_rank : 0;
}

i64 router_matmul_params(const model_spec& spec) noexcept {
  return spec.moe ? i64{spec.hidden} * spec.moe->experts : 0;
}

/// FFN parameters of an MoE block a token uses: top_k routed and all shared experts.
i64 moe_active_ffn_params(const model_spec& spec) noexcept {
  return i64{spec.moe->top_k} * expert_params(spec) + shared_expert_params(spec);
}

i64 moe_ffn_params(const model_spec& spec) noexcept {
  return i64{spec.moe->experts} * expert_params(spec) + shared_expert_params(spec);
}

i64 moe_block_params(const model_spec& spec) noexcept {
  return attention_params(spec) + norm_params_per_layer(spec) + router_params(spec) +
         moe_ffn_params(spec);
}

i64 dense_block_params(const model_spec& spec) noexcept {
  return attention_params(spec) + norm_params_per_layer(spec) + dense_ffn_params(spec);
}

}  // namespace

i64 embedding_params(const model_spec& spec) noexcept {
  return i64{spec.vocab} * spec.hidden;
}

i64 lm_head_params(const model_spec& spec) noexcept {
  return spec.tie_embeddings ? 0 : embedding_params(spec);
}

i64 attention_params(const model_spec& spec) noexcept {
  return attention_matmul_params(spec) + attention_norm_params(spec);
}

i64 ffn_params(i64 hidden, i64 ffn_hidden, ffn_activation activation) noexcept {
  return (is_gated(activation) ? 3 : 2) * hidden * ffn_hidden;
}

i64 dense_ffn_params(const model_spec& spec) noexcept {
  return ffn_params(spec.hidden, spec.dense_ffn_hidden, spec.activation);
}

i64 expert_params(const model_spec& spec) noexcept {
  return spec.moe ? ffn_params(spec.hidden, spec.moe->expert_ffn_hidden, spec.activation) : 0;
}

i64 shared_expert_params(const model_spec& spec) noexcept {
  return spec.moe ? i64{spec.moe->shared_experts} * expert_params(spec) : 0;
}

i64 router_params(const model_spec& spec) noexcept {
  if (!spec.moe) return 0;
  return router_matmul_params(spec) + (spec.moe->router.bias_balancing ? spec.moe->experts : 0);
}

i64 layer_params(const model_spec& spec, int layer) noexcept {
  return is_moe_layer(spec, layer) ? moe_block_params(spec) : dense_block_params(spec);
}

i64 layer_active_params(const model_spec& spec, int layer) noexcept {
  if (!is_moe_layer(spec, layer)) return dense_block_params(spec);
  return attention_params(spec) + norm_params_per_layer(spec) + router_params(spec) +
         moe_active_ffn_params(spec);
}

i64 total_params(const model_spec& spec) noexcept {
  const i64 moe_layers = moe_layer_count(spec);
  const i64 dense_layers = dense_layer_count(spec);
  i64 total = embedding_params(spec) + lm_head_params(spec) + spec.hidden;  // + final norm
  total += dense_layers * dense_block_params(spec);
  if (moe_layers > 0) total += moe_layers * moe_block_params(spec);
  return total;
}

i64 active_params(const model_spec& spec) noexcept {
  const i64 moe_layers = moe_layer_count(spec);
  const i64 dense_layers = dense_layer_count(spec);
  i64 active = embedding_params(spec) + lm_head_params(spec) + spec.hidden;
  active += dense_layers * dense_block_params(spec);
  if (moe_layers > 0) {
    active += moe_layers * (attention_params(spec) + norm_params_per_layer(spec) +
                            router_params(spec) + moe_active_ffn_params(spec));
  }
  return active;
}

i64 mtp_params(const model_spec& spec) noexcept {
  if (spec.mtp_modules <= 0) return 0;
  const i64 h = spec.hidden;
  const i64 block = moe_layer_count(spec) > 0 ? moe_block_params(spec) : dense_block_params(spec);
  const i64 one = 2 * h + 2 * h * h + block + h + 2 * embedding_params(spec);
  return spec.mtp_modules * one;
}

double expert_weight_bytes(const model_spec& spec) noexcept {
  return static_cast<double>(expert_params(spec)) * expert_bytes_per_param(spec);
}

double weight_bytes(const model_spec& spec) noexcept {
  return static_cast<double>(total_params(spec)) * bytes_per_param(spec.dtype);
}

double kv_cache_bytes_per_token(const model_spec& spec, weight_dtype kv_dtype) noexcept {
  const attention_spec& a = spec.attention;
  const i64 per_layer = a.kind == attention_kind::mla ? i64{a.kv_lora_rank} + a.qk_rope_head_dim
                                                      : 2 * i64{a.kv_heads} * a.head_dim;
  return static_cast<double>(per_layer * spec.layers) * bytes_per_param(kv_dtype);
}

double forward_flops_per_token(const model_spec& spec, i64 context_tokens) noexcept {
  const attention_spec& a = spec.attention;
  const i64 moe_layers = moe_layer_count(spec);
  const i64 dense_layers = dense_layer_count(spec);
  i64 matmul = dense_layers * (attention_matmul_params(spec) + dense_ffn_params(spec));
  if (moe_layers > 0) {
    matmul += moe_layers * (attention_matmul_params(spec) + router_matmul_params(spec) +
                            moe_active_ffn_params(spec));
  }
  matmul += embedding_params(spec);  // the output projection, tied or not
  const i64 qk_dim =
      a.kind == attention_kind::mla ? i64{a.qk_nope_head_dim} + a.qk_rope_head_dim : a.head_dim;
  const i64 v_dim = a.kind == attention_kind::mla ? i64{a.v_head_dim} : a.head_dim;
  const double attention_context = 2.0 * static_cast<double>(a.heads) *
                                   static_cast<double>(qk_dim + v_dim) *
                                   static_cast<double>(context_tokens) * spec.layers;
  return 2.0 * static_cast<double>(matmul) + attention_context;
}

double expert_flops_per_token(const model_spec& spec) noexcept {
  return 2.0 * static_cast<double>(expert_params(spec));
}

}  // namespace moesim::models
