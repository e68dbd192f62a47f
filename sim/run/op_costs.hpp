#pragma once
// FLOPs and HBM bytes of the ops of one transformer layer on one device, from the model's full
// sizes (never the reduced maths width). Pure arithmetic; the roofline (sim/cluster/roofline.hpp)
// turns a cost into time.
//
// Conventions (multiply-add = 2 FLOPs; weights in the model's dtype, the routed experts' and the
// attention projections' in their own stored formats when the scenario sets them
// (model_spec::expert_dtype, attention_dtype: bytes in that format, FLOPs at the activations'
// rate, the weights dequantised on the fly; group-quantised formats add their metadata to the
// bytes stored and streamed, and metadata stored below 16 bits its per-use dequantisation
// traffic, models::quant_dequant_bytes_per_param); activations in the model's dtype):
//  - attention: two kernels. The projections (a GEMM) 2·params·T, bytes its weights and the
//    layer's input and output; the core (a fused attention kernel, efficiency.attention) the
//    scores and values over the keys each query sees, 2·heads·(qk_dim + v_dim)·keys·T (keys: the
//    KV cache + 1 in decode, (s+1)/2 in prefill and training, where causal kernels skip the
//    masked half), bytes the KV cache read (decode) and written in the KV cache's format. MLA
//    decodes in its absorbed form (DeepSeek-V2 §2.1.2: W_UK folded into the query, W_UV into
//    the output), attending over the cached latent itself: qk_dim = kv_lora_rank + rope dim,
//    v_dim = kv_lora_rank (576 + 512 for DeepSeek-V3, FlashMLA's FLOP count), where prefill
//    and training use the per-head qk_nope + rope and v dims (192 + 128);
//  - experts: 2·expert_params per routed copy, 2·shared_params per token; every expert with at
//    least one token streams its full weights from HBM (so small decode batches are
//    memory-bound);
//  - GEMMs name their rows (op_cost::rows: tokens on the device for attention projections,
//    dense FFN and the head; mean tokens per active expert for the routed experts), which set
//    their weight-streaming bandwidth on chips with measured small-row fp8 GEMMs (roofline.hpp);
//  - TP: FLOPs and weight bytes split evenly over the tp ranks (heads, FFN columns); the KV
//    cache over min(tp, kv_heads) (MLA's latent is not split);
//  - memory-bound elementwise kernels, separate ops after the GEMMs: per token and layer two
//    RMSNorms (read h, write h), two residual adds (read 2h, write h) and RoPE on q and k
//    (read and write) with attention; per routed copy the gated activation (read 2f, write f;
//    ungated read f, write f) and the permutation into and out of the expert order (read and
//    write h, twice) with the experts; dense FFNs have the activation only;
//  - backward: 2x the forward FLOPs and bytes (input and weight gradients); recomputation adds
//    a forward (full) or the attention core (selective), Korthikanti et al. 2022.
#include <vector>

#include "models/model_spec.hpp"
#include "sim/cluster/memory.hpp"
#include "sim/cluster/roofline.hpp"

