// Prefill/decode disaggregation: instance placement, the KV transfer (bytes, flows, time) and
// a disaggregated run end to end.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "sim/io/error.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/run/kv_transfer.hpp"
#include "sim/run/machine.hpp"
#include "sim/run/serve_instances.hpp"
#include "sim/run/simulate.hpp"
#include "sim/run/trace_selection.hpp"

using namespace moesim;
using sim::run::serve_role_kind;

namespace {

/// `model` on `nodes` DGX H100 nodes, served disaggregated with the given roles.
sim::run::scenario pd(const std::string& model, int nodes, const std::string& prefill,
                      const std::string& decode,
                      const std::string& arrivals =
                          "arrivals: {process: closed, concurrency: 1}\n"
                          "    requests: 3") {
  return io::load_scenario_text(R"(
name: t
seed: 3
model: {preset: )" + model + R"(}
cluster: {preset: dgx-h100, nodes: )" +
                                    std::to_string(nodes) +
                                    R"(}
network: {model: analytical}
sampling: {tokens_per_step: 256, math_hidden: 32}
workload:
  kind: serve
  serve:
    )" + arrivals + R"(
    prompt: {dist: fixed, tokens: 1000}
    output: {dist: fixed, tokens: 5}
    scheduler: {max_running: 8, token_budget: 2048}
    disaggregation:
      prefill: )" + prefill + R"(
      decode: )" + decode + R"(
)",
                                "s.yaml")
      .base;
}

std::vector<sim::run::instance_placement> places(const sim::run::scenario& s) {
  return sim::run::place_instances(s);
}

}  // namespace

TEST_CASE("instances take contiguous device ranges, prefill first", "[disaggregation]") {
  const auto s = pd("mixtral-8x7b", 4, "{instances: 2, parallelism: {ep: 8}}",
                    "{instances: 1, parallelism: {tp: 2, ep: 8}}");
  const auto p = places(s);
  REQUIRE(p.size() == 3);
  CHECK(p[0].role == serve_role_kind::prefill);
  CHECK(p[0].first_device == 0);
  CHECK(p[1].first_device == 8);
  CHECK(p[1].name() == "prefill 1");
  CHECK(p[2].role == serve_role_kind::decode);
  CHECK(p[2].first_device == 16);
  CHECK(p[2].devices == 16);
  const auto decode = sim::run::instance_scenario(s, p[2]);
  CHECK(decode.parallelism.tp == 2);
  CHECK(decode.parallelism.ep == 8);
  CHECK(decode.cluster.nodes == 2);
  CHECK(!decode.workload.serve->disaggregation);
  CHECK(decode.seed != sim::run::instance_scenario(s, p[0]).seed);

  sim::trace_recorder trace(false);
  sim::run::cluster_fabric fabric(s, trace, {});
  sim::run::machine m(fabric, decode, p[2].first_device);
  CHECK(m.device(0, 0, 0, 0) == 16);
  CHECK(m.device(0, 0, 3, 1) == 16 + 1 + 2 * 3);
  CHECK(m.tp_group(7, 0, 0) == std::vector<topo::device_id>{30, 31});
  CHECK_THROWS_AS(sim::run::machine(fabric, decode, 24), std::invalid_argument);
}

