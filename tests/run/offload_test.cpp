// Expert offloading (sim/run/expert_offload.hpp): the cache's eviction on hand-solved
// sequences, a fetch over an idle PCIe link, the host CPU's time for an expert, the stored
// weight formats, and that a scenario without `offload:` reports nothing of it.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "models/model_params.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/run/expert_offload.hpp"
#include "sim/run/op_costs.hpp"
#include "sim/run/simulate.hpp"
#include "tests/run/run_text.hpp"

using namespace moesim;
using sim::run::expert_cache;
using sim::run::offload_policy;

namespace {

// A small Mixtral-shaped MoE (8 experts, top-2) on one T4 of the Colab machine.
std::string small_moe_on_t4(const std::string& extra) {
  return R"(name: t
seed: 3
model:
  name: small-moe
  source: "test"
  layers: 4
  hidden: 1024
  vocab: 32000
  dtype: fp16
  activation: swiglu
  attention: {kind: gqa, heads: 8, kv_heads: 2, head_dim: 128}
  moe: {experts: 8, top_k: 2, expert_ffn_hidden: 3584, router: {scoring: softmax, normalize_top_k: true}}
cluster: {preset: colab-t4}
network: {model: flow}
workload: {kind: decode, batch_per_device: 1, context: 64, steps: 4}
)" + extra;
}

}  // namespace

TEST_CASE("LRU evicts the least recently used expert, never a pinned one", "[offload]") {
  expert_cache c(2, offload_policy::lru);
  bool in = false;
  CHECK(c.insert(1, {}, &in) == -1);
  CHECK(in);
  CHECK(c.insert(2, {}, &in) == -1);
  c.touch(1);                        // 2 is now the least recent
  CHECK(c.insert(3, {}, &in) == 2);  // {1, 3}
  CHECK(c.contains(1));
  CHECK_FALSE(c.contains(2));
  const std::vector<std::int64_t> pinned{1, 3};
  CHECK(c.insert(4, pinned, &in) == -1);  // both residents in use: streams, not cached
  CHECK_FALSE(in);
  CHECK_FALSE(c.contains(4));
  CHECK(c.insert(4, std::vector<std::int64_t>{3}, &in) == 1);  // {3, 4}
  CHECK(in);
  expert_cache none(0, offload_policy::lru);
  CHECK(none.insert(1, {}, &in) == -1);
  CHECK_FALSE(in);
}

TEST_CASE("LFU evicts the least used expert, ties to the least recent", "[offload]") {
  expert_cache c(3, offload_policy::lfu);
  bool in = false;
  c.insert(1, {}, &in);              // uses 1
  c.insert(2, {}, &in);              // uses 1
  c.insert(3, {}, &in);              // uses 1
  c.touch(1);                        // 1: 2 uses
  c.touch(1);                        // 1: 3 uses
  c.touch(3);                        // 3: 2 uses; 2 has 1
  CHECK(c.insert(4, {}, &in) == 2);  // {1:3, 3:2, 4:1}
  c.touch(4);                        // 4: 2 uses, more recent than 3
  CHECK(c.insert(5, {}, &in) == 3);  // 3 and 4 tie at 2 uses: 3 is the least recent
  CHECK(c.contains(1));
  CHECK(c.contains(4));
  CHECK(c.contains(5));
}

TEST_CASE("stored weight formats: bytes per parameter", "[offload]") {
  CHECK(models::bytes_per_param(models::weight_dtype::int3) == 0.375);
  CHECK(models::bytes_per_param(models::weight_dtype::int2) == 0.25);
  CHECK(models::parse_weight_dtype("int3") == models::weight_dtype::int3);
  const auto set = io::load_scenario_text(
      small_moe_on_t4("precision: {expert_weights: int3, attention_weights: int4}\n"), "test.yaml");
  const models::model_spec& m = set.base.model;
  CHECK(models::expert_bytes_per_param(m) == 0.375);
  CHECK(models::attention_bytes_per_param(m) == 0.5);
  // Decode of one token through one expert: the weights stream at 3 bits, the maths at fp16's
  // rate is the same count.
  sim::run::pass_shape p;
  p.tokens = 1;
  p.sequences = 1;
  const auto quantised = sim::run::expert_cost(m, p, 1, 1);
  models::model_spec plain = m;
  plain.expert_dtype.reset();
  const auto full = sim::run::expert_cost(plain, p, 1, 1);
  const double params = static_cast<double>(models::expert_params(m));
  CHECK(full.flops == quantised.flops);
  CHECK(full.bytes - quantised.bytes == Approx(params * (2.0 - 0.375)));
}

