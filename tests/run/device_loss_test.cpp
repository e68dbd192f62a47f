// Device loss in serving (sim/run/device_loss.hpp), worked by hand: 4 ranks, 8 experts and 4
// redundant copies (12 slots, 3 a rank), rank 0 lost. Its copies of experts 0 and 4 fail over
// to their surviving copies, expert 1 (only on rank 0) is lost and its tokens dropped; the
// survivors' loads follow the placement's rules. Then the scheduler's side: the lost rank's
// sequences move to a survivor as preempted ones, keeping their tokens and times.
#include "sim/run/device_loss.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/simulate.hpp"
#include "sim/serve/scheduler.hpp"

using namespace moesim;
using sim::run::expert_placement;
using sim::run::layer_routing;

namespace {

// Slot table, 3 slots a rank: rank 0 [0 1 4], rank 1 [2 3 0], rank 2 [4 5 6], rank 3 [6 7 2].
// Copies: e0 r0 r1; e1 r0; e2 r1 r3; e3 r1; e4 r0 r2; e5 r2; e6 r2 r3; e7 r3.
expert_placement placed_with_replicas() {
  expert_placement p(8, 4, 1);
  const std::vector<int> table{0, 1, 4, 2, 3, 0, 4, 5, 6, 6, 7, 2};
  p.set_layer(0, table);
  return p;
}

/// Every source in `live` sends 10 copies to every expert.
layer_routing uniform(const std::vector<int>& live) {
  layer_routing lr;
  lr.sources = 4;
  lr.experts = 8;
  lr.copies.assign(32, 0);
  lr.expert_load.assign(8, 0);
  for (const int s : live) {
    for (int e = 0; e < 8; ++e) {
      lr.copies[static_cast<std::size_t>(s) * 8 + static_cast<std::size_t>(e)] = 10;
      lr.expert_load[static_cast<std::size_t>(e)] += 10;
    }
  }
  return lr;
}

}  // namespace

TEST_CASE("device loss: the placement before the loss spreads 320 copies evenly") {
  const expert_placement p = placed_with_replicas();
  const auto a = p.assign(uniform({0, 1, 2, 3}), 0);
  // Own copies and single-copy experts first leave 60 on every rank; the 8 pending (source,
  // replicated expert) pairs of 10 then go to the least-loaded copy (ties to the first copy):
  // 80 each.
  for (int r = 0; r < 4; ++r) CHECK(a.ranks[static_cast<std::size_t>(r)].copies == 80);
  CHECK(a.dropped == 0);
}

TEST_CASE("device loss: rank 0 lost, experts 0 and 4 fail over, expert 1 is lost") {
  expert_placement p = placed_with_replicas();
  const sim::run::expert_loss loss = sim::run::lose_rank(p, 0, {0});
  CHECK(loss.copies_held == 3);
  CHECK(loss.failed_over == 2);
  REQUIRE(loss.lost.size() == 1);
  CHECK(loss.lost[0] == std::pair<int, int>{0, 1});
  // The lost rank's source sends nothing (its requests moved); sources 1-3 send 10 each.
  const auto a = p.assign(uniform({1, 2, 3}), 0);
  // e1's 30 copies are dropped. Single copies and own copies: r1 = e0 30 + e2 10 + e3 30 = 70,
  // r2 = e4 30 + e5 30 + e6 10 = 70, r3 = e2 10 + e6 10 + e7 30 = 50; then (e2, source 2) to
  // r3 (50 < 70): 60, and (e6, source 1) to r3 (60 < 70): 70.
  CHECK(a.dropped == 30);
  CHECK(a.ranks[0].copies == 0);
  CHECK(a.ranks[0].active == 0);
  CHECK(a.ranks[1].copies == 70);
  CHECK(a.ranks[2].copies == 70);
  CHECK(a.ranks[3].copies == 70);
  // Nothing is sent to or from rank 0; source 1 sends e0, e3 (and its own e2) to itself.
  for (int r = 0; r < 4; ++r) {
    CHECK(a.pairs[static_cast<std::size_t>(r)] == 0);
    CHECK(a.pairs[static_cast<std::size_t>(r) * 4] == 0);
  }
  CHECK(a.pairs[1 * 4 + 1] == 30);  // e0, e2, e3 from source 1 itself
  CHECK(a.pairs[2 * 4 + 3] == 20);  // e2 (balanced to r3) and e7
  CHECK(a.pairs[1 * 4 + 3] == 20);  // e6 (balanced to r3) and e7
  // Losing the rank again changes nothing.
  p.remove_rank(0);
  CHECK(p.assign(uniform({1, 2, 3}), 0).ranks[3].copies == 70);
}

TEST_CASE("device loss: without replicas every expert of the lost rank is lost") {
  expert_placement p(8, 4, 2);  // the contiguous split: rank 1 holds experts 2 and 3
  const sim::run::expert_loss loss = sim::run::lose_rank(p, 1, {0, 1});
  CHECK(loss.copies_held == 4);
  CHECK(loss.failed_over == 0);
  CHECK(loss.lost == std::vector<std::pair<int, int>>{{0, 2}, {0, 3}, {1, 2}, {1, 3}});
  const auto a = p.assign(uniform({0, 2, 3}), 1);
  CHECK(a.dropped == 60);
  CHECK(a.ranks[1].copies == 0);
  CHECK(a.ranks[0].copies == 60);
  CHECK_THROWS_AS(p.remove_rank(4), std::invalid_argument);
}

