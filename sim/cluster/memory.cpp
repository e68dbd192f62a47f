#include "sim/cluster/memory.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace moesim::sim::cluster {

namespace {

// Korthikanti et al. 2022 count activations in 16-bit floats.
constexpr double activation_value_bytes = 2;
// Mixed-precision Adam: fp32 master weights + first and second moments (ZeRO §3.1, K = 12).
constexpr double adam_state_bytes_per_param = 12;
// Logits for the cross-entropy are kept in fp32 (Korthikanti et al. 2022 §4.3: 4*s*b*v/t).
constexpr double logit_bytes = 4;

// Values one FFN of width f keeps per token after its input: the first matrix's outputs and
// the activation's output that feeds the down projection. A 4h GeLU MLP gives 2*4h + 2*4h =
// 16h, Korthikanti's 19h MLP term less its input (2h) and dropout mask (h). Gated FFNs keep the
// gate and up outputs and their product (3 x 2f bytes).
double ffn_inner_bytes(const model_memory_shape& m, std::int64_t ffn_hidden) {
  return (m.gated_ffn ? 3 : 2) * activation_value_bytes * static_cast<double>(ffn_hidden);
}

double routed_copies_per_token(const model_memory_shape& m, double capacity_factor) {
  return static_cast<double>(m.top_k) * (capacity_factor > 0 ? capacity_factor : 1.0);
}

struct device_params {
  double attention = 0;
  double norms_routers = 0;
  double dense_ffn = 0;
  double routed_experts = 0;
  double shared_experts = 0;

  [[nodiscard]] double non_expert() const {
    return attention + norms_routers + dense_ffn + shared_experts;
  }
  [[nodiscard]] double all() const { return non_expert() + routed_experts; }
};

// Parameters of `dense` dense and `moe` MoE layers held by one device.
device_params layer_params_on_device(const model_memory_shape& m, const memory_layout& l, int dense,
                                     int moe) {
  const double tp = l.tp;
  const double layers = dense + moe;
  device_params p;
  p.attention = layers * static_cast<double>(m.attention_params) / tp;
  p.norms_routers =
      layers * static_cast<double>(m.norm_params) + moe * static_cast<double>(m.router_params);
  p.dense_ffn = dense * static_cast<double>(m.dense_ffn_params) / tp;
  if (m.experts > 0) {
    const double local_experts = static_cast<double>(m.experts / l.ep);
    p.routed_experts = moe * local_experts * static_cast<double>(m.expert_params) / tp;
    p.shared_experts = moe * static_cast<double>(m.shared_experts * m.expert_params) / tp;
  }
  return p;
}

// 1F1B keeps the activations of pp - stage micro-batches on a stage (the first holds pp), no
// more than the step has; interleaving adds 1 + (pp-1)/(pp*vp) (Narayanan et al. 2021, as
// Korthikanti et al. 2022 §4.2.3 apply it to the first stage).
double micro_batches_in_flight(const memory_layout& l, const stage_layers& st,
                               const memory_workload& w) {
  const double held = static_cast<double>(std::min<std::int64_t>(l.pp - st.stage, w.micro_batches));
  if (l.vp <= 1 || l.pp <= 1) return held;
  return held * (1.0 + static_cast<double>(l.pp - 1) / (static_cast<double>(l.pp) * l.vp));
}

void add(memory_plan& plan, std::string name, double bytes) {
  if (bytes <= 0) return;
  plan.items.push_back({std::move(name), bytes});
  plan.total_bytes += bytes;
}

}  // namespace

std::vector<memory_item> memory_plan::largest(std::size_t n) const {
  std::vector<memory_item> sorted = items;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const memory_item& a, const memory_item& b) { return a.bytes > b.bytes; });
  if (sorted.size() > n) sorted.resize(n);
  return sorted;
}

