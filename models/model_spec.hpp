#pragma once
// The shape of a model: plain data, filled from a YAML preset (models/presets/<name>.yaml) by the
// strict loader in sim/io, or built in C++ (tests). Parameter counts are *computed* from it
// (model_params.hpp), never stored in it.
//
// YAML keys, 1:1 with the fields below (snake_case; keys marked [default] may be omitted):
//   name:              model_spec::name               string
//   source:            model_spec::source             string (citation of the figures)
//   layers:            model_spec::layers             int > 0 (transformer blocks)
//   hidden:            model_spec::hidden             int > 0 (d_model)
//   vocab:             model_spec::vocab              int > 0
//   dtype:             model_spec::dtype              fp32|bf16|fp16|fp8|int8|int4   [bf16]
//   activation:        model_spec::activation         swiglu|geglu|gelu|relu         [swiglu]
//                      (of every FFN: dense layers, routed and shared experts)
//   dense_ffn_hidden:  model_spec::dense_ffn_hidden   int >= 0, FFN width of dense layers [0]
//   tie_embeddings:    model_spec::tie_embeddings     bool                           [false]
//   mtp_modules:       model_spec::mtp_modules        int >= 0 (multi-token prediction) [0]
//   attention:         model_spec::attention
//     kind:              attention_spec::kind           mha|gqa|mla
//     heads:             attention_spec::heads          int > 0 (query heads)
//     kv_heads:          attention_spec::kv_heads       int > 0 (= heads for mha and mla)
//     head_dim:          attention_spec::head_dim       int > 0 (mla: qk_nope + qk_rope)
//     q_lora_rank:       attention_spec::q_lora_rank    int >= 0, mla only (0: direct q) [0]
//     kv_lora_rank:      attention_spec::kv_lora_rank   int, mla only                [0]
//     qk_nope_head_dim:  attention_spec::qk_nope_head_dim  mla only                  [0]
//     qk_rope_head_dim:  attention_spec::qk_rope_head_dim  mla only                  [0]
//     v_head_dim:        attention_spec::v_head_dim     mla only                     [0]
//   moe:               model_spec::moe                (absent: a dense model)
//     experts:           moe_spec::experts              int > 0 (routed experts per MoE layer)
//     top_k:             moe_spec::top_k                1..experts
//     expert_ffn_hidden: moe_spec::expert_ffn_hidden    int > 0 (FFN width of one expert)
//     shared_experts:    moe_spec::shared_experts       int >= 0, each expert_ffn_hidden wide [0]
//     first_k_dense:     moe_spec::first_k_dense        int >= 0 leading dense layers      [0]
//     every_n:           moe_spec::every_n              int >= 1                           [1]
//     router:            moe_spec::router
//       scoring:               router_spec::scoring               softmax|sigmoid   [softmax]
//       normalize_top_k:       router_spec::normalize_top_k       bool              [true]
//       routed_scaling_factor: router_spec::routed_scaling_factor double > 0       [1.0]
//       n_groups:              router_spec::n_groups              int >= 1          [1]
//       topk_groups:           router_spec::topk_groups           1..n_groups       [1]
//       bias_balancing:        router_spec::bias_balancing        bool              [false]
//
// Layer placement: layer i (0-based) is an MoE layer iff i >= first_k_dense and
// (i - first_k_dense) % every_n == 0 (DeepSeek's first_k_dense_replace / moe_layer_freq; GShard
// and GLaM "every other layer" is every_n 2). Encoder-decoder models (Switch, GShard) are
// described by their total block count; cross-attention is not counted (< 0.1% of their totals).
#include <optional>
#include <string>
#include <string_view>

