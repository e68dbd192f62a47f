// Training and inference steps end to end on small cases: folding against the unfolded run,
// the 1F1B bubble against its closed form, overlap, and layouts with TP and PP.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>

#include "sim/io/scenario_loader.hpp"
#include "sim/run/simulate.hpp"

using namespace moesim;

namespace {

// A small Mixtral-shaped MoE (8 experts, top-2) whose maths is cheap.
const char* const small_moe = R"(
model:
  name: small-moe
  source: "test"
  layers: 8
  hidden: 1024
  vocab: 32000
  dtype: bf16
  activation: swiglu
  attention: {kind: gqa, heads: 8, kv_heads: 2, head_dim: 128}
  moe: {experts: 8, top_k: 2, expert_ffn_hidden: 3584, router: {scoring: softmax, normalize_top_k: true}}
sampling: {tokens_per_step: 512, math_hidden: 64}
)";

// The same shape, dense, with a small vocabulary so that the last stage's output head does not
// unbalance the pipeline.
const char* const small_dense = R"(
model:
  name: small-dense
  source: "test"
  layers: 8
  hidden: 1024
  vocab: 1024
  dtype: bf16
  activation: swiglu
  dense_ffn_hidden: 3584
  attention: {kind: gqa, heads: 8, kv_heads: 2, head_dim: 128}
)";

sim::run::run_result run_step(const std::string& body, std::vector<std::string> overrides = {},
                              const char* model = small_moe) {
  io::load_options opt;
  opt.overrides = std::move(overrides);
  const auto set = io::load_scenario_text("name: t\nseed: 3\n" + body + model, "test.yaml", opt);
  sim::trace_recorder trace(false);
  return sim::run::simulate(set.base, trace);
}

double part(const sim::run::run_result& r, const std::string& k) {
  for (const auto& [name, v] : r.breakdown_s) {
    if (name == k) return v;
  }
  return -1;
}

const char* const train_dp2 = R"(
cluster: {preset: dgx-h100, nodes: 2}
parallelism: {ep: 8, dp: 2}
workload: {kind: train, batch_per_device: 1, context: 1024, micro_batches: 4, steps: 1}
)";

}  // namespace

TEST_CASE("folding data-parallel replicas agrees with simulating them all") {
  const auto folded = run_step(train_dp2);
  const auto unfolded = run_step(train_dp2, {"folding.dp_replicas=false"});
  INFO("folded " << folded.step_time_s << " s, unfolded " << unfolded.step_time_s << " s");
  CHECK(folded.step_time_s == Approx(unfolded.step_time_s).epsilon(0.02));
  CHECK(part(folded, "dp_collective") > 0);
  CHECK(folded.approximations.back().find("folding.dp_replicas") != std::string::npos);
}

TEST_CASE("the breakdown of a training step sums to the step time") {
  const auto r = run_step(train_dp2);
  double sum = 0;
  for (const auto& [k, v] : r.breakdown_s) sum += v;
  CHECK(sum == Approx(r.step_time_s).epsilon(1e-9));
  CHECK(part(r, "expert_compute") > 0);
  CHECK(part(r, "optimizer") > 0);
  CHECK(r.model_tflops_per_device > 0);
  CHECK(r.mfu > 0);
  CHECK(r.mfu < 1);
}

TEST_CASE("the 1F1B bubble is (pp-1)/M of the pipeline's work") {
  // Dense layers only (no all-to-all), 4 stages, 16 micro-batches, one node.
  const std::string body = R"(
cluster: {preset: dgx-h100}
parallelism: {pp: 4, dp: 2}
workload: {kind: train, batch_per_device: 1, context: 2048, micro_batches: 16, steps: 1}
)";
  const auto r = run_step(body, {}, small_dense);
  const double bubble = part(r, "pipeline_bubble");
  const double work = r.step_time_s - bubble - part(r, "dp_collective") - part(r, "optimizer");
  INFO("bubble " << bubble << " s, work " << work << " s");
  // Megatron: bubble / ideal = (pp - 1) / M = 3 / 16 with free transfers. Here every backward
  // of the steady state also waits ~20 us for its gradient to cross NVLink (11 us for 4 MiB at
  // 370 GB/s plus latencies), which adds about 0.35 ms to the 2.1 ms of the closed form.
  CHECK(bubble / work >= 3.0 / 16);
  CHECK(bubble / work == Approx(3.0 / 16).epsilon(0.25));
}

