// Attention-DP serving: each EP rank of a serving instance schedules its own requests with its
// own KV pool, requests are assigned to ranks on arrival, and the ranks step in lockstep (an
// iteration lasts as long as its busiest rank).
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sim/cluster/roofline.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/run/machine.hpp"
#include "sim/run/op_costs.hpp"
#include "sim/run/routing_tally.hpp"
#include "sim/run/serving_instance.hpp"

using namespace moesim;

namespace {

/// Mixtral 8x7B on one 8xH100 node as TP4 x EP2: two attention-DP ranks of 4 GPUs each.
sim::run::scenario two_ranks(const std::string& scheduler) {
  return io::load_scenario_text(R"(name: ranks
seed: 7
model: {preset: mixtral-8x7b}
sampling: {tokens_per_step: 256, math_hidden: 32}
cluster: {preset: dgx-h100}
network: {model: analytical}
parallelism: {tp: 4, ep: 2}
moe: {capacity_factor: 0}
workload:
  kind: serve
  serve:
    arrivals: {process: closed, concurrency: 1}
    requests: 1
    prompt: {dist: fixed, tokens: 16}
    output: {dist: fixed, tokens: 1}
    scheduler: )" + scheduler + "\n",
                                "ranks.yaml")
      .base;
}

/// A driver that only records: the test adds the requests itself before the loop runs.
class recorder final : public sim::run::serving_driver {
 public:
  void admit(sim::run::serving_instance&, sim::time_ps) override {}
  std::optional<sim::time_ps> idle_until(sim::run::serving_instance&, sim::time_ps) override {
    return std::nullopt;
  }
  bool stopped(const sim::run::serving_instance&) const override { return true; }
  void finished(sim::run::serving_instance& in, const serve::finished_request& f,
                sim::time_ps) override {
    done.push_back(f);
    ranks.push_back(in.rank_of(f.req.id));
  }
  void iterated(sim::run::serving_instance&, const serve::iteration_sample& x) override {
    samples.push_back(x);
  }
  std::vector<serve::finished_request> done;
  std::vector<int> ranks;  ///< the rank of each finished request, in finishing order
  std::vector<serve::iteration_sample> samples;
};

/// One serving instance over the whole scenario, with its machine.
struct bench {
  explicit bench(const sim::run::scenario& sc)
      : s(sc),
        m(s, trace, {}),
        tally(s.model.moe->experts, s.parallelism.ep),
        in(s, m, tally, driver, 1, "serving") {}
  void run() {
    m.sim().spawn(in.loop());
    m.sim().run();
  }
  sim::run::scenario s;
  sim::trace_recorder trace{false};
  sim::run::machine m;
  sim::run::routing_tally tally;
  recorder driver;
  sim::run::serving_instance in;
};

serve::request request(std::uint64_t id, std::int64_t prompt, std::int64_t output) {
  serve::request r;
  r.id = id;
  r.prompt_tokens = prompt;
  r.output_tokens = output;
  return r;
}

double part(const sim::run::breakdown& b, const std::string& name) {
  for (const auto& [k, v] : b) {
    if (k == name) return v;
  }
  return -1;
}

}  // namespace

TEST_CASE("requests go to the rank holding the fewest prompt tokens, then requests, then index",
          "[serving]") {
  bench b(two_ranks("{max_running: 8, token_budget: 2048}"));
  REQUIRE(b.in.ranks() == 2);
  // Equal requests alternate, as round-robin would.
  b.in.add(request(0, 100, 1));
  b.in.add(request(1, 100, 1));
  b.in.add(request(2, 100, 1));
  CHECK(b.in.rank_of(0) == 0);
  CHECK(b.in.rank_of(1) == 1);
  CHECK(b.in.rank_of(2) == 0);
  // Rank 0 holds 200 prompt tokens, rank 1 100: rank 1 takes requests until it holds more.
  b.in.add(request(3, 60, 1));  // rank 1: 160
  b.in.add(request(4, 30, 1));  // rank 1: 190
  b.in.add(request(5, 10, 1));  // rank 1: 200 tokens in 4 requests, rank 0 200 in 2
  b.in.add(request(6, 10, 1));  // a tie in tokens: the rank with fewer requests
  CHECK(b.in.rank_of(3) == 1);
  CHECK(b.in.rank_of(4) == 1);
  CHECK(b.in.rank_of(5) == 1);
  CHECK(b.in.rank_of(6) == 0);
  CHECK(b.in.scheduler_of(0).waiting() == 3);
  CHECK(b.in.scheduler_of(1).waiting() == 4);
  b.run();
  REQUIRE(b.driver.done.size() == 7);
  // Finished requests leave their rank's load: the next one goes to rank 0 again.
  b.in.add(request(7, 100, 1));
  CHECK(b.in.rank_of(7) == 0);
  CHECK_THROWS_AS(b.in.rank_of(3), std::out_of_range);
  CHECK_THROWS_AS(b.in.add_with_kv(request(8, 10, 1), 0, 2), std::invalid_argument);
}

