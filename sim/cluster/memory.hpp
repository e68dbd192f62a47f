#pragma once
// Memory accounting per device: what one device holds in HBM when a model is sharded by a
// parallel layout and runs a workload, as a list of named items with their bytes. Pure
// arithmetic on plain numbers (this layer does not know models/): sim/run describes the model
// (model_memory_shape), the layout and the workload, and asks for one pipeline stage's plan.
// Every device of a stage holds the same (EP, TP and DP shards are equal by construction).
//
// All formulas live in memory.cpp, each with its source:
// - weights: attention and dense FFNs split by TP (Megatron, Shoeybi et al. 2019) and
//   replicated over ep*dp; routed experts experts/ep per device, each split by TP when tp > 1;
//   shared experts like a dense FFN; norms and routers replicated; layers split evenly over the
//   pp stages; the embedding on the first stage and the LM head on the last, both split over
//   the vocabulary by TP (a tied embedding is kept on both ends when pp > 1, as Megatron does);
//   training adds the multi-token-prediction modules on the last stage (DeepSeek-V3 §2.2/3.2).
// - KV cache (inference): the replica's sequences x cached tokens x KV bytes per token and
//   layer x layers on the stage, split by TP over KV heads (not for MLA's shared latent).
// - activations (training): Korthikanti et al. 2022, "Reducing Activation Recomputation in
//   Large Transformer Models" (arXiv:2205.05198), 16-bit activations with sequence parallelism:
//   per layer and micro-batch s*b*h*(34 + 5*a*s/h)/t bytes without recomputation, the 5*a*s/h
//   term dropped by selective recomputation, only the layer input 2*s*b*h/t kept by full
//   recomputation; the FFN's share of the 34 (19*s*b*h for a 4h GeLU MLP) is generalised to the
//   model's real FFN (gated width, top_k routed copies, shared experts). The first 1F1B stage
//   holds pp micro-batches (stage i: pp - i), times 1 + (pp-1)/(pp*vp) when interleaved.
// - optimizer (training): mixed-precision Adam, fp32 master weights + two fp32 moments = 12
//   bytes per parameter, plus fp32 or bf16 gradients (Rajbhandari et al. 2020, ZeRO, §3.1;
//   Megatron's distributed optimizer keeps fp32 main gradients). ZeRO-1 shards the optimizer
//   states over data-parallel ranks, ZeRO-2 also gradients, ZeRO-3 also weights; non-expert
//   parameters shard over their ep*dp replicas, routed experts over their dp replicas.
// - dispatch/combine buffers: tokens x top_k x capacity factor (1 when dropless) x hidden x
//   bytes, one send and one receive buffer, reused by combine and by every layer.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moesim::sim::cluster {

/// Activation recomputation in training (Korthikanti et al. 2022): none keeps every
/// activation, selective recomputes the attention core (scores, softmax, dropout), full keeps
/// only each layer's input and recomputes the rest in the backward pass.
enum class recompute_mode { none, selective, full };

struct memory_item {
  std::string name;
  double bytes = 0;
};

struct memory_plan {
  int device = 0;  ///< lowest device index the plan describes (all of its stage hold the same)
  int stage = 0;   ///< pipeline stage, 0-based
  std::vector<memory_item> items;  ///< fixed order (weights, state, activations, buffers); no 0s
  double total_bytes = 0;          ///< sum of the items

  /// The n largest items, largest first; equal sizes keep the items' order. O(k log k) in
  /// the k items.
  [[nodiscard]] std::vector<memory_item> largest(std::size_t n) const;
};

