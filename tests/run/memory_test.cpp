// Memory accounting per device (sim/cluster/memory.hpp) through the scenarios that drive it
// (sim/run/feasibility.hpp): hand-computed plans, the effect of each sharding axis, ZeRO and
// recomputation, and the refusal of layouts that do not fit.
#include "sim/cluster/memory.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "models/model_params.hpp"
#include "sim/io/error.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/run/feasibility.hpp"
#include "tests/run/run_text.hpp"

using namespace moesim;
using sim::cluster::memory_plan;

namespace {

constexpr double gib = 1024.0 * 1024 * 1024;

sim::run::scenario memory_scenario(const std::string& yaml, std::vector<std::string> sets = {}) {
  return test::load_text(yaml, std::move(sets), "memory_test");
}

double item(const memory_plan& p, const std::string& name) {
  for (const auto& i : p.items) {
    if (i.name == name) return i.bytes;
  }
  return 0;
}

double weights(const memory_plan& p) {
  double sum = 0;
  for (const char* n :
       {"routed expert weights", "shared expert weights", "attention weights", "dense FFN weights",
        "embedding", "LM head", "norms and routers", "MTP module weights"}) {
    sum += item(p, n);
  }
  return sum;
}

// Mixtral 8x7B on one 8xH100 node (chip memory raised where a case needs room to compare).
const std::string mixtral_decode = R"(
name: mixtral-ep8
model: {preset: mixtral-8x7b}
cluster: {preset: dgx-h100}
parallelism: {ep: 8}
moe: {capacity_factor: 0}
workload: {kind: decode, batch_per_device: 16, context: 1000, steps: 24}
)";

// Mixtral 8x7B cut to 8 layers, training on 2 nodes; a 1 TiB chip so every variant loads.
const std::string mixtral_train = R"(
name: mixtral-train
model: {preset: mixtral-8x7b, layers: 8}
cluster: {preset: dgx-h100, nodes: 2}
chip: {hbm_bytes: 1 TiB}
parallelism: {tp: 2, ep: 4, dp: 2}
workload: {kind: train, batch_per_device: 1, context: 4096, micro_batches: 8}
)";

}  // namespace