double activation_bytes_per_token(const model_memory_shape& m, bool moe_layer,
                                  std::int64_t sequence_tokens, double capacity_factor,
                                  recompute_mode r) {
  const double h = static_cast<double>(m.hidden);
  // Full recomputation keeps the layer input only: 2*s*b*h.
  if (r == recompute_mode::full) return activation_value_bytes * h;
  // Attention block 11h (QKV input 2h, Q and K 4h, V 2h, projection input 2h, dropout mask h)
  // and the two layer norms' inputs 4h.
  double bytes = 15 * h;
  // Attention scores: softmax output 2as, its dropout mask as, dropout output 2as, per token.
  if (r == recompute_mode::none) {
    bytes += 5 * static_cast<double>(m.heads) * static_cast<double>(sequence_tokens);
  }
  // FFN: its input 2h and dropout mask h (19h in all for a 4h GeLU MLP).
  bytes += 3 * h;
  if (!moe_layer) return bytes + ffn_inner_bytes(m, m.dense_ffn_hidden);
  // MoE: each routed copy keeps its dispatched input and the expert's output (the combine's
  // gate-weight gradient needs it) besides the expert FFN's own values; shared experts read
  // the layer's FFN input.
  const double per_copy = 2 * activation_value_bytes * h + ffn_inner_bytes(m, m.expert_ffn_hidden);
  bytes += routed_copies_per_token(m, capacity_factor) * per_copy;
  bytes += static_cast<double>(m.shared_experts) * ffn_inner_bytes(m, m.expert_ffn_hidden);
  return bytes;
}