TEST_CASE("instances must use exactly the cluster's devices", "[disaggregation]") {
  const std::string prefill = "{instances: 1, parallelism: {ep: 8}}";
  CHECK_THROWS_WITH(pd("mixtral-8x7b", 3, prefill, "{instances: 1, parallelism: {ep: 8}}"),
                    Catch::Contains("1 prefill instance(s) x 8 devices + 1 decode instance(s) x 8 "
                                    "devices = 16 devices, but the cluster has 24 (8 too few)"));
  CHECK_THROWS_WITH(pd("mixtral-8x7b", 1, prefill, "{instances: 1, parallelism: {ep: 8}}"),
                    Catch::StartsWith("s.yaml:17:7: workload.serve.disaggregation: ") &&
                        Catch::Contains("= 16 devices, but the cluster has 8 (8 too many)"));
  CHECK_THROWS_WITH(pd("mixtral-8x7b", 2, "{instances: 1, parallelism: {ep: 6}}",
                       "{instances: 1, parallelism: {ep: 8}}"),
                    Catch::StartsWith("s.yaml:17:16: workload.serve.disaggregation.prefill: an "
                                      "instance of tp 1 x ep 6 = 6 devices must be whole nodes of "
                                      "8 GPUs or divide one"));
  // A role's layout is checked as its own scenario: ep 16 does not divide 8 experts.
  CHECK_THROWS_WITH(pd("mixtral-8x7b", 3, prefill, "{instances: 1, parallelism: {ep: 16}}"),
                    Catch::StartsWith("s.yaml:18:15: workload.serve.disaggregation.decode: ") &&
                        Catch::Contains("ep 16"));
}

TEST_CASE("KV transfer bytes: GQA heads and the MLA latent", "[disaggregation]") {
  const auto mixtral = pd("mixtral-8x7b", 2, "{parallelism: {ep: 8}}", "{parallelism: {ep: 8}}");
  // Mixtral 8x7B: 32 layers x 2 (K, V) x 8 KV heads x 128 dims x 2 bytes = 131,072 B per token.
  CHECK(sim::run::kv_transfer_bytes(mixtral.model, models::weight_dtype::bf16, 1000) ==
        131072000.0);
  auto deepseek =
      pd("deepseek-v3, layers: 4", 2, "{parallelism: {ep: 8}}", "{parallelism: {ep: 8}}");
  deepseek.model.layers = 61;  // loaded with 4 so that its weights fit 8 GPUs
  // DeepSeek-V3: 61 layers x (512 latent + 64 RoPE key) x 2 bytes = 70,272 B per token.
  CHECK(sim::run::kv_transfer_bytes(deepseek.model, models::weight_dtype::bf16, 2000) ==
        140544000.0);
}

TEST_CASE("KV transfer flows go between the request's TP groups", "[disaggregation]") {
  sim::trace_recorder trace(false);
  const auto flows_of = [&](const std::string& model) {
    const auto s = pd(model, 2, "{parallelism: {tp: 2, ep: 4}}", "{parallelism: {tp: 4, ep: 2}}");
    const auto p = places(s);
    const auto ps = sim::run::instance_scenario(s, p[0]);
    const auto ds = sim::run::instance_scenario(s, p[1]);
    sim::run::cluster_fabric fabric(s, trace, {});
    const sim::run::machine from(fabric, ps, p[0].first_device);
    const sim::run::machine to(fabric, ds, p[1].first_device);
    return sim::run::kv_transfer_flows(s.model, from, 1, to, 1, 400.0, 1);
  };
  using F = std::vector<std::pair<std::pair<int, int>, double>>;
  const auto pairs = [](const std::vector<sim::net::flow_request>& v) {
    F out;
    for (const auto& f : v) out.push_back({{f.src, f.dst}, f.bytes});
    return out;
  };
  // GQA (8 KV heads): prefill EP rank 1 is devices 2-3, each with half the heads; decode EP
  // rank 1 is devices 12-15 on node 1, each needing a quarter: its quarter's holder sends it.
  CHECK(pairs(flows_of("mixtral-8x7b")) ==
        F{{{2, 12}, 100.0}, {{2, 13}, 100.0}, {{3, 14}, 100.0}, {{3, 15}, 100.0}});
  // MLA: every TP rank holds the whole latent; each decode rank gets all of it, the two prefill
  // ranks sharing the sending.
  CHECK(pairs(flows_of("deepseek-v3, layers: 4")) ==
        F{{{2, 12}, 400.0}, {{3, 13}, 400.0}, {{2, 14}, 400.0}, {{3, 15}, 400.0}});
}