namespace moesim::sim::run {

/// One sequence's part of a pass whose sequences differ (serving): `new_tokens` computed now
/// after `context` tokens already in its KV cache. Its queries attend to the cached tokens and
/// causally to each other, context + (new_tokens + 1) / 2 keys each; it reads its cached KV and
/// writes its new tokens'. A one-token slice with context is a decode (MLA absorbed).
struct seq_slice {
  double new_tokens = 0;
  double context = 0;
};

/// What one pass of one micro-batch puts on a device.
struct pass_shape {
  double tokens = 0;          ///< T: tokens through the layer on this device
  double sequences = 0;       ///< sequences they belong to
  double keys = 0;            ///< keys each query attends to (see file comment)
  double kv_read_tokens = 0;  ///< cached tokens read per sequence (decode), else 0
  int tp = 1;
  bool decode = false;                                         ///< one new token per sequence
  models::weight_dtype kv_dtype = models::weight_dtype::bf16;  ///< KV cache format
  /// Sequences that differ (serving): each one's slice on this device; the attention core sums
  /// them. Empty: every sequence alike, as the fields above say. `tokens` and `sequences` stay
  /// the device's totals every other op uses.
  std::vector<seq_slice> slices;
  /// Blockwise parallel decoding: proposal heads run after the output head at each of the
  /// `sequences` emitting positions (proposal_heads_cost); 0 = none.
  int proposal_heads = 0;
};

/// The two kernels of one attention block (see the file comment).
struct attention_kernels {
  cluster::op_cost projections;
  cluster::op_cost core;  ///< kernel_class::attention
};

[[nodiscard]] attention_kernels attention_cost(const models::model_spec& m, const pass_shape& p);
/// The scores/values part of attention alone (what selective recomputation redoes).
[[nodiscard]] double attention_core_flops(const models::model_spec& m, const pass_shape& p);
[[nodiscard]] cluster::op_cost router_cost(const models::model_spec& m, const pass_shape& p);
[[nodiscard]] cluster::op_cost dense_ffn_cost(const models::model_spec& m, const pass_shape& p);
/// Routed experts of one device: `copies` (token, expert) pairs received, `active` experts
/// with at least one; shared experts process the device's own tokens.
[[nodiscard]] cluster::op_cost expert_cost(const models::model_spec& m, const pass_shape& p,
                                           double copies, int active);
/// Elementwise kernels of the attention block (norms, residuals, RoPE) on this device.
[[nodiscard]] cluster::op_cost attention_elementwise_cost(const models::model_spec& m,
                                                          const pass_shape& p);
/// Elementwise kernels of an FFN block: the activation over `ffn_tokens` rows of width
/// `ffn_hidden` (split by TP) and the permutation of `permuted` routed copies.
[[nodiscard]] cluster::op_cost ffn_elementwise_cost(const models::model_spec& m,
                                                    const pass_shape& p, double ffn_tokens,
                                                    double ffn_hidden, double permuted);

/// Output head over `tokens` positions (split over the vocabulary by TP).
[[nodiscard]] cluster::op_cost lm_head_cost(const models::model_spec& m, double tokens, int tp);

/// Blockwise parallel decoding's proposal heads (Stern, Shazeer, Uszkoreit 2018,
/// arXiv:1811.03115, its implementation: one feedforward layer between the decoder output and
/// the output projection, of hidden size k x d_hidden and output k x d_model, the projection shared
/// by the k predictions): per head a feedforward layer hidden -> hidden -> hidden (d_hidden taken
/// at the model's hidden size, our reading) and the shared vocabulary projection, at each of
/// `positions` positions, as one GEMM kernel reading the heads' weights and the projection's
/// (split over TP like the head). O(1).
[[nodiscard]] cluster::op_cost proposal_heads_cost(const models::model_spec& m, double positions,
                                                   int heads, int tp);
/// HBM bytes of `heads` proposal heads' own layers on one device (2 hidden^2 each, over TP);
/// the projection is the target's. O(1).
[[nodiscard]] double proposal_heads_weight_bytes(const models::model_spec& m, int heads, int tp);

/// Backward cost of an op whose forward is `fwd` (`core_flops`: its attention-core part).
[[nodiscard]] cluster::op_cost backward_cost(const cluster::op_cost& fwd, double core_flops,
                                             cluster::recompute_mode r);

/// Model FLOPs of one token in training, as Megatron-LM counts them for its TFLOPS/GPU figure:
/// 3 x (2 x matrix parameters a token uses + attention scores over the full sequence, without
/// the causal halving). Used for model_tflops_per_device and MFU.
[[nodiscard]] double training_model_flops_per_token(const models::model_spec& m,
                                                    std::int64_t sequence);

}  // namespace moesim::sim::run
