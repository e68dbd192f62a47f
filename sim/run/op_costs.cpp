#include "sim/run/op_costs.hpp"

#include <algorithm>
#include <optional>

#include "models/model_params.hpp"

namespace moesim::sim::run {

namespace {

double bpp(const models::model_spec& m) {
  return models::bytes_per_param(m.dtype);
}

/// HBM bytes per weight that dequantising a group-quantised format's metadata moves per use.
double dequant_bpp(const std::optional<models::weight_quant>& q) {
  return q ? models::quant_dequant_bytes_per_param(*q) : 0;
}

double qk_plus_v(const models::model_spec& m, const pass_shape& p) {
  const auto& a = m.attention;
  if (a.kind != models::attention_kind::mla) return 2.0 * a.head_dim;
  if (p.decode) return 2.0 * a.kv_lora_rank + a.qk_rope_head_dim;  // absorbed: over the latent
  return a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim;
}

}  // namespace

namespace {

/// The core of uniform sequences (p.slices empty).
double core_flops_uniform(const models::model_spec& m, const pass_shape& p) {
  return 2.0 * m.attention.heads * qk_plus_v(m, p) * p.keys * p.tokens / p.tp;
}

/// One slice as a uniform pass of one sequence.
pass_shape slice_shape(const pass_shape& p, const seq_slice& x) {
  pass_shape one;
  one.tp = p.tp;
  one.kv_dtype = p.kv_dtype;
  one.sequences = 1;
  one.tokens = x.new_tokens;
  one.keys = x.context + (x.new_tokens + 1) / 2;
  one.kv_read_tokens = x.context;
  one.decode = x.new_tokens == 1 && x.context > 0;
  return one;
}

double kv_split(const models::model_spec& m, const pass_shape& p) {
  return m.attention.kind == models::attention_kind::mla
             ? 1.0
             : std::min<double>(p.tp, m.attention.kv_heads);
}

/// Bytes of KV cache the core reads and writes.
double core_bytes_uniform(const models::model_spec& m, const pass_shape& p) {
  const double kv_per_token_layer = models::kv_cache_bytes_per_token(m, p.kv_dtype) / m.layers;
  const double kv_read = p.sequences * p.kv_read_tokens * kv_per_token_layer / kv_split(m, p);
  const double kv_write = p.tokens * kv_per_token_layer / kv_split(m, p);
  return kv_read + kv_write;
}

}  // namespace

double attention_core_flops(const models::model_spec& m, const pass_shape& p) {
  if (p.slices.empty()) return core_flops_uniform(m, p);
  double flops = 0;
  for (const seq_slice& x : p.slices) flops += core_flops_uniform(m, slice_shape(p, x));
  return flops;
}

attention_kernels attention_cost(const models::model_spec& m, const pass_shape& p) {
  const double params = static_cast<double>(models::attention_params(m));
  double core_bytes = 0;
  if (p.slices.empty()) {
    core_bytes = core_bytes_uniform(m, p);
  } else {
    for (const seq_slice& x : p.slices) core_bytes += core_bytes_uniform(m, slice_shape(p, x));
  }
  const double act = 2.0 * p.tokens * m.hidden * bpp(m);
  const double weights =
      params * (models::attention_bytes_per_param(m) + dequant_bpp(m.attention_quant)) / p.tp;
  return {{2.0 * params * p.tokens / p.tp, weights + act,
           cluster::kernel_class::gemm, p.tokens},
          {attention_core_flops(m, p), core_bytes, cluster::kernel_class::attention}};
}

cluster::op_cost router_cost(const models::model_spec& m, const pass_shape& p) {
  const double params = static_cast<double>(models::router_params(m));
  return {2.0 * params * p.tokens, params * bpp(m) + p.tokens * m.hidden * bpp(m)};
}

cluster::op_cost dense_ffn_cost(const models::model_spec& m, const pass_shape& p) {
  const double params = static_cast<double>(models::dense_ffn_params(m));
  return {2.0 * params * p.tokens / p.tp,
          params * bpp(m) / p.tp + 2.0 * p.tokens * m.hidden * bpp(m), cluster::kernel_class::gemm,
          p.tokens};
}

cluster::op_cost expert_cost(const models::model_spec& m, const pass_shape& p, double copies,
                             int active) {
  const double expert = static_cast<double>(models::expert_params(m));
  const double shared = static_cast<double>(models::shared_expert_params(m));
  const double shared_tokens = shared > 0 ? p.tokens : 0;
  const double weights =
      (active * expert * (models::expert_bytes_per_param(m) + dequant_bpp(m.expert_quant)) +
       shared * bpp(m)) /
      p.tp;
  // Rows of the grouped GEMM: the mean tokens per routed expert with any (the shared experts'
  // GEMM over all the device's tokens is the larger, faster-streaming part when present; the
  // op is priced as one kernel at the routed experts' rows).
  const double rows = active > 0 ? copies / active : shared_tokens;
  return {(2.0 * expert * copies + 2.0 * shared * shared_tokens) / p.tp,
          weights + 2.0 * (copies + shared_tokens) * m.hidden * bpp(m), cluster::kernel_class::gemm,
          rows};
}

cluster::op_cost attention_elementwise_cost(const models::model_spec& m, const pass_shape& p) {
  const auto& a = m.attention;
  const double qk =
      a.kind == models::attention_kind::mla ? a.qk_nope_head_dim + a.qk_rope_head_dim : a.head_dim;
  const double rope = 2.0 * (a.heads + a.kv_heads) * qk / p.tp;  // read and write q and k
  const double values = p.tokens * (10.0 * m.hidden + rope);
  return {values, values * bpp(m)};
}

cluster::op_cost ffn_elementwise_cost(const models::model_spec& m, const pass_shape& p,
                                      double ffn_tokens, double ffn_hidden, double permuted) {
  const double act = (models::is_gated(m.activation) ? 3.0 : 2.0) * ffn_hidden / p.tp;
  const double values = ffn_tokens * act + permuted * 4.0 * m.hidden;
  return {values, values * bpp(m)};
}

cluster::op_cost lm_head_cost(const models::model_spec& m, double tokens, int tp) {
  const double params = static_cast<double>(
      models::lm_head_params(m) > 0 ? models::lm_head_params(m) : models::embedding_params(m));
  return {2.0 * params * tokens / tp, params * bpp(m) / tp + tokens * m.hidden * bpp(m),
          cluster::kernel_class::gemm, tokens};
}

double proposal_heads_weight_bytes(const models::model_spec& m, int heads, int tp) {
  const double h = m.hidden;
  return heads * 2.0 * h * h * bpp(m) / tp;
}

cluster::op_cost proposal_heads_cost(const models::model_spec& m, double positions, int heads,
                                     int tp) {
  const double h = m.hidden;
  const double projection = static_cast<double>(
      models::lm_head_params(m) > 0 ? models::lm_head_params(m) : models::embedding_params(m));
  const double params = heads * 2.0 * h * h + projection;  // per position and head: each layer
  const double flops = 2.0 * positions * heads * (2.0 * h * h + projection) / tp;
  const double bytes = params * bpp(m) / tp + positions * heads * h * bpp(m);
  return {flops, bytes, cluster::kernel_class::gemm, positions};
}

cluster::op_cost backward_cost(const cluster::op_cost& fwd, double core_flops,
                               cluster::recompute_mode r) {
  cluster::op_cost b{2.0 * fwd.flops, 2.0 * fwd.bytes, fwd.kernel};
  if (r == cluster::recompute_mode::full) {
    b.flops += fwd.flops;
    b.bytes += fwd.bytes;
  } else if (r == cluster::recompute_mode::selective) {
    b.flops += core_flops;
  }
  return b;
}

double training_model_flops_per_token(const models::model_spec& m, std::int64_t sequence) {
  return 3.0 * models::forward_flops_per_token(m, sequence);
}

}  // namespace moesim::sim::run