TEST_CASE("a KV transfer between nodes takes the NIC's time", "[disaggregation]") {
  const auto s = pd("mixtral-8x7b", 2, "{parallelism: {ep: 8}}", "{parallelism: {ep: 8}}");
  const auto p = places(s);
  const auto ps = sim::run::instance_scenario(s, p[0]);
  const auto ds = sim::run::instance_scenario(s, p[1]);
  sim::trace_recorder trace(false);
  sim::run::cluster_fabric fabric(s, trace, {});
  const sim::run::machine from(fabric, ps, 0);
  const sim::run::machine to(fabric, ds, 8);
  const double bytes = sim::run::kv_transfer_bytes(s.model, models::weight_dtype::bf16, 1000);
  const auto flows = sim::run::kv_transfer_flows(s.model, from, 3, to, 3, bytes, 1);
  REQUIRE(flows.size() == 1);
  CHECK(flows[0].src == 3);
  CHECK(flows[0].dst == 11);  // GPU 3 of node 1: the same rail
  sim::time_ps end = 0;
  fabric.network().start_batch(flows, [&](std::size_t) { end = fabric.sim().now(); });
  fabric.sim().run();
  // dgx-h100 with h100: a 50 GB/s NDR NIC at efficiency 0.95 on each side, 1.35 us NIC latency
  // per side and one 330 ns rail-leaf switch: 131.072 MB / 47.5 GB/s + 3.03 us = 2.7624 ms.
  CHECK(sim::seconds(end) == Approx(131072000.0 / 47.5e9 + 3.03e-6).epsilon(1e-6));
}

TEST_CASE("a disaggregated run finishes every request, TTFT ends at the prefill",
          "[disaggregation]") {
  const auto s = pd("mixtral-8x7b", 2, "{parallelism: {ep: 8}}", "{parallelism: {ep: 8}}");
  sim::trace_recorder trace(false);
  const auto r = sim::run::simulate(s, trace);
  REQUIRE(r.serving);
  REQUIRE(r.disaggregation);
  const auto& sv = *r.serving;
  const auto& x = *r.disaggregation;
  CHECK(sv.requests == 3);
  CHECK(x.transfers == 3);
  CHECK(x.transfer_bytes.mean == 131072000.0);
  // One request at a time: each prefill is one iteration of 1000 tokens, each decode instance
  // iteration decodes that request's next token (4 after the first).
  CHECK(x.prefill.iterations.iterations == 3);
  CHECK(x.prefill.iterations.batch_tokens_max == 1000);
  CHECK(x.decode.iterations.iterations == 3 * 4);
  CHECK(x.decode.iterations.batch_tokens_max == 1);
  CHECK(sv.itl_s.count == 3 * 4);
  // TTFT is the prefill alone (closed loop: no queueing, so each request's TTFT is its one
  // prefill iteration); the first gap spans the transfer and one decode step, the other gaps are
  // decode steps alone.
  CHECK(x.transfer_s.mean > 0.002);
  CHECK(sv.itl_s.p50 > 0);
  CHECK(sv.itl_s.p99 == Approx(x.transfer_s.mean + sv.itl_s.p50).epsilon(0.05));
  CHECK(sv.ttft_s.mean == Approx(x.prefill.iterations.busy_s / 3).epsilon(1e-6));
  // Each request: TTFT + transfer + 4 decode steps; the first gap holds the transfer.
  const double gaps_per_request = sv.itl_s.mean * 4;
  CHECK(sv.e2e_s.mean == Approx(sv.ttft_s.mean + gaps_per_request).epsilon(1e-9));
  CHECK(gaps_per_request == Approx(x.transfer_s.mean + 4 * sv.itl_s.p50).epsilon(0.05));
  // Busy throughput: the prompt tokens over the prefill's iteration time, per device.
  CHECK(x.prefill.iterations.batch_tokens_total == 3000);
  CHECK(x.prefill.iterations.busy_s > 0);
  CHECK(x.prefill.busy_tokens_per_s_per_device() == Approx(3000 / x.prefill.iterations.busy_s / 8));
  CHECK(x.decode.iterations.batch_tokens_total == 12);
  CHECK(x.decode.devices() == 8);
}