TEST_CASE("a missed expert's fetch over an idle PCIe link", "[offload]") {
  // No cache: each of the 4 layers fetches its 2 active experts (batch 1, top-2) at once over
  // the T4's Gen3 link at its pinned copy rate, 12.2 GB/s (one hop, 1 us), sharing it:
  // 2 x expert bytes / 12.2 GB/s + 1 us.
  const auto base = test::run_text(small_moe_on_t4(""));
  const auto r = test::run_text(small_moe_on_t4("offload: {cache_experts_per_layer: 0}\n"));
  REQUIRE(r.offload);
  CHECK_FALSE(base.offload);
  const double expert = 3.0 * 1024 * 3584 * 2;  // gated: three matrices, fp16
  const double per_layer = 2 * expert / 12.2e9 + 1e-6;
  CHECK(r.offload->hit_rate == 0);
  CHECK(r.offload->bytes_fetched == Approx(4 * 4 * 2 * expert));
  // Each layer's experts wait for the fetch less the dispatch's own (local) time.
  CHECK(r.offload->stall_s == Approx(4 * per_layer).epsilon(0.01));
  CHECK(r.step_time_s - base.step_time_s == Approx(r.offload->stall_s).epsilon(0.01));
}

TEST_CASE("a cache holding every expert changes nothing", "[offload]") {
  // The caches start full, so every expert hits, nothing is fetched, and the step is the one
  // without offloading, to the picosecond.
  const auto base = test::run_text(small_moe_on_t4(""));
  const auto r = test::run_text(small_moe_on_t4("offload: {cache_experts_per_layer: 8}\n"));
  REQUIRE(r.offload);
  CHECK(r.offload->hit_rate == 1);
  CHECK(r.offload->bytes_fetched == 0);
  CHECK(r.offload->stall_s == 0);
  CHECK(r.offload->per_layer.size() == 4);
  CHECK(r.step_time_s == base.step_time_s);
  CHECK(r.tokens_per_s == base.tokens_per_s);
}

TEST_CASE("host CPU time of an expert at batch 1", "[offload]") {
  const auto set =
      io::load_scenario_text(small_moe_on_t4("precision: {expert_weights: int2}\n"), "test.yaml");
  const topo::host_cpu_spec& cpu = *set.base.cluster.host;
  // Colab host (one core): 70.4 GFLOP/s, 10 GB/s. One token: 2 x 11.01M FLOPs / 70.4 GFLOP/s
  // = 3.13e-4 s against 2.75 MB / 10 GB/s = 2.75e-4 s of DRAM: this one core is compute-bound.
  const double params = 3.0 * 1024 * 3584;
  CHECK(sim::run::host_expert_seconds(set.base, cpu, 1) == Approx(2 * params / 70.4e9));
  // The 48-core Skylake host: 6.14 TFLOP/s, 200 GB/s; at one token the DRAM bound rules.
  topo::host_cpu_spec big = cpu;
  big.fp32_flops_per_s = 6.14e12;
  big.dram_bytes_per_s = 200e9;
  CHECK(sim::run::host_expert_seconds(set.base, big, 1) == Approx(params * 0.25 / 200e9));
  // 64 tokens on the big host: 64 x 2 x 11.01M / 6.14e12 = 2.30e-4 s > 1.38e-5 s: compute.
  CHECK(sim::run::host_expert_seconds(set.base, big, 64) == Approx(64 * 2 * params / 6.14e12));
}

TEST_CASE("misses on the host CPU", "[offload]") {
  const auto r =
      test::run_text(small_moe_on_t4("offload: {cache_experts_per_layer: 2, miss: cpu}\n"));
  REQUIRE(r.offload);
  CHECK(r.offload->bytes_fetched == 0);  // nothing is ever fetched: the loaded experts stay
  CHECK(r.offload->hit_rate < 1);
  CHECK(r.offload->cpu_share == Approx(1 - r.offload->hit_rate));
  CHECK(r.offload->cpu_busy_s > 0);
}