namespace moesim::models {

/// int3 and int2: weight-only formats (HQQ, Badri & Shaji 2023; mixtral-offloading's 2- and
/// 3-bit experts), 3/8 and 2/8 bytes per parameter; their group scales and zeros are not counted
/// (HQQ's 16-bit scale and zero per 64 weights would add 1/16 byte per parameter).
enum class weight_dtype { fp32, bf16, fp16, fp8, int8, int4, int3, int2 };
enum class attention_kind { mha, gqa, mla };
/// swiglu/geglu: gated FFN, three matrices (gate, up, down); gelu/relu: two (up, down).
enum class ffn_activation { swiglu, geglu, gelu, relu };
/// softmax over all experts (Mixtral, Switch, Qwen3) or per-expert sigmoid (DeepSeek-V3, Kimi K2).
enum class router_scoring { softmax, sigmoid };

struct attention_spec {
  attention_kind kind = attention_kind::gqa;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  // Multi-head latent attention (DeepSeek-V2/V3): queries and keys/values go through low-rank
  // latents; the KV cache holds kv_lora_rank + qk_rope_head_dim values per token and layer.
  int q_lora_rank = 0;
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;
};

struct router_spec {
  router_scoring scoring = router_scoring::softmax;
  /// Renormalise the selected experts' scores to sum to 1 (Mixtral, DeepSeek-V3 norm_topk_prob).
  bool normalize_top_k = true;
  /// Multiplies the combine weights after normalisation (DeepSeek-V3: 2.5).
  double routed_scaling_factor = 1.0;
  /// Group-limited routing: experts split into n_groups equal groups, each token chooses among
  /// the topk_groups best groups only (DeepSeek-V3: 8 groups = nodes, 4 kept).
  int n_groups = 1;
  int topk_groups = 1;
  /// Auxiliary-loss-free balancing: a per-expert bias is added to the scores for selection only.
  bool bias_balancing = false;
};

struct moe_spec {
  int experts = 0;
  int top_k = 0;
  int expert_ffn_hidden = 0;
  int shared_experts = 0;
  int first_k_dense = 0;
  int every_n = 1;
  router_spec router;
};

/// Group-wise weight quantisation's metadata (HQQ, GPTQ, AWQ style): each `group_size`
/// consecutive weights share one scale and one zero point, stored at `scale_bits` and
/// `zero_bits` (16: fp16; 8: themselves quantised, as HQQ's quant_scale / quant_zero). Scales
/// below 16 bits are dequantised in groups of `scale_group_size` with one fp16 scale and zero
/// each (0: not counted). HQQ quantises zeros tensor-wide (one fp16 pair per matrix), which is
/// not counted (a few bytes per matrix).
struct weight_quant {
  int group_size = 64;
  int scale_bits = 16;
  int zero_bits = 16;
  int scale_group_size = 0;
};
/// Metadata bytes per weight parameter: (scale_bits + zero_bits) / 8 / group_size, plus the
/// quantised scales' fp16 scale and zero (4 bytes) per scale_group_size x group_size weights.
[[nodiscard]] double quant_meta_bytes_per_param(const weight_quant& q) noexcept;
/// HBM bytes per weight parameter that dequantising the metadata moves at every use beyond the
/// stored bytes: metadata stored below 16 bits is expanded to fp16 before the GEMM by three
/// elementwise kernels (unpack to fp16: write 2 bytes; subtract the zero: read 2, write 2;
/// multiply by the scale: read 2, write 2), then the GEMM reads it at 2 bytes: 12 bytes per
/// quantised scale or zero, per group (HQQ's Quantizer.dequantize on scale_q and zero_q in
/// HQQLinear's forward, as mixtral-offloading's HQQLinearTritonSavable.forward_triton calls it
/// before its fused triton matmul). 0 when both are stored at 16 bits or more.
[[nodiscard]] double quant_dequant_bytes_per_param(const weight_quant& q) noexcept;
/// Elementwise kernels that dequantising one weight matrix's metadata launches: 3 per quantised
/// scale or zero tensor (0, 3 or 6).
[[nodiscard]] int quant_dequant_kernels(const weight_quant& q) noexcept;

struct model_spec {
  std::string name;
  std::string source;
  int layers = 0;
  int hidden = 0;
  int vocab = 0;
  weight_dtype dtype = weight_dtype::bf16;
  ffn_activation activation = ffn_activation::swiglu;
  int dense_ffn_hidden = 0;
  bool tie_embeddings = false;
  /// Multi-token-prediction modules (DeepSeek-V3: 1); counted apart from total_params.
  int mtp_modules = 0;
  attention_spec attention;
  std::optional<moe_spec> moe;  ///< empty for a dense model
  /// Stored formats of the routed experts' and the attention projections' weights where they
  /// differ from dtype (the scenario's precision.expert_weights and .attention_weights). Their
  /// GEMMs compute at dtype's FLOP/s (weights dequantised on the fly); the bytes stored,
  /// streamed from HBM and fetched from the host are in these formats.
  std::optional<weight_dtype> expert_dtype;
  std::optional<weight_dtype> attention_dtype;
  /// Group quantisation metadata of those formats (precision.expert_quant, .attention_quant):
  /// counted in the bytes stored, streamed and fetched (expert_bytes_per_param,
  /// attention_bytes_per_param) and in the dequantisation traffic (op_costs).
  std::optional<weight_quant> expert_quant;
  std::optional<weight_quant> attention_quant;
};

/// Throws std::invalid_argument naming the field and the numbers that disagree
/// (e.g. "model 'x': moe.top_k 9 exceeds moe.experts 8"). Checks ranges, attention kind
/// consistency (gqa: heads % kv_heads == 0; mha/mla: kv_heads == heads; mla: latent sizes set and
/// head_dim == qk_nope + qk_rope), group routing (n_groups divides experts, topk_groups <=
/// n_groups, enough experts in the kept groups for top_k) and that dense layers have a dense FFN
/// width.
void validate(const model_spec& spec);

/// True iff layer `layer` (0-based, < spec.layers) has an MoE FFN (rule in the file comment).
[[nodiscard]] bool is_moe_layer(const model_spec& spec, int layer) noexcept;
[[nodiscard]] int moe_layer_count(const model_spec& spec) noexcept;
[[nodiscard]] int dense_layer_count(const model_spec& spec) noexcept;

[[nodiscard]] double bytes_per_param(weight_dtype dtype) noexcept;
/// Bytes per parameter of the routed experts (expert_dtype, else dtype) and of the attention
/// projections (attention_dtype, else dtype), with their quantisation metadata when set.
[[nodiscard]] double expert_bytes_per_param(const model_spec& spec) noexcept;
[[nodiscard]] double attention_bytes_per_param(const model_spec& spec) noexcept;
[[nodiscard]] bool is_gated(ffn_activation activation) noexcept;

// Names as written in YAML; parse_* throw std::invalid_argument listing the accepted names.
[[nodiscard]] std::string_view to_string(weight_dtype v) noexcept;
[[nodiscard]] std::string_view to_string(attention_kind v) noexcept;
[[nodiscard]] std::string_view to_string(ffn_activation v) noexcept;
[[nodiscard]] std::string_view to_string(router_scoring v) noexcept;
[[nodiscard]] weight_dtype parse_weight_dtype(std::string_view name);
[[nodiscard]] attention_kind parse_attention_kind(std::string_view name);
[[nodiscard]] ffn_activation parse_ffn_activation(std::string_view name);
[[nodiscard]] router_scoring parse_router_scoring(std::string_view name);

}  // namespace moesim::models
