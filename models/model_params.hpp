#pragma once
// Parameter, byte and FLOP counts computed from a model_spec. All counts are exact integers
// (parameters, not billions) from the formulas below; O(1) each. The spec is assumed valid
// (validate() first): on an invalid spec the results are meaningless but never UB.
//
// Conventions (those of the published totals these are tested against):
// - embedding: vocab x hidden; lm head: vocab x hidden unless tie_embeddings;
// - attention per layer: mha/gqa q,o = hidden x heads*head_dim, k,v = hidden x kv_heads*head_dim;
//   mla: q_a (hidden x q_lora) + q_a norm + q_b (q_lora x heads*(nope+rope)) [or a direct
//   hidden x heads*(nope+rope) when q_lora_rank is 0], kv_a (hidden x (kv_lora+rope)) + kv_a norm,
//   kv_b (kv_lora x heads*(nope+v)), o (heads*v x hidden); no biases;
// - norms: two RMSNorm vectors (hidden) per layer and one final;
// - FFN of width f: 3*hidden*f when gated (swiglu, geglu), else 2*hidden*f;
// - MoE layer: router hidden x experts (+ experts bias values with bias balancing),
//   experts routed FFNs and shared_experts shared FFNs, all expert_ffn_hidden wide;
// - active = everything a token touches: embedding, lm head, attention, norms, router,
//   top_k routed + all shared experts in MoE layers, the dense FFN elsewhere;
// - MTP modules (DeepSeek-V3) are excluded from total/active and counted by mtp_params.
#include <cstdint>

#include "models/model_spec.hpp"

namespace moesim::models {

[[nodiscard]] std::int64_t embedding_params(const model_spec& spec) noexcept;
/// 0 when the embedding is tied.
[[nodiscard]] std::int64_t lm_head_params(const model_spec& spec) noexcept;
/// One layer's attention projections (and MLA's latent norms).
[[nodiscard]] std::int64_t attention_params(const model_spec& spec) noexcept;
/// An FFN of width `ffn_hidden` on `hidden` inputs with `activation`.
[[nodiscard]] std::int64_t ffn_params(std::int64_t hidden, std::int64_t ffn_hidden,
                                      ffn_activation activation) noexcept;
/// The FFN of one dense layer.
[[nodiscard]] std::int64_t dense_ffn_params(const model_spec& spec) noexcept;
/// One routed expert (0 for a dense model).
[[nodiscard]] std::int64_t expert_params(const model_spec& spec) noexcept;
/// All shared experts of one MoE layer.
[[nodiscard]] std::int64_t shared_expert_params(const model_spec& spec) noexcept;
/// The router of one MoE layer (gate matrix, and the balancing bias if any).
[[nodiscard]] std::int64_t router_params(const model_spec& spec) noexcept;
/// Parameters of layer `layer` (0-based): attention + norms + its FFN or MoE block.
[[nodiscard]] std::int64_t layer_params(const model_spec& spec, int layer) noexcept;
/// Parameters of layer `layer` one token uses.
[[nodiscard]] std::int64_t layer_active_params(const model_spec& spec, int layer) noexcept;

[[nodiscard]] std::int64_t total_params(const model_spec& spec) noexcept;
[[nodiscard]] std::int64_t active_params(const model_spec& spec) noexcept;
/// All multi-token-prediction modules, each: two input norms, the 2*hidden x hidden projection,
/// one block (MoE if the model has MoE layers), a final norm, and its own embedding and output
/// head copies (stored per module in the DeepSeek-V3 checkpoint; its "14B of MTP" counts them).
[[nodiscard]] std::int64_t mtp_params(const model_spec& spec) noexcept;

/// Bytes of one routed expert's weights in the spec's dtype.
[[nodiscard]] double expert_weight_bytes(const model_spec& spec) noexcept;
/// Bytes of all weights (total_params, MTP excluded) in the spec's dtype.
[[nodiscard]] double weight_bytes(const model_spec& spec) noexcept;
/// KV-cache bytes one token adds over all layers: mla keeps kv_lora_rank + qk_rope_head_dim
/// values per layer, mha/gqa 2*kv_heads*head_dim; each value `kv_dtype`.
[[nodiscard]] double kv_cache_bytes_per_token(const model_spec& spec,
                                              weight_dtype kv_dtype) noexcept;

/// Forward FLOPs of one token (multiply-add = 2 FLOPs): 2 x the matrix parameters it uses
/// (attention, routed top_k + shared experts or dense FFN, router, lm head; the embedding is a
/// gather) plus attention over `context_tokens` keys: 2*heads*(qk_dim + v_dim)*context per layer
/// (mla: qk_dim = nope + rope, v_dim = v_head_dim, the non-absorbed form).
[[nodiscard]] double forward_flops_per_token(const model_spec& spec,
                                             std::int64_t context_tokens) noexcept;
/// FLOPs of one token through one routed expert: 2 x expert_params.
[[nodiscard]] double expert_flops_per_token(const model_spec& spec) noexcept;

}  // namespace moesim::models