TEST_CASE("overlapping forward and backward hides all-to-all under compute") {
  const auto plain = run_step(train_dp2);
  const auto overlapped = run_step(train_dp2, {"workload.overlap=true"});
  CHECK(overlapped.step_time_s < plain.step_time_s);
}

TEST_CASE("inference runs tp, ep and pp layouts of one node") {
  const std::string body = R"(
cluster: {preset: dgx-h100}
workload: {kind: decode, batch_per_device: 16, context: 1024, steps: 2}
)";
  const auto ep8 = run_step(body, {"parallelism.ep=8"});
  const auto tp8 = run_step(body, {"parallelism.tp=8"});
  const auto tp2ep4 = run_step(body, {"parallelism.tp=2", "parallelism.ep=4"});
  const auto pp2ep4 =
      run_step(body, {"parallelism.pp=2", "parallelism.ep=4", "workload.micro_batches=2"});
  for (const auto* r : {&ep8, &tp8, &tp2ep4, &pp2ep4}) {
    CHECK(r->step_time_s > 0);
    CHECK(r->tokens_per_step == 16 * 8);
  }
  CHECK(part(tp8, "tp_collective") > 0);
  CHECK(part(ep8, "tp_collective") == 0);
  CHECK(part(tp8, "dispatch") == 0);  // one EP rank: no exchange
}

TEST_CASE("folding micro-batches agrees with simulating them all") {
  const std::string body = R"(
cluster: {preset: dgx-h100, nodes: 2}
parallelism: {ep: 8, pp: 2}
workload: {kind: train, batch_per_device: 1, context: 1024, micro_batches: 24, steps: 1}
)";
  const auto all = run_step(body);
  const auto folded = run_step(body, {"folding.micro_batches=8"});
  INFO("all " << all.step_time_s << " s, folded " << folded.step_time_s << " s");
  CHECK(folded.step_time_s == Approx(all.step_time_s).epsilon(0.02));
  CHECK(folded.tokens_per_step == all.tokens_per_step);
  double sum = 0;
  for (const auto& [k, v] : folded.breakdown_s) sum += v;
  CHECK(sum == Approx(folded.step_time_s).epsilon(1e-9));
  CHECK_THROWS_WITH(run_step(body, {"folding.micro_batches=5"}),
                    Catch::Contains("folding: micro_batches 5 must be at least 2 x pp + 2 = 6"));
}

TEST_CASE("a measured op profile times the ops it covers") {
  // Experts take 1 ms per call whatever the tokens (two rows, same time per token count is
  // not needed: one row scales with tokens, so give two equal-time rows bracketing the range).
  const std::string csv_path = std::string(MOESIM_BINARY) + ".test-profile.csv";
  {
    std::ofstream csv(csv_path);
    csv << "op,dtype,tokens,context,time_us\nexperts,bf16,1,0,1000\nexperts,bf16,1000000,0,1000\n";
  }
  const std::string body = R"(
cluster: {preset: dgx-h100}
parallelism: {ep: 8}
workload: {kind: decode, batch_per_device: 16, context: 1024, steps: 1}
)";
  const auto roofline = run_step(body);
  const auto measured = run_step(body, {"op_profile=" + csv_path});
  // 8 MoE layers x 1 ms of experts on the critical path (the activation stays on the roofline).
  CHECK(part(measured, "expert_compute") + part(measured, "expert_weight_load") >= 8e-3);
  CHECK(measured.step_time_s > roofline.step_time_s + 7e-3);
  std::remove(csv_path.c_str());
}

TEST_CASE("results do not depend on the number of routing threads") {
  const auto one = run_step(train_dp2, {"sampling.tokens_per_step=256"});
  io::load_options opt;
  opt.overrides = {"sampling.tokens_per_step=256"};
  const auto set = io::load_scenario_text(std::string("name: t\nseed: 3\n") + train_dp2 + small_moe,
                                          "test.yaml", opt);
  sim::trace_recorder trace(false);
  const auto two = sim::run::simulate(set.base, trace, {2});
  CHECK(one.step_time_s == two.step_time_s);
  CHECK(one.load_max_over_mean == two.load_max_over_mean);
  CHECK(one.dispatch_bytes_per_step == two.dispatch_bytes_per_step);
}