TEST_CASE("Mixtral 8x7B on EP8 holds the non-expert weights and one expert per layer") {
  const auto s = memory_scenario(mixtral_decode);
  const auto plans = sim::run::stage_memory_plans(s);
  REQUIRE(plans.size() == 1);
  const memory_plan& p = plans[0];
  // By hand: attention 4096*(4096+1024+1024+4096) = 41,943,040, two norms 8,192, router
  // 32,768, one expert 3*4096*14336 = 176,160,768 per layer; embedding and LM head
  // 32000*4096 each, final norm 4096: 7,242,780,672 parameters in bf16.
  CHECK(weights(p) == 7'242'780'672.0 * 2);
  const auto& m = s.model;
  CHECK(weights(p) == 2.0 * static_cast<double>(models::total_params(m) -
                                                std::int64_t{32} * 7 * models::expert_params(m)));
  CHECK(item(p, "routed expert weights") == 32.0 * 176'160'768 * 2);
  // KV cache: 16 sequences x (1000 + 24) tokens x 8 KV heads x 128 x (K, V) x 2 bytes x 32.
  CHECK(item(p, "KV cache") == 16.0 * 1024 * (8 * 128 * 2 * 2) * 32);
  // Dropless dispatch/combine: send + receive of 16 tokens x top-2 x 4096 x 2 bytes.
  CHECK(item(p, "dispatch/combine buffers") == 2.0 * 16 * 2 * 4096 * 2);
  CHECK(item(p, "optimizer states") == 0);
  double sum = 0;
  for (const auto& i : p.items) sum += i.bytes;
  CHECK(p.total_bytes == sum);
  const auto top = p.largest(2);
  REQUIRE(top.size() == 2);
  CHECK(top[0].name == "routed expert weights");
  CHECK(top[0].bytes >= top[1].bytes);
  CHECK(p.largest(100).size() == p.items.size());
}

TEST_CASE("sharding moves the weights as the layout says") {
  const std::string yaml = R"(
name: shard
model: {preset: mixtral-8x7b}
cluster: {preset: dgx-h100, nodes: 2}
chip: {hbm_bytes: 1 TiB}
parallelism: {ep: 8, dp: 2}
moe: {capacity_factor: 1.25}
workload: {kind: decode, batch_per_device: 16, context: 1000}
)";
  const memory_plan base = sim::run::stage_memory_plans(memory_scenario(yaml))[0];
  SECTION("EP halves the routed experts, nothing else") {
    const memory_plan p = sim::run::stage_memory_plans(
        memory_scenario(yaml, {"parallelism.ep=4", "parallelism.dp=4"}))[0];
    CHECK(item(p, "routed expert weights") == 2 * item(base, "routed expert weights"));
    CHECK(item(p, "attention weights") == item(base, "attention weights"));
    CHECK(item(p, "KV cache") == item(base, "KV cache"));
  }
  SECTION("TP halves attention, experts, embedding and the KV heads; norms stay whole") {
    // A TP2 replica carries twice the sequences (sim/run/batch.hpp) over half the KV heads.
    const memory_plan p = sim::run::stage_memory_plans(
        memory_scenario(yaml, {"parallelism.tp=2", "parallelism.dp=1"}))[0];
    CHECK(item(p, "attention weights") == item(base, "attention weights") / 2);
    CHECK(item(p, "routed expert weights") == item(base, "routed expert weights") / 2);
    CHECK(item(p, "embedding") == item(base, "embedding") / 2);
    CHECK(item(p, "KV cache") == item(base, "KV cache"));
    CHECK(item(p, "norms and routers") == item(base, "norms and routers"));
    // With capacity factor 1.25, each TP rank sends and receives half of the copies of the
    // replica's 32 tokens.
    CHECK(item(p, "dispatch/combine buffers") == 2.0 * 32 / 2 * 2 * 1.25 * 4096 * 2);
  }
  SECTION("PP splits the layers; embedding first, LM head last") {
    const auto s = memory_scenario(yaml, {"parallelism.pp=2", "parallelism.dp=1"});
    const auto plans = sim::run::stage_memory_plans(s);
    REQUIRE(plans.size() == 2);
    CHECK(item(plans[0], "attention weights") == item(base, "attention weights") / 2);
    // Half the layers, for the twice as many sequences a PP2 replica carries.
    CHECK(item(plans[1], "KV cache") == item(base, "KV cache"));
    CHECK(item(plans[0], "embedding") == item(base, "embedding"));
    CHECK(item(plans[0], "LM head") == 0);
    CHECK(item(plans[1], "embedding") == 0);
    CHECK(item(plans[1], "LM head") == item(base, "LM head"));
    // Order tp-ep-dp-pp: stage 1 starts after the 8 devices of stage 0.
    CHECK(plans[1].device == 8);
    CHECK(sim::run::pipeline_stage_of(s.parallelism, 7) == 0);
    CHECK(sim::run::pipeline_stage_of(s.parallelism, 8) == 1);
    const auto inner = memory_scenario(
        yaml, {"parallelism.pp=2", "parallelism.dp=1", "parallelism.order=pp-tp-ep-dp"});
    CHECK(sim::run::stage_memory_plans(inner)[1].device == 1);
    CHECK(sim::run::pipeline_stage_of(inner.parallelism, 7) == 1);
  }
}

TEST_CASE("MLA's latent KV cache is not split by TP") {
  const std::string yaml = R"(
name: mla
model: {preset: deepseek-v3, layers: 4, moe: {first_k_dense: 1}}
cluster: {preset: dgx-h800, nodes: 4}
parallelism: {ep: 32}
workload: {kind: decode, batch_per_device: 32, context: 4096, steps: 2}
)";
  const memory_plan ep32 = sim::run::stage_memory_plans(memory_scenario(yaml))[0];
  // 32 sequences x 4098 tokens x (512 + 64) fp8 values x 4 layers.
  CHECK(item(ep32, "KV cache") == 32.0 * 4098 * 576 * 4);
  const memory_plan tp2 = sim::run::stage_memory_plans(
      memory_scenario(yaml, {"parallelism.ep=16", "parallelism.tp=2"}))[0];
  // The TP2 replica carries 2 x 32 sequences and every rank holds the whole latent of each.
  CHECK(item(tp2, "KV cache") == 2 * item(ep32, "KV cache"));
}

TEST_CASE("the KV cache counts every sequence of a TP x PP replica, as the step runs them") {
  // Mixtral decode at 256 sequences per GPU and 4K context. TP8: one replica of 8 GPUs carries
  // 2048 sequences, 256 per GPU, and each GPU holds its one KV head of all of them: 2048 x 4097
  // tokens x 32 layers x (K, V) x 128 x 2 bytes = 128 GiB, as much as under EP8 (each GPU its
  // own 256 sequences, all 8 heads). Refused on an 80 GB H100 either way.
  const std::string yaml = R"(
name: kv
model: {preset: mixtral-8x7b}
cluster: {preset: dgx-h100}
chip: {hbm_bytes: 1 TiB}
parallelism: {tp: 8}
workload: {kind: decode, batch_per_device: 256, context: 4096, steps: 1}
)";
  const memory_plan tp8 = sim::run::stage_memory_plans(memory_scenario(yaml))[0];
  CHECK(item(tp8, "KV cache") == 2048.0 * 4097 * 32 * 2 * 128 * 2);
  const memory_plan ep8 = sim::run::stage_memory_plans(
      memory_scenario(yaml, {"parallelism.tp=1", "parallelism.ep=8"}))[0];
  CHECK(item(ep8, "KV cache") == item(tp8, "KV cache"));
  const memory_plan tp2pp4 = sim::run::stage_memory_plans(
      memory_scenario(yaml, {"parallelism.tp=2", "parallelism.pp=4"}))[0];
  CHECK(item(tp2pp4, "KV cache") == item(tp8, "KV cache"));
  CHECK_THROWS_WITH(sim::run::check_feasible(memory_scenario(yaml, {"chip.hbm_bytes=80 GiB"})),
                    Catch::Contains("KV cache 128 GiB"));
}

