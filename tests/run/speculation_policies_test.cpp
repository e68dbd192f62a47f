// The mitigation policies through the serving loop: grouped turning speculation off where it
// does not pay, deferral withdrawing drafts as its threshold rises, blockwise verifying blocks
// proposed by heads on the target's pass (no drafter passes) at the acceptance vector's rates.
#include <catch2/catch.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "sim/io/error.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/run/op_costs.hpp"
#include "sim/run/simulate.hpp"

using namespace moesim;

namespace {

/// Mixtral on one H200, `batch` requests decoding together, with `speculative` lines.
std::string serving(int batch, const std::string& speculative, int output = 48,
                    const std::string& drafter = "draft_model\n      draft_model: draft-1b") {
  const std::string b = std::to_string(batch);
  return R"(name: spec
seed: 7
model: {preset: mixtral-8x7b}
cluster: {preset: dgx-h200, gpus_per_node: 1, gpus_per_host: 1}
network: {model: analytical}
parallelism: {ep: 1}
moe: {capacity_factor: 0}
sampling: {tokens_per_step: 256, math_hidden: 32}
workload:
  kind: serve
  serve:
    arrivals: {process: closed, concurrency: )" +
         b + R"(}
    requests: )" +
         b + R"(
    prompt: {dist: fixed, tokens: 256}
    output: {dist: fixed, tokens: )" +
         std::to_string(output) + R"(}
    scheduler: {max_running: )" +
         b + R"(, token_budget: 4096}
    speculative:
      drafter: )" +
         drafter + R"(
      acceptance: [0.775, 0.37]
      reading: marginal
      acceptance_source: "vLLM PR #41044 (DeepSeek-V3 MTP), a stand-in"
)" + speculative;
}

sim::run::run_result run(const std::string& text) {
  sim::trace_recorder trace(false);
  return sim::run::simulate(io::load_scenario_text(text, "spec.yaml").base, trace);
}

}  // namespace

TEST_CASE("grouped turns speculation off at batch 1 on Mixtral, where naive loses") {
  const auto naive = run(serving(1, "      k: 3\n      policy: naive\n", 160));
  const auto none = run(serving(1, "      k: 3\n      policy: none\n", 160));
  const auto grouped = run(serving(
      1, "      k: 3\n      policy: grouped\n      test_iterations: 2\n      set_iterations: 32\n",
      160));
  REQUIRE(grouped.speculative);
  const auto& f = grouped.speculative->mechanism;
  REQUIRE(f.k_iterations.size() == 4);
  // Verification of k drafts at batch 1 touches ~2.4x the experts: K 0 wins every test phase.
  const std::int64_t all =
      std::accumulate(f.k_iterations.begin(), f.k_iterations.end(), std::int64_t{0});
  CHECK(f.k_iterations[0] > all / 2);
  CHECK(f.test_share > 0);
  CHECK(f.test_share < 0.5);
  CHECK(f.mean_k < 1);
  INFO("naive " << naive.serving->window_s << " grouped " << grouped.serving->window_s << " none "
                << none.serving->window_s);
  CHECK(naive.serving->window_s > none.serving->window_s);
  CHECK(grouped.serving->window_s < naive.serving->window_s);
}

TEST_CASE("grouped keeps speculating where it pays (batch 16 on Mixtral)") {
  const auto grouped = run(serving(
      16, "      k: 3\n      policy: grouped\n      test_iterations: 2\n      set_iterations: 16\n",
      96));
  REQUIRE(grouped.speculative);
  const auto& f = grouped.speculative->mechanism;
  // Plain decoding at batch 16 already reads all 8 experts: verification costs little more.
  CHECK(f.mean_k > 1.5);
  CHECK(f.k_iterations[0] < f.k_iterations[1] + f.k_iterations[2] + f.k_iterations[3]);
}