TEST_CASE("device loss: a lost rank's sequences move as preempted ones, tokens and times kept") {
  serve::scheduler_limits l;
  l.max_running = 4;
  l.token_budget = 64;
  l.kv_blocks = 64;
  serve::scheduler lost(l);
  serve::scheduler survivor(l);
  lost.add({1, 0, 20, 5, 0});
  lost.add({2, 0, 20, 5, 0});
  // Iteration 1: both prefill (20 tokens each) and emit their first token at 1 us.
  auto it = lost.next();
  CHECK(it.tokens() == 40);
  (void)lost.complete(it, 1'000'000);
  it = lost.next();  // one decode each
  (void)lost.complete(it, 2'000'000);
  CHECK(lost.kv_blocks_used() > 0);
  std::vector<serve::detail::sequence> moved = lost.evict_all();
  CHECK(lost.idle());
  CHECK(lost.kv_blocks_used() == 0);
  REQUIRE(moved.size() == 2);
  CHECK(moved[0].computed == 21);  // prompt 20 + the first output token's KV
  CHECK(moved[0].emitted == 2);
  survivor.add({3, 0, 8, 1, 0});
  for (auto i = moved.rbegin(); i != moved.rend(); ++i) survivor.adopt(*i);
  // The moved sequences recompute prompt + emitted (22 each) ahead of request 3's prompt (8).
  it = survivor.next();
  REQUIRE(it.seqs.size() == 3);
  CHECK(it.seqs[0].request == 1);
  CHECK(it.seqs[0].new_tokens == 22);
  CHECK(it.seqs[0].prefill);
  CHECK(it.seqs[1].request == 2);
  CHECK(it.seqs[2].request == 3);
  CHECK(survivor.preemptions() == 2);
  std::vector<serve::finished_request> done = survivor.complete(it, 5'000'000);
  REQUIRE(done.size() == 1);  // request 3: one output token
  while (!survivor.idle()) {
    it = survivor.next();
    for (auto& f : survivor.complete(it, 6'000'000 + static_cast<sim::time_ps>(done.size())))
      done.push_back(f);
  }
  REQUIRE(done.size() == 3);
  // Request 1 kept its first token at 1 us; its 4 gaps span the move (2 us -> 5 us).
  CHECK(done[1].req.id == 1);
  CHECK(done[1].first_token == 1'000'000);
  REQUIRE(done[1].token_gaps.size() == 4);
  CHECK(done[1].token_gaps[1] == 3'000'000);
  CHECK(done[1].preemptions == 1);
}

namespace {

/// Mixtral 8x7B served on 8 H100 with EP8 (one expert a GPU, no replicas), 32 requests of 64
/// prompt and 16 output tokens at once, with `faults`.
sim::run::run_result mixtral_serving(const std::string& faults) {
  moesim::sim::trace_recorder trace(false);
  const std::string text = R"(name: loss
seed: 11
model: {preset: mixtral-8x7b}
sampling: {tokens_per_step: 64, math_hidden: 32}
cluster: {preset: dgx-h100}
network: {model: analytical}
parallelism: {ep: 8}
moe: {capacity_factor: 0}
workload:
  kind: serve
  serve:
    arrivals: {process: closed, concurrency: 32}
    requests: 32
    prompt: {dist: fixed, tokens: 64}
    output: {dist: fixed, tokens: 16}
)" + faults;
  return sim::run::simulate(io::load_scenario_text(text, "loss.yaml").base, trace);
}

}  // namespace

TEST_CASE("device loss: a served run loses no request, and the lost GPU's expert is lost") {
  const auto base = mixtral_serving("");
  // The prompts take one iteration; dev5 dies during the decodes.
  const double at = base.simulated_time_s / 2;
  const auto r = mixtral_serving(
      "faults:\n  - {kind: device_loss, device: 5, at_s: " + std::to_string(at) + "}\n");
  REQUIRE(r.serving);
  CHECK(r.serving->requests == 32);  // every request finished, the moved ones too
  REQUIRE(r.faults);
  REQUIRE(r.faults->faults.size() == 1);
  REQUIRE(r.faults->faults[0].device_loss);
  const sim::run::device_loss_report& d = *r.faults->faults[0].device_loss;
  CHECK(d.rank == 5);
  CHECK(d.applied_at_s >= at);
  // One expert a GPU in each of the 32 MoE layers, no other copy: expert 5 lost everywhere.
  CHECK(d.expert_copies_held == 32);
  CHECK(d.experts_failed_over == 0);
  REQUIRE(d.experts_lost.size() == 32);
  for (const auto& [layer, e] : d.experts_lost) CHECK(e == 5);
  // 4 requests a rank, all running: moved, their KV recomputed, each with its next token.
  CHECK(d.requests_requeued == 4);
  CHECK(d.requests_running == 4);
  CHECK(d.kv_tokens_recomputed > 4 * 64);
  CHECK(d.recovery_s > 0);
  CHECK(d.before.copies_dropped == 0);
  CHECK(d.after.copies_dropped > 0);
  CHECK(d.before.iterations > 0);
  CHECK(d.after.iterations > 0);
  CHECK(r.faults->baseline_tokens_per_s == Approx(base.tokens_per_s));
}