TEST_CASE("ZeRO shards optimizer states, then gradients, then weights over data parallel") {
  auto plan = [](int zero) {
    return sim::run::stage_memory_plans(
        memory_scenario(mixtral_train, {"workload.training.zero=" + std::to_string(zero)}))[0];
  };
  const memory_plan z0 = plan(0), z1 = plan(1), z2 = plan(2), z3 = plan(3);
  // tp 2, ep 4, dp 2: non-expert parameters have ep*dp = 8 replicas, experts dp = 2.
  const double expert = item(z0, "routed expert weights") / 2;  // parameters (bf16)
  const double non_expert = weights(z0) / 2 - expert;
  CHECK(item(z0, "optimizer states") == 12 * (non_expert + expert));
  CHECK(item(z0, "gradients") == 4 * (non_expert + expert));
  CHECK(item(z1, "optimizer states") == 12 * (non_expert / 8 + expert / 2));
  CHECK(item(z1, "gradients") == item(z0, "gradients"));
  CHECK(item(z2, "gradients") == 4 * (non_expert / 8 + expert / 2));
  CHECK(weights(z2) == weights(z0));
  CHECK(item(z3, "routed expert weights") == item(z0, "routed expert weights") / 2);
  CHECK(item(z3, "attention weights") == item(z0, "attention weights") / 8);
  CHECK(z0.total_bytes > z1.total_bytes);
  CHECK(z1.total_bytes > z2.total_bytes);
  CHECK(z2.total_bytes > z3.total_bytes);

  SECTION("with pure data parallelism ZeRO-1 over DP2 halves the optimizer states") {
    const std::vector<std::string> dp2{"parallelism.tp=8", "parallelism.ep=1", "parallelism.dp=2"};
    auto with = [&](int zero) {
      auto sets = dp2;
      sets.push_back("workload.training.zero=" + std::to_string(zero));
      return sim::run::stage_memory_plans(memory_scenario(mixtral_train, sets))[0];
    };
    CHECK(item(with(1), "optimizer states") == item(with(0), "optimizer states") / 2);
  }
  SECTION("bf16 gradients take half of fp32's") {
    const memory_plan bf16 = sim::run::stage_memory_plans(
        memory_scenario(mixtral_train, {"workload.training.gradients=bf16"}))[0];
    CHECK(item(bf16, "gradients") == item(z0, "gradients") / 2);
  }
}

TEST_CASE("activation recomputation: full < selective < none, by Korthikanti's terms") {
  SECTION("a dense 4h GeLU layer gives s*b*h*(34 + 5as/h), 34 sbh and 2 sbh per layer") {
    sim::cluster::model_memory_shape m;
    m.hidden = 4096;
    m.heads = 32;
    m.dense_ffn_hidden = std::int64_t{4} * 4096;
    m.gated_ffn = false;
    using sim::cluster::recompute_mode;
    const std::int64_t s = 2048;
    CHECK(sim::cluster::activation_bytes_per_token(m, false, s, 0, recompute_mode::none) ==
          4096.0 * (34 + 5.0 * 32 * 2048 / 4096));
    CHECK(sim::cluster::activation_bytes_per_token(m, false, s, 0, recompute_mode::selective) ==
          34.0 * 4096);
    CHECK(sim::cluster::activation_bytes_per_token(m, false, s, 0, recompute_mode::full) ==
          2.0 * 4096);
  }
  auto plan = [](const std::string& r) {
    return sim::run::stage_memory_plans(
        memory_scenario(mixtral_train, {"workload.training.recompute=" + r}))[0];
  };
  const memory_plan none = plan("none"), selective = plan("selective"), full = plan("full");
  CHECK(item(full, "activations") < item(selective, "activations"));
  CHECK(item(selective, "activations") < item(none, "activations"));
  // The difference is the attention scores: 5*a*s^2*b per layer, split by TP 2, 8 layers,
  // 1 micro-batch in flight without pipelining.
  CHECK(item(none, "activations") - item(selective, "activations") ==
        Approx(5.0 * 32 * 4096.0 * 4096 * 1 / 2 * 8).epsilon(1e-12));
  // Full keeps only the layer inputs: 2*s*b*h / tp per layer.
  CHECK(item(full, "activations") == 2.0 * 4096 * 4096 / 2 * 8);
  CHECK(full.total_bytes < selective.total_bytes);
  CHECK(selective.total_bytes < none.total_bytes);
}