TEST_CASE("ranks step in lockstep: a long prefill on one holds the other's decode", "[serving]") {
  bench b(two_ranks("{max_running: 8, token_budget: 2048}"));
  // Rank 0 decodes one token after a 16-token prompt whose KV is in place; rank 1 runs a whole
  // 1,024-token prompt in the same iteration. Both emit their only output token in it.
  b.in.add_with_kv(request(0, 17, 1), 16, 0);
  b.in.add_with_kv(request(1, 1024, 1), 0, 1);
  b.run();
  REQUIRE(b.driver.samples.size() == 1);
  REQUIRE(b.driver.done.size() == 2);
  const sim::time_ps end = b.driver.samples[0].end;
  CHECK(b.driver.done[0].finish == end);
  CHECK(b.driver.done[1].finish == end);
  CHECK(b.driver.ranks == std::vector<int>{0, 1});
  CHECK(b.driver.samples[0].batch_seqs == 2);
  CHECK(b.driver.samples[0].batch_tokens == 1025);

  // By hand: every layer's attention (projections + fused core) and norms take rank 1's time,
  // its 1,024 tokens attending causally to (1,024 + 1) / 2 keys each on a TP4 device; rank 0's
  // one-token decode is shorter and does not show on the critical path. (Splitting the
  // iteration evenly over the ranks, as one shared scheduler did, gave about half of this.)
  sim::run::pass_shape prefill;
  prefill.tokens = 1024;
  prefill.sequences = 1;
  prefill.tp = 4;
  prefill.kv_dtype = b.s.model.dtype;
  prefill.keys = (1024.0 + 1) / 2;
  prefill.slices = {{1024, 0}};
  const auto attn = sim::run::attention_cost(b.s.model, prefill);
  const sim::cluster::op_cost kernels[] = {attn.projections, attn.core};
  const sim::time_ps per_layer =
      sim::cluster::op_time(b.m.rates(), kernels) +
      sim::cluster::op_time(b.m.rates(), sim::run::attention_elementwise_cost(b.s.model, prefill));
  const double expected = sim::seconds(per_layer * b.s.model.layers);
  CHECK(part(b.m.ops().critical_path(), "attention") == Approx(expected).epsilon(1e-9));
  // Each rank's compute stream did its own work: rank 0's was the lighter.
  const auto& rank0 = b.m.dev(b.m.device(0, 0, 0));
  const auto& rank1 = b.m.dev(b.m.device(0, 0, 1));
  CHECK(rank0.compute.busy_ps() < rank1.compute.busy_ps());
}

TEST_CASE("each rank's KV pool is its own: one rank preempts while the other does not",
          "[serving]") {
  // A tiny KV pool per rank; find its size, then fill rank 0 past it and leave rank 1 light.
  bench probe(two_ranks("{max_running: 8, token_budget: 2048, kv_memory_fraction: 0.0005}"));
  const std::int64_t blocks = probe.in.scheduler_of(0).limits().kv_blocks;
  const std::int64_t capacity = blocks * probe.in.scheduler_of(0).limits().block_tokens;
  CAPTURE(blocks, capacity);
  REQUIRE(probe.in.scheduler_of(1).limits().kv_blocks == blocks);
  REQUIRE(capacity >= 400);

  bench b(two_ranks("{max_running: 8, token_budget: 2048, kv_memory_fraction: 0.0005}"));
  // Rank 0: two requests of 0.4 of the pool's prompt and 0.3 of its output each; admitted
  // together (0.8 of the pool), they cannot both grow to 0.7. Rank 1: one short request. The
  // two pools together (the shared pool of before) would hold all three.
  const std::int64_t prompt = capacity * 4 / 10;
  const std::int64_t output = capacity * 3 / 10;
  b.in.add_with_kv(request(0, prompt, output), 0, 0);
  b.in.add_with_kv(request(1, prompt, output), 0, 0);
  b.in.add_with_kv(request(2, 64, output), 0, 1);
  b.run();
  REQUIRE(b.driver.done.size() == 3);
  CHECK(b.in.scheduler_of(0).preemptions() >= 1);
  CHECK(b.in.scheduler_of(1).preemptions() == 0);
  CHECK(b.in.stats().report().preemptions == b.in.scheduler_of(0).preemptions());
  // Rank 1's request was never preempted, and iterations reported both pools' mean use.
  for (std::size_t i = 0; i < b.driver.done.size(); ++i) {
    if (b.driver.ranks[i] == 1) CHECK(b.driver.done[i].preemptions == 0);
  }
  double most = 0;
  for (const auto& x : b.driver.samples) most = std::max(most, x.kv_utilisation);
  CHECK(most <= 1.0);
  CHECK(most > 0.5);
}
