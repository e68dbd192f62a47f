#pragma once
// How a model's layers are cut into pp x vp model chunks (chunk c runs on stage c mod pp, layer
// ranges by chunk_layer_range), and which layers are MoE layers. The last chunk of a training
// run also carries the multi-token-prediction modules (DeepSeek-V3 s2.2), numbered after the
// main layers; an MTP module's block is an MoE layer.
#include <vector>

#include "models/model_params.hpp"
#include "sim/run/layout.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::sim::run {

struct model_chunks {
  model_chunks(const scenario& s, bool is_training)
      : model(&s.model),
        pp(s.parallelism.pp),
        chunks(s.parallelism.pp * s.parallelism.vp),
        training(is_training) {}

  [[nodiscard]] int stage_of(int model_chunk) const { return model_chunk % pp; }
  [[nodiscard]] bool is_moe(int layer) const {
    if (!model->moe) return false;
    return layer >= model->layers || models::is_moe_layer(*model, layer);
  }
  /// Layers of a model chunk in forward order. O(layers of the chunk).
  [[nodiscard]] std::vector<int> layers(int model_chunk) const {
    std::vector<int> out;
    const auto [first, last] = chunk_layer_range(model->layers, chunks, model_chunk);
    for (int l = first; l < last; ++l) out.push_back(l);
    if (training && model_chunk == chunks - 1) {
      for (int i = 0; i < model->mtp_modules; ++i) out.push_back(model->layers + i);
    }
    return out;
  }

  const models::model_spec* model;
  int pp;
  int chunks;
  bool training;
};

}  // namespace moesim::sim::run
