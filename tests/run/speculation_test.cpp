// Speculative decoding through the serving loop: the expert union the verification tokens
// touch (the real router on uniform scores against E(1 - (1 - k/E)^T)), the drafter's time on
// the same devices, the draft weights in the memory plan, and the accepted tokens.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "sim/io/error.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/run/routing_sampler.hpp"
#include "sim/run/simulate.hpp"
#include "tests/run/run_text.hpp"

using namespace moesim;

namespace {

/// Expected distinct experts T tokens touch when each picks k of E uniformly at random.
double union_formula(double experts, double k, double tokens) {
  return experts * (1 - std::pow(1 - k / experts, tokens));
}

std::string serving(const std::string& model, const std::string& speculative,
                    const std::string& extra = "") {
  return R"(name: spec
seed: 7
model: {preset: )" +
         model + R"(}
cluster: {preset: dgx-h200, gpus_per_node: 1, gpus_per_host: 1}
network: {model: analytical}
parallelism: {ep: 1}
moe: {capacity_factor: 0}
sampling: {tokens_per_step: 256, math_hidden: 32, skew: 0}
workload:
  kind: serve
  serve:
    arrivals: {process: closed, concurrency: 4}
    requests: 8
    prompt: {dist: fixed, tokens: 256}
    output: {dist: fixed, tokens: 48}
    scheduler: {max_running: 4, token_budget: 1024}
)" + speculative +
         extra;
}

const std::string mtp_like = R"(    speculative:
      drafter: draft_model
      draft_model: draft-1b
      k: 3
      acceptance: [0.78, 0.37]
      reading: marginal
      acceptance_source: "vLLM PR #41044, DeepSeek MTP per-position rates"
)";

}  // namespace

TEST_CASE("the real router's expert union under uniform routing follows E(1-(1-k/E)^T)") {
  // Qwen3-30B-A3B: 128 experts, top-8, no group limit; skew 0 routes uniform random scores
  // (|N(0,1)| + 1, DeepEP's tests) through the model's router.
  const auto s = io::load_scenario_text(serving("qwen3-30b-a3b", ""), "u.yaml").base;
  for (const int tokens : {1, 2, 4, 8, 16, 64}) {
    sim::run::routing_sampler sampler(s, 1, 256, 1);
    double sum = 0;
    constexpr int passes = 400;
    for (int p = 0; p < passes; ++p) {
      const std::vector<std::int64_t> per_source{tokens};
      sum += sampler.route(0, p, 0, 1, per_source).unique_experts;
    }
    const double expected = union_formula(128, 8, tokens);
    INFO("tokens " << tokens << " mean " << sum / passes << " expected " << expected);
    // The standard error of the mean of 400 passes is below 0.3% of the union here.
    CHECK(sum / passes == Approx(expected).epsilon(0.01));
  }
}

TEST_CASE("verification routes each sequence's k + 1 tokens: the expert union grows") {
  const sim::run::run_result r = test::run_text(serving("mixtral-8x7b", mtp_like));
  REQUIRE(r.speculative);
  const auto& x = *r.speculative;
  CHECK(x.drafter == "draft_model");
  CHECK(x.k == 3);
  CHECK(x.verifications > 0);
  // Up to four sequences verify 4 tokens each: up to 16 tokens against up to 4 in plain
  // decoding (Mixtral, 8 experts top-2); iterations with fewer decoding sequences (one
  // prefilling, requests finishing) and a request's last steps (fewer drafts fit) pull both
  // means below the full batch's formula.
  CHECK(x.unique_experts_plain > union_formula(8, 2, 2));
  CHECK(x.unique_experts_plain <= union_formula(8, 2, 4) * 1.02);
  CHECK(x.unique_experts_verify > union_formula(8, 2, 8));
  CHECK(x.unique_experts_verify <= union_formula(8, 2, 16) * 1.02);
  // Acceptance as drawn: marginal 0.78 / 0.37 is conditional 0.78, 0.474, 0.474.
  REQUIRE(x.acceptance.size() == 3);
  CHECK(x.acceptance[1] == Approx(0.37 / 0.78));
  CHECK(x.mean_accepted_tokens > 1.5);
  CHECK(x.mean_accepted_tokens < 2.6);
  CHECK(x.draft_share > 0);
  CHECK(x.draft_share < 1);
}

TEST_CASE("one sequence verifies k + 1 tokens: union of 4 tokens against exactly top-k") {
  std::string text = serving("mixtral-8x7b", mtp_like);
  text.replace(text.find("concurrency: 4"), 14, "concurrency: 1");
  const sim::run::run_result r = test::run_text(text);
  REQUIRE(r.speculative);
  const auto& x = *r.speculative;
  // One token touches exactly its top-2 experts.
  CHECK(x.unique_experts_plain == 2);
  // Every verification has 3 drafts but a request's last one or two (fewer tokens left).
  CHECK(x.unique_experts_verify <= union_formula(8, 2, 4) * 1.03);
  CHECK(x.unique_experts_verify >= union_formula(8, 2, 3) * 0.97);
}