TEST_CASE("1F1B keeps pp micro-batches on the first stage and one on the last") {
  const auto s = memory_scenario(
      mixtral_train, {"parallelism.pp=2", "parallelism.dp=1", "workload.training.recompute=full"});
  const auto plans = sim::run::stage_memory_plans(s);
  REQUIRE(plans.size() == 2);
  // Each stage has 4 layers; full recomputation keeps 2*s*b*h/tp per layer and micro-batch.
  const double per_micro_batch = 2.0 * 4096 * 4096 / 2 * 4;
  CHECK(item(plans[0], "activations") == 2 * per_micro_batch);
  CHECK(item(plans[1], "activations") == per_micro_batch);
  // The loss's fp32 logits on the last stage only: 4*s*b*v/tp.
  CHECK(item(plans[0], "logits") == 0);
  CHECK(item(plans[1], "logits") == 4.0 * 4096 * 32000 / 2);
  const auto one = sim::run::stage_memory_plans(memory_scenario(
      mixtral_train, {"parallelism.pp=2", "parallelism.dp=1", "workload.training.recompute=full",
                      "workload.micro_batches=1"}));
  CHECK(item(one[0], "activations") == per_micro_batch);
}

TEST_CASE("a layout that does not fit is refused before simulating, with the numbers") {
  const std::string yaml = R"(name: too-big
model: {preset: deepseek-v3}
cluster: {preset: dgx-h100}
parallelism: {ep: 8}
workload: {kind: decode, batch_per_device: 32, context: 4096}
)";
  try {
    (void)memory_scenario(yaml);
    FAIL("DeepSeek-V3 on 8 H100 was accepted");
  } catch (const io::input_error& e) {
    CHECK(std::string(e.what()) ==
          "memory_test:4:14: memory: device 0 needs 96.4 GiB > 79.6 GiB HBM of h100 (routed "
          "expert weights 76.1 GiB, attention weights 10.6 GiB, KV cache 4.29 GiB, and 8 more "
          "5.35 GiB)");
  }
  // The bound is the plan's total: just above it the layout loads, just below it does not.
  const auto fits = memory_scenario(yaml, {"chip.hbm_bytes=97 GiB"});
  CHECK(sim::run::stage_memory_plans(fits)[0].total_bytes == Approx(96.4 * gib).epsilon(1e-3));
  CHECK_THROWS_AS(memory_scenario(yaml, {"chip.hbm_bytes=96 GiB"}), io::input_error);
}

TEST_CASE("pipeline stages are named in a refusal and training keys are checked") {
  const std::string yaml = R"(name: train-too-big
model: {preset: mixtral-8x7b}
cluster: {preset: dgx-h100, nodes: 8}
parallelism: {tp: 1, ep: 8, pp: 4, vp: 8, dp: 2}
workload: {kind: train, batch_per_device: 1, context: 4096, micro_batches: 16}
)";
  CHECK_THROWS_WITH(memory_scenario(yaml),
                    Catch::Contains("memory: device 0 (pipeline stage 0 of 4) needs") &&
                        Catch::Contains("activations"));
  CHECK_NOTHROW(memory_scenario(yaml, {"workload.training.recompute=selective"}));
  CHECK_THROWS_WITH(memory_scenario(yaml, {"workload.training.zero=4"}),
                    Catch::Contains("workload.training.zero"));
  CHECK_THROWS_WITH(memory_scenario(yaml, {"parallelism.vp=3"}),
                    Catch::Contains("pp 4 x vp 3 = 12 virtual stages do not divide the 32 layers"));
  CHECK_THROWS_WITH(memory_scenario(yaml, {"parallelism.order=tp-ep-dp"}),
                    Catch::Contains("order 'tp-ep-dp' must name tp, ep, dp and pp once each"));
}

TEST_CASE("byte sizes read with three significant digits") {
  using sim::cluster::format_memory_bytes;
  CHECK(format_memory_bytes(512) == "512 B");
  CHECK(format_memory_bytes(1.5 * 1024 * 1024) == "1.50 MiB");
  CHECK(format_memory_bytes(93.4 * gib) == "93.4 GiB");
  CHECK(format_memory_bytes(1300 * gib) == "1.27 TiB");
  CHECK(format_memory_bytes(80e9) == "74.5 GiB");
}
