#include "models/model_spec.hpp"

#include <array>
#include <stdexcept>
#include <string>
#include <utility>

namespace moesim::models {
namespace {

[[noreturn]] void fail(const model_spec& spec, const std::string& what) {
  throw std::invalid_argument("model '" + spec.name + "': " + what);
}

void require_positive(const model_spec& spec, std::string_view key, long long value) {
  if (value <= 0) {
    fail(spec, std::string(key) + " must be > 0, got " + std::to_string(value));
  }
}

void require_non_negative(const model_spec& spec, std::string_view key, long long value) {
  if (value < 0) {
    fail(spec, std::string(key) + " must be >= 0, got " + std::to_string(value));
  }
}

void validate_attention(const model_spec& spec) {
  const attention_spec& a = spec.attention;
  require_positive(spec, "attention.heads", a.heads);
  require_positive(spec, "attention.kv_heads", a.kv_heads);
  require_positive(spec, "attention.head_dim", a.head_dim);
  switch (a.kind) {
    case attention_kind::mha:
      if (a.kv_heads != a.heads) {
        fail(spec, "attention.kind mha needs kv_heads == heads, got kv_heads " +
                       std::to_string(a.kv_heads) + " and heads " + std::to_string(a.heads));
      }
      break;
    case attention_kind::gqa:
      if (a.heads % a.kv_heads != 0) {
        fail(spec, "attention.heads " + std::to_string(a.heads) +
                       " is not a multiple of attention.kv_heads " + std::to_string(a.kv_heads));
      }
      break;
    case attention_kind::mla:
      if (a.kv_heads != a.heads) {
        fail(spec, "attention.kind mla needs kv_heads == heads, got kv_heads " +
                       std::to_string(a.kv_heads) + " and heads " + std::to_string(a.heads));
      }
      require_non_negative(spec, "attention.q_lora_rank", a.q_lora_rank);
      require_positive(spec, "attention.kv_lora_rank", a.kv_lora_rank);
      require_positive(spec, "attention.qk_nope_head_dim", a.qk_nope_head_dim);
      require_positive(spec, "attention.qk_rope_head_dim", a.qk_rope_head_dim);
      require_positive(spec, "attention.v_head_dim", a.v_head_dim);
      if (a.head_dim != a.qk_nope_head_dim + a.qk_rope_head_dim) {
        fail(spec, "attention.head_dim " + std::to_string(a.head_dim) +
                       " must equal qk_nope_head_dim + qk_rope_head_dim = " +
                       std::to_string(a.qk_nope_head_dim + a.qk_rope_head_dim) + " for mla");
      }
      break;
  }
  if (a.kind != attention_kind::mla &&
      (a.q_lora_rank != 0 || a.kv_lora_rank != 0 || a.qk_nope_head_dim != 0 ||
       a.qk_rope_head_dim != 0 || a.v_head_dim != 0)) {
    fail(spec, "attention.kind " + std::string(to_string(a.kind)) +
                   " takes no MLA sizes (q_lora_rank, kv_lora_rank, qk_*_head_dim, v_head_dim)");
  }
}

void validate_moe(const model_spec& spec) {
  const moe_spec& m = *spec.moe;
  require_positive(spec, "moe.experts", m.experts);
  require_positive(spec, "moe.top_k", m.top_k);
  require_positive(spec, "moe.expert_ffn_hidden", m.expert_ffn_hidden);
  require_non_negative(spec, "moe.shared_experts", m.shared_experts);
  require_non_negative(spec, "moe.first_k_dense", m.first_k_dense);
  require_positive(spec, "moe.every_n", m.every_n);
  if (m.top_k > m.experts) {
    fail(spec, "moe.top_k " + std::to_string(m.top_k) + " exceeds moe.experts " +
                   std::to_string(m.experts));
  }
  if (m.first_k_dense >= spec.layers) {
    fail(spec, "moe.first_k_dense " + std::to_string(m.first_k_dense) +
                   " leaves no MoE layer among layers " + std::to_string(spec.layers));
  }
  const router_spec& r = m.router;
  if (!(r.routed_scaling_factor > 0.0)) {
    fail(spec, "moe.router.routed_scaling_factor must be > 0, got " +
                   std::to_string(r.routed_scaling_factor));
  }
  require_positive(spec, "moe.router.n_groups", r.n_groups);
  require_positive(spec, "moe.router.topk_groups", r.topk_groups);
  if (m.experts % r.n_groups != 0) {
    fail(spec, "moe.router.n_groups " + std::to_string(r.n_groups) +
                   " does not divide moe.experts " + std::to_string(m.experts));
  }
  if (r.topk_groups > r.n_groups) {
    fail(spec, "moe.router.topk_groups " + std::to_string(r.topk_groups) +
                   " exceeds moe.router.n_groups " + std::to_string(r.n_groups));
  }
  const int reachable = r.topk_groups * (m.experts / r.n_groups);
  if (m.top_k > reachable) {
    fail(spec, "moe.top_k " + std::to_string(m.top_k) + " exceeds the " +
                   std::to_string(reachable) + " experts in moe.router.topk_groups " +
                   std::to_string(r.topk_groups) + " groups");
  }
}

template <class Enum, std::size_t N>
Enum parse_enum(std::string_view what, std::string_view name,
                const std::array<std::pair<std::string_view, Enum>, N>& table) {
  std::string accepted;
  for (const auto& [text, value] : table) {
    if (text == name) return value;
    accepted += accepted.empty() ? "" : "|";
    accepted += text;
  }
  throw std::invalid_argument(std::string(what) + " '" + std::string(name) + "' is not one of " +
                              accepted);
}

constexpr std::array<std::pair<std::string_view, weight_dtype>, 8> dtype_names{{
    {"fp32", weight_dtype::fp32},
    {"bf16", weight_dtype::bf16},
    {"fp16", weight_dtype::fp16},
    {"fp8", weight_dtype::fp8},
    {"int8", weight_dtype::int8},
    {"int4", weight_dtype::int4},
    {"int3", weight_dtype::int3},
    {"int2", weight_dtype::int2},
}};
constexpr std::array<std::pair<std::string_view, attention_kind>, 3> attention_names{{
    {"mha", attention_kind::mha},
    {"gqa", attention_kind::gqa},
    {"mla", attention_kind::mla},
}};
constexpr std::array<std::pair<std::string_view, ffn_activation>, 4> activation_names{{
    {"swiglu", ffn_activation::swiglu},
    {"geglu", ffn_activation::geglu},
    {"gelu", ffn_activation::gelu},
    {"relu", ffn_activation::relu},
}};
constexpr std::array<std::pair<std::string_view, router_scoring>, 2> scoring_names{{
    {"softmax", router_scoring::softmax},
    {"sigmoid", router_scoring::sigmoid},
}};

template <class Enum, std::size_t N>
std::string_view name_of(Enum v, const std::array<std::pair<std::string_view, Enum>, N>& table) {
  for (const auto& [text, value] : table) {
    if (value == v) return text;
  }
  return "?";
}

}  // namespace

void validate(const model_spec& spec) {
  if (spec.name.empty()) throw std::invalid_argument("model spec: name must not be empty");
  require_positive(spec, "layers", spec.layers);
  require_positive(spec, "hidden", spec.hidden);
  require_positive(spec, "vocab", spec.vocab);
  require_non_negative(spec, "dense_ffn_hidden", spec.dense_ffn_hidden);
  require_non_negative(spec, "mtp_modules", spec.mtp_modules);
  validate_attention(spec);
  if (spec.moe) validate_moe(spec);
  const int dense_layers = dense_layer_count(spec);
  if (dense_layers > 0 && spec.dense_ffn_hidden <= 0) {
    fail(spec, "dense_ffn_hidden must be > 0: the model has " + std::to_string(dense_layers) +
                   " dense layers");
  }
  if (spec.mtp_modules > 0 && !spec.moe && spec.dense_ffn_hidden <= 0) {
    fail(spec, "mtp_modules needs a dense_ffn_hidden or an moe part for its block");
  }
}

bool is_moe_layer(const model_spec& spec, int layer) noexcept {
  if (!spec.moe || layer < spec.moe->first_k_dense || layer >= spec.layers) return false;
  return (layer - spec.moe->first_k_dense) % spec.moe->every_n == 0;
}

int moe_layer_count(const model_spec& spec) noexcept {
  if (!spec.moe || spec.moe->first_k_dense >= spec.layers || spec.moe->every_n <= 0) return 0;
  const int span = spec.layers - spec.moe->first_k_dense;
  return (span + spec.moe->every_n - 1) / spec.moe->every_n;
}

int dense_layer_count(const model_spec& spec) noexcept {
  return spec.layers - moe_layer_count(spec);
}

double bytes_per_param(weight_dtype dtype) noexcept {
  switch (dtype) {
    case weight_dtype::fp32:
      return 4.0;
    case weight_dtype::bf16:
    case weight_dtype::fp16:
      return 2.0;
    case weight_dtype::fp8:
    case weight_dtype::int8:
      return 1.0;
    case weight_dtype::int4:
      return 0.5;
    case weight_dtype::int3:
      return 0.375;
    case weight_dtype::int2:
      return 0.25;
  }
  return 2.0;
}

double quant_meta_bytes_per_param(const weight_quant& q) noexcept {
  if (q.group_size <= 0) return 0;
  const double g = q.group_size;
  const double groups = (q.scale_bits + q.zero_bits) / 8.0 / g;
  const double scale_meta =
      q.scale_bits < 16 && q.scale_group_size > 0 ? 4.0 / (g * q.scale_group_size) : 0;
  return groups + scale_meta;
}

double quant_dequant_bytes_per_param(const weight_quant& q) noexcept {
  if (q.group_size <= 0) return 0;
  return 12.0 * (quant_dequant_kernels(q) / 3) / q.group_size;
}

int quant_dequant_kernels(const weight_quant& q) noexcept {
  return 3 * ((q.scale_bits < 16 ? 1 : 0) + (q.zero_bits < 16 ? 1 : 0));
}

double expert_bytes_per_param(const model_spec& spec) noexcept {
  return bytes_per_param(spec.expert_dtype.value_or(spec.dtype)) +
         (spec.expert_quant ? quant_meta_bytes_per_param(*spec.expert_quant) : 0);
}

double attention_bytes_per_param(const model_spec& spec) noexcept {
  return bytes_per_param(spec.attention_dtype.value_or(spec.dtype)) +
         (spec.attention_quant ? quant_meta_bytes_per_param(*spec.attention_quant) : 0);
}

bool is_gated(ffn_activation activation) noexcept {
  return activation == ffn_activation::swiglu || activation == ffn_activation::geglu;
}

std::string_view to_string(weight_dtype v) noexcept {
  return name_of(v, dtype_names);
}
std::string_view to_string(attention_kind v) noexcept {
  return name_of(v, attention_names);
}
std::string_view to_string(ffn_activation v) noexcept {
  return name_of(v, activation_names);
}
std::string_view to_string(router_scoring v) noexcept {
  return name_of(v, scoring_names);
}

weight_dtype parse_weight_dtype(std::string_view name) {
  return parse_enum("dtype", name, dtype_names);
}
attention_kind parse_attention_kind(std::string_view name) {
  return parse_enum("attention.kind", name, attention_names);
}
ffn_activation parse_ffn_activation(std::string_view name) {
  return parse_enum("activation", name, activation_names);
}
router_scoring parse_router_scoring(std::string_view name) {
  return parse_enum("moe.router.scoring", name, scoring_names);
}

}  // namespace moesim::models