TEST_CASE("speculation emits the same tokens in fewer iterations, and ngram drafts for free") {
  const sim::run::run_result plain = test::run_text(serving("mixtral-8x7b", ""));
  const sim::run::run_result spec = test::run_text(serving("mixtral-8x7b", mtp_like));
  REQUIRE(plain.serving);
  REQUIRE(spec.serving);
  CHECK(plain.serving->requests == 8);
  CHECK(spec.serving->requests == 8);
  CHECK(spec.steps < plain.steps);
  const std::string ngram = R"(    speculative:
      drafter: ngram
      k: 3
      acceptance: [0.78, 0.37]
      reading: marginal
      acceptance_source: "vLLM PR #41044, DeepSeek MTP per-position rates"
)";
  const sim::run::run_result free = test::run_text(serving("mixtral-8x7b", ngram));
  REQUIRE(free.speculative);
  CHECK(free.speculative->draft_s == 0);
  CHECK(free.speculative->draft_share == 0);
  // Same acceptance draws: the draft model's time is what separates the two runs.
  CHECK(free.serving->window_s < spec.serving->window_s);
}

TEST_CASE(
    "the draft model's weights are in the memory plan, and one that does not fit is refused") {
  const sim::run::run_result spec = test::run_text(serving("mixtral-8x7b", mtp_like));
  bool found = false;
  for (const auto& m : spec.memory) {
    for (const auto& [name, bytes] : m.items) {
      if (name != "draft weights") continue;
      found = true;
      // Llama 3.2 1B: 1.236e9 parameters in bf16 (tied embedding).
      CHECK(bytes == Approx(1.236e9 * 2).epsilon(0.01));
    }
  }
  CHECK(found);
  // Qwen3-30B-A3B bf16 (61 GB) fits one 80 GB H100, not with a 13B draft (26 GB) beside it.
  const std::string big = R"(    speculative:
      drafter: draft_model
      draft_model: dense-13b
      k: 2
      acceptance: [0.7]
      reading: conditional
      acceptance_source: "test"
)";
  std::string text = serving("qwen3-30b-a3b", big);
  text.replace(text.find("dgx-h200"), 8, "dgx-h100");
  CHECK_NOTHROW(io::load_scenario_text(serving("qwen3-30b-a3b", ""), "fits.yaml"));
  CHECK_THROWS_WITH(io::load_scenario_text(text, "big.yaml"), Catch::Contains("draft weights"));
}

TEST_CASE("MTP and EAGLE drafters run on the same devices, their weights in the plan") {
  const auto drafter = [](const std::string& kind) {
    return "    speculative:\n      drafter: " + kind +
           "\n      k: 2\n      acceptance: [0.78, 0.37]\n      reading: marginal\n"
           "      acceptance_source: \"vLLM PR #41044\"\n";
  };
  const auto draft_bytes = [](const sim::run::run_result& r) {
    for (const auto& [name, bytes] : r.memory.front().items) {
      if (name == "draft weights") return static_cast<double>(bytes);
    }
    return 0.0;
  };
  // DeepSeek-V3 cut to 4 layers (3 dense, 1 MoE) fits one H200 with its MTP module, whose
  // block is an MoE layer routed by the MTP gate: drafting touches experts too.
  std::string mtp = serving("deepseek-v3", drafter("mtp"));
  mtp.replace(mtp.find("deepseek-v3}"), 12, "deepseek-v3, layers: 4}");
  const sim::run::run_result m = test::run_text(mtp);
  REQUIRE(m.speculative);
  CHECK(m.speculative->drafter == "mtp");
  CHECK(m.speculative->draft_s > 0);
  // One module: DeepSeek-V3's 14B MTP parameters less the shared embedding and head (about
  // 12B at fp8 here), well above the EAGLE head's.
  CHECK(draft_bytes(m) > 10e9);
  CHECK(draft_bytes(m) < 14e9);
  const sim::run::run_result e = test::run_text(serving("mixtral-8x7b", drafter("eagle")));
  REQUIRE(e.speculative);
  CHECK(e.speculative->draft_s > 0);
  // One decoder layer at Mixtral's sizes (attention and a 14336-wide FFN) and the 2h x h FC.
  CHECK(draft_bytes(e) == Approx((4096.0 * 4096 * 2 + 4096.0 * 1024 * 2 + 3 * 4096.0 * 14336 +
                                  2 * 4096.0 * 4096 + 2 * 4096) *
                                 2)
                              .epsilon(0.01));
}

TEST_CASE("a draft tree verifies draft_tokens per sequence and accepts along its depth") {
  const std::string tree = R"(    speculative:
      drafter: ngram
      k: 3
      acceptance: [0.7]
      reading: conditional
      acceptance_source: "test"
      tree: {steps: 3, top_k: 3, draft_tokens: 10, rank_acceptance: [0.3, 0.2]}
)";
  std::string text = serving("mixtral-8x7b", tree);
  text.replace(text.find("concurrency: 4"), 14, "concurrency: 1");
  text.replace(text.find("tokens: 48"), 10, "tokens: 400");
  const sim::run::run_result r = test::run_text(text);
  REQUIRE(r.speculative);
  const auto& x = *r.speculative;
  CHECK(x.k == 9);
  CHECK(x.tree_steps == 3);
  CHECK(x.tree_top_k == 3);
  CHECK(x.tree_draft_tokens == 10);
  CHECK(x.tree_depth == 3);
  // Each verification routes the root and its 9 drafts (fewer at a request's end).
  CHECK(x.unique_experts_verify <= union_formula(8, 2, 10) * 1.03);
  CHECK(x.unique_experts_verify >= union_formula(8, 2, 8) * 0.97);
  // Accepted along the tree's depth: at most 3, on average its expectation.
  CHECK(x.mean_accepted_drafts <= 3);
  CHECK(x.mean_accepted_drafts == Approx(x.tree_expected_accepted).margin(0.3));
  CHECK(x.tree_expected_accepted > 0.7 + 0.49 + 0.343);  // more than the chain of depth 3
}
