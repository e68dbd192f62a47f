#pragma once
// Model specs built in C++ for the tests, mirroring models/presets/*.yaml value for value.
#include <string>
#include <vector>
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

inline model_spec mixtral_8x22b() {
  model_spec s = base("mixtral-8x22b", 56, 6144, 32000, gqa(48, 8, 128));
  s.moe = moe(8, 2, 16384);
  return s;
}
inline model_spec qwen3_235b() {
  model_spec s = base("qwen3-235b-a22b", 94, 4096, 151936, gqa(64, 4, 128));
  s.moe = moe(128, 8, 1536);
  return s;
}
inline model_spec qwen3_30b() {
  model_spec s = base("qwen3-30b-a3b", 48, 2048, 151936, gqa(32, 4, 128));
  s.moe = moe(128, 8, 768);
  return s;
}
inline model_spec switch_c() {
  model_spec s = base("switch-c", 30, 2080, 32128, gqa(30, 30, 64));
  s.activation = ffn_activation::relu;
  s.tie_embeddings = true;
  s.moe = moe(2048, 1, 6144);
  s.moe->router.normalize_top_k = false;
  return s;
}
inline model_spec gshard_600b() {
  model_spec s = base("gshard-600b", 36, 1024, 64000, gqa(16, 16, 64));
  s.activation = ffn_activation::relu;
  s.dense_ffn_hidden = 8192;
  s.tie_embeddings = true;
  s.moe = moe(2048, 2, 8192, 0, 0, 2);
  return s;
}
inline model_spec glam() {
  model_spec s = base("glam", 64, 8192, 256000, gqa(128, 128, 128));
  s.activation = ffn_activation::gelu;
  s.dense_ffn_hidden = 32768;
  s.moe = moe(64, 2, 32768, 0, 1, 2);
  return s;
}
inline model_spec kimi_k2() {
  model_spec s = base("kimi-k2", 61, 7168, 163840, mla(64));
  s.dtype = weight_dtype::fp8;
  s.dense_ffn_hidden = 18432;
  s.moe = moe(384, 8, 2048, 1, 1);
  s.moe->router = {router_scoring::sigmoid, true, 2.827, 1, 1, true};
  return s;
}
inline model_spec grok_1() {
  model_spec s = base("grok-1", 64, 6144, 131072, gqa(48, 8, 128));
  s.dtype = weight_dtype::int8;
  s.activation = ffn_activation::geglu;
  s.tie_embeddings = true;
  s.moe = moe(8, 2, 32768);
  s.moe->router.normalize_top_k = false;
  return s;
}
inline model_spec olmoe() {
  model_spec s = base("olmoe-1b-7b", 16, 2048, 50304, gqa(16, 16, 128));
  s.moe = moe(64, 8, 1024);
  s.moe->router.normalize_top_k = false;
  return s;
}
inline model_spec gemini_moe() {
  model_spec s = base("gemini-moe", 48, 6144, 256000, gqa(48, 8, 128));
  s.activation = ffn_activation::geglu;
  s.tie_embeddings = true;
  s.moe = moe(64, 2, 5120);
  return s;
}
inline model_spec dense_13b() {
  model_spec s = base("dense-13b", 40, 5120, 32000, gqa(40, 40, 128));
  s.dense_ffn_hidden = 13824;
  return s;
}
inline model_spec draft_1b() {
  model_spec s = base("draft-1b", 16, 2048, 128256, gqa(32, 8, 64));
  s.dense_ffn_hidden = 8192;
  s.tie_embeddings = true;
  return s;
}


/// Every model preset, built in C++ value for value (tests/run/presets_test.cpp checks the YAML
/// files against these).
inline std::vector<model_spec> all_preset_specs() {
  return {mixtral_8x7b(), mixtral_8x22b(), deepseek_v3(), qwen3_235b(), qwen3_30b(),
          switch_c(),     gshard_600b(),   glam(),        kimi_k2(),    grok_1(),
          olmoe(),        gemini_moe(),    dense_13b(),   draft_1b()};
}

}  // namespace moesim::test_specs