memory_plan plan_device_memory(const model_memory_shape& m, const memory_layout& l,
                               const stage_layers& st, const memory_workload& w) {
  memory_plan plan;
  plan.stage = st.stage;
  const bool first = st.stage == 0;
  const bool last = st.stage == l.pp - 1;
  const double tp = l.tp;
  const bool has_moe = m.experts > 0;

  // --- Parameters on this device, by kind (before any ZeRO sharding).
  device_params p = layer_params_on_device(m, l, st.dense_layers, st.moe_layers);
  // Embedding and LM head are split over the vocabulary by TP (Megatron's vocab-parallel
  // embedding); a tied embedding is kept on the last stage too when the ends differ.
  const bool tied = m.lm_head_params == 0;
  const double embedding = first ? static_cast<double>(m.embedding_params) / tp : 0;
  double lm_head = 0;
  if (last)
    lm_head = static_cast<double>(tied ? (first ? 0 : m.embedding_params) : m.lm_head_params) / tp;
  if (last) p.norms_routers += static_cast<double>(m.final_norm_params);
  // MTP modules train with the model and sit on the last stage with the head they share
  // (DeepSeek-V3 §2.2, §3.2.1); inference here does not run them.
  device_params mtp;
  if (w.training && last && m.mtp_modules > 0) {
    mtp = layer_params_on_device(m, l, has_moe ? 0 : 1, has_moe ? 1 : 0);
    mtp.norms_routers += static_cast<double>(m.mtp_extra_params);
    const double k = m.mtp_modules;
    mtp = {k * mtp.attention, k * mtp.norms_routers, k * mtp.dense_ffn, k * mtp.routed_experts,
           k * mtp.shared_experts};
  }

  // --- Weights. Inference stores the model's dtype; mixed-precision training keeps 16-bit
  // working weights at least (fp8 GEMMs cast from them: DeepSeek-V3 §3.3), ZeRO-3 shards them.
  const double wb = w.training ? std::max(m.weight_bytes_per_param, 2.0) : m.weight_bytes_per_param;
  const double non_expert_replicas = static_cast<double>(l.ep) * l.dp;
  const double expert_replicas = l.dp;
  const bool zero3 = w.training && w.zero_stage >= 3;
  const double ne_shard = zero3 ? non_expert_replicas : 1;
  const double ex_shard = zero3 ? expert_replicas : 1;
  auto stored = [&](double bytes) { return w.training ? std::max(bytes, 2.0) : bytes; };
  if (m.resident_routed_expert_bytes >= 0) {
    add(plan, "expert cache (offloaded experts)", m.resident_routed_expert_bytes);
  } else {
    add(plan, "routed expert weights",
        p.routed_experts * stored(m.expert_bytes_per_param) / ex_shard);
  }
  add(plan, "shared expert weights", p.shared_experts * wb / ne_shard);
  add(plan, "attention weights", p.attention * stored(m.attention_bytes_per_param) / ne_shard);
  add(plan, "dense FFN weights", p.dense_ffn * wb / ne_shard);
  add(plan, "embedding", embedding * wb / ne_shard);
  add(plan, "LM head", lm_head * wb / ne_shard);
  add(plan, "norms and routers", p.norms_routers * wb / ne_shard);
  add(plan, "MTP module weights",
      (mtp.non_expert() / ne_shard + mtp.routed_experts / ex_shard) * wb);

  if (w.training) {
    // --- Gradients and optimizer states, sharded over data-parallel replicas by ZeRO.
    const double non_expert = p.non_expert() + embedding + lm_head + mtp.non_expert();
    const double expert = p.routed_experts + mtp.routed_experts;
    auto sharded = [&](int from_stage) {
      const bool on = w.zero_stage >= from_stage;
      return non_expert / (on ? non_expert_replicas : 1) + expert / (on ? expert_replicas : 1);
    };
    add(plan, "gradients", sharded(2) * w.gradient_bytes_per_param);
    add(plan, "optimizer states", sharded(1) * adam_state_bytes_per_param);

    // --- Activations of the micro-batches in flight, split by TP (sequence parallelism).
    const double s = static_cast<double>(w.sequence_tokens);
    const double b = static_cast<double>(w.sequences);
    const double per_token =
        st.dense_layers * activation_bytes_per_token(m, false, w.sequence_tokens, w.capacity_factor,
                                                     w.recompute) +
        st.moe_layers *
            activation_bytes_per_token(m, true, w.sequence_tokens, w.capacity_factor, w.recompute);
    add(plan, "activations", s * b * per_token / tp * micro_batches_in_flight(l, st, w));
    // The last stage runs one micro-batch's loss at a time.
    if (last) add(plan, "logits", logit_bytes * s * b * static_cast<double>(m.vocab) / tp);
  } else {
    // --- KV cache of this stage's layers; TP splits KV heads (replicating them when it has
    // more ranks than heads), never MLA's one shared latent.
    const double kv_split =
        m.kv_heads > 0 ? static_cast<double>(std::min<std::int64_t>(l.tp, m.kv_heads)) : 1;
    add(plan, "KV cache",
        static_cast<double>(w.sequences) * static_cast<double>(w.sequence_tokens) *
            m.kv_bytes_per_token_layer * (st.dense_layers + st.moe_layers) / kv_split);
    // Transient activations of the one layer in flight: nothing is kept for a backward pass,
    // and fused (flash) attention never materialises the scores, so the selective count.
    double per_token = 0;
    if (st.dense_layers > 0) {
      per_token = activation_bytes_per_token(m, false, w.sequence_tokens, w.capacity_factor,
                                             recompute_mode::selective);
    }
    if (st.moe_layers > 0) {
      per_token = std::max(per_token,
                           activation_bytes_per_token(m, true, w.sequence_tokens, w.capacity_factor,
                                                      recompute_mode::selective));
    }
    add(plan, "activations", static_cast<double>(w.tokens_per_pass) * per_token / tp);
    // One next-token distribution per sequence of the pass.
    if (last) {
      add(plan, "logits",
          logit_bytes * static_cast<double>(w.pass_sequences) * static_cast<double>(m.vocab) / tp);
    }
  }

  // --- Dispatch/combine buffers: a send and a receive buffer of every routed copy at capacity
  // (dropless: the mean load; imbalance is only known once routed), reused by every layer.
  if (has_moe && l.ep > 1 && (st.moe_layers > 0 || (w.training && last && m.mtp_modules > 0))) {
    const double copies =
        static_cast<double>(w.tokens_per_pass) / tp * routed_copies_per_token(m, w.capacity_factor);
    add(plan, "dispatch/combine buffers",
        2 * copies * static_cast<double>(m.hidden) * m.dispatch_bytes_per_value);
  }
  return plan;
}

std::string format_memory_bytes(double bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  std::size_t u = 0;
  double v = bytes;
  while (std::abs(v) >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  if (u == 0) return fmt::format("{:.0f} B", v);
  const int decimals = std::abs(v) < 10 ? 2 : std::abs(v) < 100 ? 1 : 0;
  return fmt::format("{:.{}f} {}", v, decimals, units[u]);
}

}  // namespace moesim::sim::cluster
