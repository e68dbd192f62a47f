#pragma once
// Recorded routing: the experts chosen for each token of each MoE layer, to replay in place of
// the router (e.g. dumps of a real model served by vLLM or SGLang, converted to this format).
//
// JSON (one object; key order free; unknown keys are errors):
//   {
//     "format": "moesim.routing_trace", "version": 1,
//     "generated_by": "who or what made it",    optional string
//     "model": "deepseek-v3",                    optional string
//     "experts": 256,                            required, routed experts per layer
//     "top_k": 8,                                optional, informative (0 or absent: unknown)
//     "layers": [                                one entry per recorded MoE layer
//       { "layer": 3,                            the layer's index in the model
//         "topk_ids": [[12, 45, 7, ...], ...],   per token, its experts, best first
//         "topk_weights": [[0.31, ...], ...] }   optional, same shape: combine weights
//     ]
//   }
// "topk_ids"/"topk_weights" follow the names of the fused-MoE kernels of vLLM and SGLang;
// models/trace_convert.hpp makes traces from those engines' expert-distribution records.
//
// Replay (sampling.routing_trace) checks the layers against the model: check_trace_layers,
// and every routed layer recorded unless the scenario asks for reuse (unrecorded_layers).
//
// CSV (header required; '#' lines before it carry the metadata as "# key: value", keys
// generated_by, model, experts, top_k):
//   # experts: 256
//   layer,token,expert_ids,scores
//   3,0,12 45 7 200 1 9 30 31,0.31 0.22 0.2 0.1 0.05 0.05 0.04 0.03
//   3,1,8 9 10 11 12 13 14 15,
// expert_ids and scores are space-separated; scores may be empty (then weights are 1/count).
// Rows of one layer are contiguous, tokens numbered 0..n-1 in order.
//
// Read weights become both the routing's weights and scores. A token may list any number of
// distinct experts (0 included). Readers throw std::invalid_argument naming the layer, token
// (and CSV line) and what was expected.
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "models/routing.hpp"
#include "models/token_source_config.hpp"

namespace moesim::models {

struct model_spec;

struct routing_trace {
  std::string generated_by;
  std::string model;
  int experts = 0;
  int top_k = 0;
  std::vector<int> layer_ids;   ///< model layer index of each recorded layer
  std::vector<routing> layers;  ///< same size as layer_ids
  bool has_weights = true;      ///< false if the source had no weights/scores
};

[[nodiscard]] routing_trace read_routing_trace_json(std::istream& in);
[[nodiscard]] routing_trace read_routing_trace_csv(std::istream& in);
/// By extension: .json or .csv. Throws std::invalid_argument if unreadable or malformed.
[[nodiscard]] routing_trace read_routing_trace(const std::filesystem::path& path);

/// Weights are written with 6 significant digits (omitted if !trace.has_weights).
void write_routing_trace_json(const routing_trace& trace, std::ostream& out);
void write_routing_trace_csv(const routing_trace& trace, std::ostream& out);

/// The layers a run routes, ascending: the model's MoE layers, then (with_mtp, as training
/// does) its multi-token-prediction modules, numbered after the main layers. O(layers).
[[nodiscard]] std::vector<int> routed_layers(const model_spec& spec, bool with_mtp);

/// Throws std::invalid_argument unless every layer the trace records is a layer of `spec`
/// that routes: an index below layers + mtp_modules, and not a dense layer. `name` names the
/// trace in the message ("routing trace x.json records layer 64, but ...").
void check_trace_layers(const routing_trace& trace, const model_spec& spec,
                        const std::string& name);

/// Of routed_layers(spec, with_mtp), those the trace does not record. O(layers x recorded).
[[nodiscard]] std::vector<int> unrecorded_layers(const routing_trace& trace, const model_spec& spec,
                                                 bool with_mtp);

struct trace_generation {
  token_source_config source;  ///< hidden is the maths hidden size
  int sequences = 8;
  int tokens_per_sequence = 8;
  std::vector<int> layers;  ///< MoE layer indices to record
  std::uint64_t seed = 1;
};

/// A trace made by the generator: hidden states from token_source (stream
/// "trace.tokens"), one random gate per layer (stream "trace.gate", forked by layer index),
/// routed by the model's router. generated_by names the generator and its parameters.
[[nodiscard]] routing_trace generate_routing_trace(const model_spec& spec,
                                                   const trace_generation& gen);

}  // namespace moesim::models
