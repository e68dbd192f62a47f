#pragma once
// Routing traces from the expert-distribution records of serving engines. Their own dumps are
// torch.save files (zip + pickle), so this reads the JSON a one-line Python export of them
// gives: the same tensors, as nested lists, under the same field names (README: Routing
// traces has the one-liners).
//
// SGLang (python/sglang/srt/eplb/expert_distribution.py, --expert-distribution-recorder-mode):
//   stat      {"logical_count": [passes][layers][logical experts]}      counts per expert
//   per_pass  {"records": [{"global_physical_count": [layers][physical]}, ...],
//              "last_physical_to_logical_map": [layers][physical]}    counts per expert
//   per_token {"records": [{"topk_ids_of_layer": [layers][tokens][k]}, ...],
//              "last_physical_to_logical_map": [layers][physical]}    each token's experts
//   Layers are the model's layer indices (dense layers hold zeros or -1); ids are physical
//   expert slots, mapped to the model's experts through last_physical_to_logical_map; -1 is
//   "no expert" (padding). Other keys of a record (input_ids, positions, ...) are ignored.
// vLLM (vllm/distributed/eplb/eplb_state.py, EplbModelState of an EPLB-enabled run):
//   {"expert_load_window": [window][moe layers][physical]}  or
//   {"expert_load_pass": [moe layers][physical]},
//   optionally with "physical_to_logical_map": [moe layers][physical] (absent: identity).
//   Layers are MoE-layer ordinals: ordinal i is the model's i-th MoE layer.
//
// Per-token records convert as recorded (tokens with no expert are dropped). Counts say how
// many tokens each expert took, not which experts a token took together, so `tokens` tokens
// per layer are synthesised: each expert's share of the layer's picks is exact (largest
// remainder), each token takes top_k distinct experts, and which experts share a token, and
// the order of tokens, are drawn at random (stream "trace.convert", forked by layer).
// generated_by says which of the two the trace holds.
//
// Every check throws std::invalid_argument naming the input, the field with its indices and
// what was expected: wrong shapes, negative or non-integer counts, expert ids or map entries
// out of range, layers beyond the model, counts that are not top_k picks per token.
#include <cstdint>
#include <iosfwd>
#include <string>

#include "models/model_spec.hpp"
#include "models/routing_trace.hpp"

namespace moesim::models {

enum class dump_source { vllm, sglang };

struct trace_conversion {
  dump_source from = dump_source::sglang;
  std::string origin;  ///< the input's name, for messages and generated_by
  /// Tokens per layer in the trace: synthesised from counts (0: the recorded tokens, at most
  /// 4096), or the first ones of a per-token record (0: all).
  int tokens = 0;
  std::uint64_t seed = 1;
};

/// The trace the dump records, for model `spec` (which must have MoE layers). O(input).
[[nodiscard]] routing_trace convert_expert_dump(std::istream& in, const model_spec& spec,
                                                const trace_conversion& opt);

}  // namespace moesim::models
