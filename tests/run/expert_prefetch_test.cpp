// Expert offloading under serving, and policy prefetch (expert_prefetch.hpp): a prediction of
// accuracy 1 turns the verification's misses into hits with nothing wasted, accuracy 0
// fetches only experts the verification does not use, the prompt predictor ranks by the
// context's routing, and the caches persist across serving iterations.
#include "sim/run/expert_prefetch.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/simulate.hpp"
#include "tests/run/run_text.hpp"

using namespace moesim;

namespace {

/// Mixtral with `format` experts offloaded on one A5000 (an LRU cache of `cache` experts per
/// layer), `batch` requests decoding together with draft-1b, policy `policy` at k 3.
std::string offloaded(int batch, const std::string& policy, const std::string& extra = "",
                      int cache = 4, const std::string& format = "int4") {
  const std::string b = std::to_string(batch);
  return R"(name: prefetch
seed: 7
model: {preset: mixtral-8x7b}
cluster: {preset: workstation-a5000}
network: {model: flow}
parallelism: {ep: 1}
moe: {capacity_factor: 0}
sampling: {tokens_per_step: 256, math_hidden: 32}
precision: {expert_weights: )" +
         format + R"(}
offload: {cache_experts_per_layer: )" +
         std::to_string(cache) + R"(, policy: lru}
workload:
  kind: serve
  serve:
    arrivals: {process: closed, concurrency: )" +
         b + R"(}
    requests: )" +
         b + R"(
    prompt: {dist: fixed, tokens: 128}
    output: {dist: fixed, tokens: 24}
    scheduler: {max_running: )" +
         b + R"(, token_budget: 1024}
    speculative:
      drafter: draft_model
      draft_model: draft-1b
      k: 3
      acceptance: [0.775, 0.37]
      reading: marginal
      acceptance_source: "vLLM PR #41044 (DeepSeek-V3 MTP), a stand-in"
      policy: )" +
         policy + "\n" + extra;
}

}  // namespace

TEST_CASE("offloading runs under serving: the caches persist across iterations", "[prefetch]") {
  const auto plain = test::run_text(offloaded(1, "none"));
  REQUIRE(plain.offload);
  REQUIRE(plain.speculative);
  // Every iteration is one pass; a cache that forgot its experts between iterations would
  // miss on every expert beyond the first pass's loaded ones (a hit rate near 4/8 x the
  // chance of a loaded expert). Persisting, an LRU of 4 of 8 per layer hits about half.
  CHECK(plain.offload->hit_rate > 0.3);
  CHECK(plain.offload->hit_rate < 0.8);
  CHECK(plain.offload->bytes_fetched > 0);
  CHECK(plain.speculative->offloaded);
  CHECK(plain.speculative->full_batch_fetched_bytes_per_token > 0);
  // Every expert cached: nothing fetched, every lookup a hit.
  const auto all = test::run_text(offloaded(1, "none", "", 8, "int2"));
  CHECK(all.offload->hit_rate == 1.0);
  CHECK(all.offload->bytes_fetched == 0.0);
}

TEST_CASE("naive speculation under offloading fetches more per token than plain decoding",
          "[prefetch]") {
  const auto plain = test::run_text(offloaded(1, "none"));
  const auto naive = test::run_text(offloaded(1, "naive"));
  REQUIRE(naive.speculative);
  // k + 1 = 4 verified tokens touch more of each layer's experts than one token does.
  CHECK(naive.speculative->unique_experts_verify > 1.5 * naive.speculative->unique_experts_plain);
  CHECK(naive.speculative->full_batch_fetched_bytes_per_token >
        plain.speculative->full_batch_fetched_bytes_per_token);
}

TEST_CASE("prefetch with accuracy 1 turns the verification's misses into hits", "[prefetch]") {
  // 7 of 8 experts a layer cached: the verification's 4 tokens rarely need more.
  const auto naive = test::run_text(offloaded(1, "naive", "", 7, "int2"));
  const auto exact =
      test::run_text(offloaded(1, "prefetch", "      prefetch_accuracy: 1\n", 7, "int2"));
  REQUIRE(exact.speculative);
  const auto& f = exact.speculative->mechanism;
  CHECK(f.prefetch_from == "draft");
  CHECK(f.prefetch_iterations > 0);
  CHECK(f.prefetch_predicted > 0);
  CHECK(f.prefetch_hit_rate == 1.0);
  CHECK(f.prefetch_coverage == 1.0);
  CHECK(f.prefetch_fetched_bytes > 0);
  CHECK(f.prefetch_wasted_bytes == 0.0);
  // Every expert a verification uses is in the cache (loaded or on the way) when its layer
  // looks, but in the rare layer whose 4 tokens use all 8 experts (7 fit): the full batch's
  // lookups hit where naive's miss.
  INFO("naive " << naive.speculative->full_batch_expert_hit_rate << " exact "
                << exact.speculative->full_batch_expert_hit_rate);
  CHECK(exact.speculative->full_batch_expert_hit_rate > 0.99);
  CHECK(naive.speculative->full_batch_expert_hit_rate < 0.95);
  // The same drafts verified and accepted: only the loads moved.
  CHECK(exact.speculative->mean_accepted_tokens == naive.speculative->mean_accepted_tokens);
  CHECK(exact.speculative->full_batch_tokens_per_s > naive.speculative->full_batch_tokens_per_s);
}

TEST_CASE("prefetch with accuracy 0 fetches only experts the verification does not use",
          "[prefetch]") {
  const auto wrong = test::run_text(offloaded(1, "prefetch", "      prefetch_accuracy: 0\n"));
  const auto naive = test::run_text(offloaded(1, "naive"));
  const auto& f = wrong.speculative->mechanism;
  CHECK(f.prefetch_predicted > 0);
  CHECK(f.prefetch_hit_rate == 0.0);
  CHECK(f.prefetch_coverage == 0.0);
  CHECK(f.prefetch_fetched_bytes > 0);
  CHECK(f.prefetch_wasted_bytes == f.prefetch_fetched_bytes);
  // The wasted loads take PCIe time from the demand fetches.
  CHECK(wrong.speculative->full_batch_tokens_per_s < naive.speculative->full_batch_tokens_per_s);
}

TEST_CASE("prefetch from the prompt predicts the context's most routed experts", "[prefetch]") {
  const auto prompt = test::run_text(offloaded(2, "prefetch", "      prefetch_from: prompt\n"));
  const auto& f = prompt.speculative->mechanism;
  CHECK(f.prefetch_from == "prompt");
  CHECK(f.prefetch_predicted > 0);
  CHECK(f.prefetch_hit_rate > 0);
  CHECK(f.prefetch_hit_rate <= 1);
  CHECK(f.prefetch_wasted_bytes <= f.prefetch_fetched_bytes);
}

TEST_CASE("the prompt predictor's count: experts uniform routing touches", "[prefetch]") {
  using sim::run::expected_experts_touched;
  // Mixtral, one device of 8 experts: 1 token touches 2, 4 tokens 8 (1 - (3/4)^4) = 5.47 -> 5.
  CHECK(expected_experts_touched(8, 8, 2, 1) == 2);
  CHECK(expected_experts_touched(8, 8, 2, 4) == 5);
  CHECK(expected_experts_touched(8, 8, 2, 1000) == 8);
  CHECK(expected_experts_touched(8, 8, 2, 0) == 0);
  // Two ranks of 4: a quarter token's share rounds up to the one expert at least.
  CHECK(expected_experts_touched(4, 8, 2, 0.1) == 1);
}