/// What the accounting needs to know of a model: exact parameter counts (per layer where
/// said) and per-token sizes. sim/run fills it from models::model_spec.
struct model_memory_shape {
  std::int64_t hidden = 0;
  std::int64_t heads = 0;  ///< attention heads (the a of Korthikanti's 5*a*s/h)
  std::int64_t vocab = 0;
  std::int64_t attention_params = 0;   ///< one layer's attention projections (split by TP)
  std::int64_t norm_params = 0;        ///< one layer's norms (replicated over TP)
  std::int64_t final_norm_params = 0;  ///< after the last layer (last stage)
  std::int64_t dense_ffn_params = 0;   ///< one dense layer's FFN (split by TP)
  std::int64_t dense_ffn_hidden = 0;
  std::int64_t router_params = 0;  ///< one MoE layer's router (replicated over TP)
  std::int64_t expert_params = 0;  ///< one routed (or shared) expert
  std::int64_t expert_ffn_hidden = 0;
  std::int64_t experts = 0;  ///< routed experts per MoE layer; 0 for a dense model
  std::int64_t top_k = 0;
  std::int64_t shared_experts = 0;  ///< per MoE layer, each expert_params
  bool gated_ffn = true;            ///< swiglu/geglu: gate, up and down matrices
  std::int64_t embedding_params = 0;
  std::int64_t lm_head_params = 0;  ///< 0 when the embedding is tied
  /// One multi-token-prediction module without its transformer block (which is an MoE layer
  /// when the model has MoE layers) and without the embedding and head it shares.
  std::int64_t mtp_extra_params = 0;
  int mtp_modules = 0;
  double weight_bytes_per_param = 2;  ///< the model's dtype, as served
  double expert_bytes_per_param = 2;     ///< routed experts' stored format (int3: 0.375)
  double attention_bytes_per_param = 2;  ///< attention projections' stored format
  /// Routed expert weights held in HBM when experts are offloaded to the host (the expert
  /// cache, bytes per device); < 0: every routed expert of the device is resident.
  double resident_routed_expert_bytes = -1;
  double kv_bytes_per_token_layer = 0;
  std::int64_t kv_heads = 0;  ///< KV heads TP can split among ranks; 0: not split (MLA latent)
  double dispatch_bytes_per_value = 2;  ///< dtype of the token copies sent to experts
};

struct memory_layout {
  int tp = 1;
  int ep = 1;
  int dp = 1;
  int pp = 1;
  int vp = 1;  ///< virtual stages per device (interleaved 1F1B)
};

/// The layers one pipeline stage holds.
struct stage_layers {
  int stage = 0;
  int dense_layers = 0;
  int moe_layers = 0;
};

struct memory_workload {
  bool training = false;
  /// Sequences whose state a device holds: inference, every sequence of its model replica
  /// (the tp x pp devices of one data-parallel rank; sim/run/batch.hpp); training, the
  /// micro-batch of one data-parallel rank (Megatron's micro-batch size b).
  std::int64_t sequences = 1;
  /// Sequences of the passes in flight (inference: sequences / micro-batches, twice that when
  /// micro-batches overlap; training: sequences).
  std::int64_t pass_sequences = 1;
  /// Inference: tokens per sequence held in the KV cache at its fullest; training: the
  /// sequence length s.
  std::int64_t sequence_tokens = 0;
  /// Tokens of the passes a replica has in flight at once (decode: one per sequence of a pass;
  /// prefill and training: its sequences x sequence length; two passes when inference
  /// overlaps micro-batches); sizes the transient activations and buffers.
  std::int64_t tokens_per_pass = 0;
  std::int64_t micro_batches = 1;  ///< per training step
  recompute_mode recompute = recompute_mode::none;
  int zero_stage = 0;                   ///< 0..3
  double gradient_bytes_per_param = 4;  ///< fp32 main gradients (Megatron) or bf16 (2)
  double capacity_factor = 0;           ///< 0 = dropless
};

/// The plan of every device of stage `st.stage` (plan.device is set to 0; the caller knows
/// which device index the stage starts at). The inputs are assumed consistent (tp, ep, dp,
/// pp >= 1, ep divides experts); O(1).
[[nodiscard]] memory_plan plan_device_memory(const model_memory_shape& m, const memory_layout& l,
                                             const stage_layers& st, const memory_workload& w);

/// Activation bytes one token leaves stored in one layer for the backward pass, before the
/// TP split (Korthikanti et al. 2022, generalised FFN term; see memory.cpp). `sequence_tokens`
/// is s of the 5*a*s/h term.
[[nodiscard]] double activation_bytes_per_token(const model_memory_shape& m, bool moe_layer,
                                                std::int64_t sequence_tokens,
                                                double capacity_factor, recompute_mode r);

/// Bytes for people: three significant digits with a binary unit ("93.4 GiB", "1.23 TiB",
/// "512 MiB").
[[nodiscard]] std::string format_memory_bytes(double bytes);

}  // namespace moesim::sim::cluster