TEST_CASE("a role's exchange overrides moe.exchange for its instances", "[disaggregation]") {
  const auto s =
      pd("mixtral-8x7b", 2, "{parallelism: {ep: 8}, exchange: per_rank}", "{parallelism: {ep: 8}}");
  const auto p = places(s);
  CHECK(sim::run::instance_scenario(s, p[0]).moe.exchange == sim::run::exchange_kind::per_rank);
  CHECK(sim::run::instance_scenario(s, p[1]).moe.exchange == s.moe.exchange);
}

TEST_CASE("trace devices of a disaggregated run are cluster devices", "[disaggregation]") {
  const auto s = pd("mixtral-8x7b", 2, "{parallelism: {ep: 8}}", "{parallelism: {ep: 8}}");
  CHECK_NOTHROW(sim::run::check_trace_devices(s, {0, 9, 15}));
  CHECK_THROWS_WITH(sim::run::check_trace_devices(s, {16}),
                    Catch::Contains("the layout has 16 devices (0-15)"));
}

TEST_CASE("a serving run's default trace window: 250 ms from the middle of duration_s",
          "[disaggregation]") {
  auto s = pd("mixtral-8x7b", 2, "{parallelism: {ep: 8}}", "{parallelism: {ep: 8}}",
              "arrivals: {process: poisson, rate: 4}\n    duration_s: 4");
  auto [from, to] = sim::run::default_serve_trace_window(s);
  CHECK(from == 2 * sim::ps_per_s);
  CHECK(to - from == 250 * sim::ps_per_ms);
  s = pd("mixtral-8x7b", 2, "{parallelism: {ep: 8}}", "{parallelism: {ep: 8}}");
  std::tie(from, to) = sim::run::default_serve_trace_window(s);  // bounded by count: from 0
  CHECK(from == 0);
  CHECK(to == 250 * sim::ps_per_ms);
}

namespace {

const char* strategies_base = R"(
name: t
model: {preset: mixtral-8x7b}
cluster: {preset: dgx-h100, nodes: 2}
workload:
  kind: serve
  serve:
    arrivals: {process: poisson, rate: 8}
    requests: 10
    prompt: {dist: fixed, tokens: 512}
    output: {dist: fixed, tokens: 16}
)";

}  // namespace

TEST_CASE("a strategy is aggregated by its parallelism, disaggregated by its roles",
          "[disaggregation]") {
  // Disaggregated as written: a strategy's parallelism drops the roles.
  const auto set = io::load_scenario_text(std::string(strategies_base) + R"(
    disaggregation:
      prefill: {parallelism: {ep: 8}}
      decode: {parallelism: {ep: 8}}
strategies:
  - {name: agg, parallelism: {ep: 8, tp: 2}}
  - name: two-decode
    workload: {serve: {disaggregation: {prefill: {parallelism: {ep: 8}}, decode: {parallelism: {ep: 4}, instances: 2}}}}
)",
                                          "s.yaml");
  REQUIRE(set.strategies.size() == 2);
  CHECK(!set.strategies[0].workload.serve->disaggregation);
  CHECK(set.strategies[0].parallelism.tp == 2);
  CHECK(set.strategies[1].workload.serve->disaggregation->decode.instances == 2);
  CHECK(set.strategies[1].workload.serve->disaggregation->decode.parallelism.ep == 4);
  // Aggregated as written: a strategy's roles drop the parallelism.
  const auto agg =
      io::load_scenario_text(std::string("parallelism: {ep: 8, tp: 2}\n") + strategies_base + R"(
strategies:
  - name: pd
    workload: {serve: {disaggregation: {prefill: {parallelism: {ep: 8}}, decode: {parallelism: {ep: 8}}}}}
)",
                             "s.yaml");
  CHECK(!agg.base.workload.serve->disaggregation);
  REQUIRE(agg.strategies.size() == 1);
  CHECK(agg.strategies[0].workload.serve->disaggregation);
  CHECK(agg.strategies[0].parallelism.devices() == 1);
}
