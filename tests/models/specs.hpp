#pragma once
// Model specs built in C++ for the tests, mirroring models/presets/*.yaml value for value.
#include <string>
#include <utility>

#include "models/model_spec.hpp"
#include "models/router.hpp"

namespace moesim::test_specs {

using namespace moesim::models;

inline attention_spec gqa(int heads, int kv_heads, int head_dim) {
  attention_spec a;
  a.kind = heads == kv_heads ? attention_kind::mha : attention_kind::gqa;
  a.heads = heads;
  a.kv_heads = kv_heads;
  a.head_dim = head_dim;
  return a;
}

inline attention_spec mla(int heads) {
  attention_spec a;
  a.kind = attention_kind::mla;
  a.heads = heads;
  a.kv_heads = heads;
  a.head_dim = 192;
  a.q_lora_rank = 1536;
  a.kv_lora_rank = 512;
  a.qk_nope_head_dim = 128;
  a.qk_rope_head_dim = 64;
  a.v_head_dim = 128;
  return a;
}

inline moe_spec moe(int experts, int top_k, int ffn, int shared = 0, int first_k_dense = 0,
                    int every_n = 1) {
  moe_spec m;
  m.experts = experts;
  m.top_k = top_k;
  m.expert_ffn_hidden = ffn;
  m.shared_experts = shared;
  m.first_k_dense = first_k_dense;
  m.every_n = every_n;
  return m;
}

inline model_spec base(std::string name, int layers, int hidden, int vocab, attention_spec a) {
  model_spec s;
  s.name = std::move(name);
  s.layers = layers;
  s.hidden = hidden;
  s.vocab = vocab;
  s.attention = a;
  return s;
}

inline model_spec mixtral_8x7b() {
  model_spec s = base("mixtral-8x7b", 32, 4096, 32000, gqa(32, 8, 128));
  s.moe = moe(8, 2, 14336);
  return s;
}

inline model_spec deepseek_v3() {
  model_spec s = base("deepseek-v3", 61, 7168, 129280, mla(128));
  s.dtype = weight_dtype::fp8;
  s.dense_ffn_hidden = 18432;
  s.mtp_modules = 1;
  s.moe = moe(256, 8, 2048, 1, 3);
  s.moe->router = {router_scoring::sigmoid, true, 2.5, 8, 4, true};
  return s;
}

/// DeepSeek-V3's router: 256 experts, top-8, sigmoid, groups 8 keep 4, scaling 2.5.
inline router_config deepseek_router() {
  return router_config_for(*deepseek_v3().moe);
}

}  // namespace moesim::test_specs