TEST_CASE("the trace carries the busy links of every batch of flows as counters") {
  auto counters = [](const std::string& order, const std::string& prefix) {
    const auto set =
        io::load_scenario_text(std::string("name: t\nseed: 3\n") + train_dp2 + small_moe,
                               "test.yaml", {{"parallelism.order=" + order}, {}});
    sim::trace_recorder trace(true);
    (void)sim::run::simulate(set.base, trace);
    int n = 0;
    for (const auto& c : trace.counters()) n += c.name.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  };
  // Each EP group is one node: its exchanges load NVLink; the DP gradient all-reduce between
  // the two nodes loads the rails.
  CHECK(counters("tp-ep-dp-pp", "nvlink ") > 0);
  const int dp_only = counters("tp-ep-dp-pp", "ib ");
  CHECK(dp_only > 0);
  // EP groups span both nodes: every exchange loads the rails too.
  CHECK(counters("dp-ep-tp-pp", "ib ") > dp_only);
}

TEST_CASE("decode exchanges run as DeepEP low-latency kernels with their fixed cost") {
  const std::string body = R"(
cluster: {preset: dgx-h100}
parallelism: {ep: 8}
workload: {kind: decode, batch_per_device: 16, context: 1024, steps: 2}
)";
  const auto ll = run_step(body);  // h100: collective.ep_low_latency_kernel_ps 19.5 us
  const auto none = run_step(body, {"chip.collective.ep_low_latency_kernel_ps=0 us"});
  // 8 MoE layers, one dispatch and one combine kernel each per step, on the critical path.
  CHECK((part(ll, "dispatch") - part(none, "dispatch")) * 1e6 == Approx(8 * 19.5).epsilon(1e-3));
  CHECK((part(ll, "combine") - part(none, "combine")) * 1e6 == Approx(8 * 19.5).epsilon(1e-3));
  // Per-rank exchanges (DeepEP's normal kernels) and training pay none.
  const auto per_rank = run_step(body, {"moe.exchange=per_rank"});
  const auto per_rank_none =
      run_step(body, {"moe.exchange=per_rank", "chip.collective.ep_low_latency_kernel_ps=0 us"});
  CHECK(part(per_rank, "dispatch") == part(per_rank_none, "dispatch"));
}

TEST_CASE("precision sets the exchanged and cached formats, fp8 tokens carry their scales") {
  // Two nodes, EP8 x DP2 across them: the exchange is bandwidth-bound at 2048 tokens.
  const std::string body = R"(
cluster: {preset: dgx-h100, nodes: 2}
network: {model: analytical}
parallelism: {ep: 8, dp: 2, order: tp-dp-ep-pp}
workload: {kind: prefill, batch_per_device: 1, context: 2048, steps: 1}
)";
  const auto bf16 = run_step(body);
  const auto mixed = run_step(body, {"precision.dispatch=fp8", "precision.combine=bf16"});
  // The combine is unchanged; the dispatch carries 1 + 4/128 bytes per value instead of 2.
  CHECK(part(mixed, "combine") == Approx(part(bf16, "combine")).epsilon(0.01));
  CHECK(mixed.dispatch_bytes_per_step / bf16.dispatch_bytes_per_step ==
        Approx((1 + 4.0 / 128) / 2).epsilon(1e-9));
  CHECK(part(mixed, "dispatch") < 0.6 * part(bf16, "dispatch"));
  // A bf16 KV cache of an fp8 model: twice the cached bytes the attention reads in decode.
  const std::string decode = R"(
cluster: {preset: dgx-h100}
parallelism: {ep: 8}
workload: {kind: decode, batch_per_device: 64, context: 8192, steps: 1}
)";
  const auto fp8 = run_step(decode, {"model.dtype=fp8"});
  const auto kv16 = run_step(decode, {"model.dtype=fp8", "precision.kv_cache=bf16"});
  CHECK(part(kv16, "attention") > 1.6 * part(fp8, "attention"));
  CHECK(kv16.peak_hbm_bytes > fp8.peak_hbm_bytes);
}