TEST_CASE("deferral withdraws drafts as the threshold rises, and drafts less") {
  double previous_share = -1;
  double previous_drafts = 10;
  double previous_draft_s = 1e9;
  for (const double threshold : {0.0, 0.5, 0.8}) {
    const auto r = run(serving(4, "      k: 3\n      policy: deferral\n      threshold: " +
                                      std::to_string(threshold) + "\n"));
    REQUIRE(r.speculative);
    REQUIRE(r.serving->requests == 4);
    const auto& f = r.speculative->mechanism;
    REQUIRE(f.draft_chances > 0);
    const double share = static_cast<double>(f.deferred) / static_cast<double>(f.draft_chances);
    INFO("threshold " << threshold << " deferred " << share << " drafts "
                      << f.drafts_per_verification);
    if (threshold == 0.0) {
      CHECK(f.deferred == 0);
      CHECK(f.cut == 0);
      CHECK(f.drafts_per_verification > 2.5);  // k 3, fewer only near the last token
    }
    CHECK(share > previous_share);
    CHECK(f.drafts_per_verification < previous_drafts);
    // Fewer draft steps per iteration (the cut step still runs).
    const double draft_total = r.speculative->draft_s *
                               static_cast<double>(r.speculative->verify_iterations) /
                               static_cast<double>(r.steps);
    CHECK(draft_total < previous_draft_s);
    previous_share = share;
    previous_drafts = f.drafts_per_verification;
    previous_draft_s = draft_total;
  }
}

TEST_CASE("blockwise: no drafter passes, heads on the target pass, blocks at the vector's rates") {
  const auto block = run(serving(4, "      k: 2\n      policy: blockwise\n", 400));
  REQUIRE(block.speculative);
  CHECK(block.speculative->draft_s == 0);
  CHECK(block.speculative->draft_share == 0);
  const auto& f = block.speculative->mechanism;
  REQUIRE(f.block_sizes.size() == 3);
  const double n = static_cast<double>(f.block_sizes[0] + f.block_sizes[1] + f.block_sizes[2]);
  // Marginal 0.775, 0.37: a block keeps 1 token (first head wrong) at 0.225, 2 at 0.405, 3 at
  // 0.37 (sequences' last steps verify fewer heads: a small share here).
  CHECK(static_cast<double>(f.block_sizes[0]) / n == Approx(0.225).margin(0.03));
  CHECK(static_cast<double>(f.block_sizes[2]) / n == Approx(0.37).margin(0.03));
  CHECK(f.mean_block == Approx(block.speculative->mean_accepted_tokens));
  // The heads' weights (2 hidden^2 each) replace the draft model's in the plan.
  bool found = false;
  for (const auto& [name, bytes] : block.memory.front().items) {
    if (name != "draft weights") continue;
    found = true;
    CHECK(static_cast<double>(bytes) == Approx(2 * 2 * 4096.0 * 4096 * 2).epsilon(0.001));
  }
  CHECK(found);
  // Same draws as an ngram drafter's (no draft compute either): the heads' op is what the
  // blockwise run pays on top.
  const auto ngram = run(serving(4, "      k: 2\n      policy: naive\n", 400, "ngram"));
  REQUIRE(ngram.speculative);
  CHECK(ngram.speculative->mean_accepted_tokens == block.speculative->mean_accepted_tokens);
  CHECK(block.serving->window_s > ngram.serving->window_s);
  CHECK(block.serving->window_s < ngram.serving->window_s * 1.05);
}

TEST_CASE("proposal heads' cost: k heads' layers and the shared projection per position") {
  models::model_spec m;
  m.hidden = 1024;
  m.vocab = 1000;
  m.dtype = models::weight_dtype::bf16;
  const auto c = sim::run::proposal_heads_cost(m, 8, 3, 1);
  const double projection = 1024.0 * 1000;
  CHECK(c.flops == Approx(2.0 * 8 * 3 * (2 * 1024.0 * 1024 + projection)));
  CHECK(c.bytes == Approx((3 * 2 * 1024.0 * 1024 + projection) * 2 + 8 * 3 * 1024.0 * 2));
  CHECK(sim::run::proposal_heads_weight_bytes(m, 3, 2) == Approx(3 * 2 * 1024.0 * 1024));
}
