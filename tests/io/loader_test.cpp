// The strict loader: exact error messages for the mistakes users make, and what it accepts.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "sim/io/error.hpp"
#include "sim/io/scenario_loader.hpp"
#include "tests/io/load_error.hpp"

using moesim::io::load_options;
using moesim::io::load_scenario_text;
using moesim::test::error_of;

namespace {

// A valid scenario; tests edit one line of it.
const std::string base = R"(name: t
seed: 3
model:
  preset: mixtral-8x7b
  layers: 2
cluster:
  preset: dgx-h100
parallelism: {ep: 8}
sampling: {tokens_per_step: 64, math_hidden: 64}
workload:
  kind: decode
  batch_per_device: 4
  context: 128
  steps: 1
)";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto pos = s.find(from);
  REQUIRE(pos != std::string::npos);
  return s.replace(pos, from.size(), to);
}

}  // namespace

TEST_CASE("a valid scenario loads with presets expanded and overrides applied") {
  const auto set = load_scenario_text(base, "s.yaml");
  const auto& s = set.base;
  CHECK(s.name == "t");
  CHECK(s.seed == 3);
  CHECK(s.model.name == "mixtral-8x7b");
  CHECK(s.model.layers == 2);  // the scenario's key overrides the preset's 32
  CHECK(s.model.moe->experts == 8);
  CHECK(s.cluster.chip == "h100");
  CHECK(s.chip.name == "h100");
  CHECK(s.chip.hbm_bytes == 81559.0 * 1024 * 1024);  // nvidia-smi's total
  CHECK(s.parallelism.ep == 8);
  CHECK(s.workload.batch_per_device == 4);
  CHECK(set.strategies.empty());
}

TEST_CASE("a typo'd key is reported with its location and a suggestion") {
  CHECK(error_of(replace(base, "  batch_per_device: 4", "  batch_per_devise: 4")) ==
        "s.yaml:12:3: workload.batch_per_devise: unknown key; did you mean 'batch_per_device'?");
  CHECK(error_of(replace(base, "seed: 3", "sed: 3")) ==
        "s.yaml:2:1: sed: unknown key; did you mean 'seed'?");
}

TEST_CASE("unknown keys are reported before missing ones") {
  // `kind` is required; its misspelling must be reported as a typo, not as "missing kind".
  CHECK(error_of(replace(base, "  kind: decode", "  knid: decode")) ==
        "s.yaml:11:3: workload.knid: unknown key; did you mean 'kind'?");
}

TEST_CASE("a key with no plausible match lists the keys") {
  CHECK(error_of(replace(base, "seed: 3", "zzzzzzzz: 3"))
            .starts_with("s.yaml:2:1: zzzzzzzz: unknown key (expected one of: name, description, "
                         "seed, objective, model,"));
}

TEST_CASE("missing required keys name the key and what it is") {
  CHECK(error_of(replace(base, "  kind: decode\n", "")) ==
        "s.yaml:11:3: workload: missing required key 'kind' (decode, prefill, train or serve)");
}

TEST_CASE("wrong types are reported with what was expected") {
  CHECK(error_of(replace(base, "  steps: 1", "  steps: two")) ==
        "s.yaml:14:10: workload.steps: expected an integer from 1 to 1048576, got 'two'");
  CHECK(error_of(replace(base, "  steps: 1", "  steps: \"1\"")) ==
        "s.yaml:14:10: workload.steps: expected an integer from 1 to 1048576, got the string '1'");
  CHECK(error_of(replace(base, "  steps: 1", "  steps: 1.5")) ==
        "s.yaml:14:10: workload.steps: expected an integer from 1 to 1048576, got '1.5'");
  CHECK(error_of(replace(base, "parallelism: {ep: 8}", "parallelism: [8]")) ==
        "s.yaml:8:14: parallelism: expected a mapping (parallelism), got a list");
}

TEST_CASE("out-of-range values are refused") {
  CHECK(error_of(replace(base, "  steps: 1", "  steps: 0")) ==
        "s.yaml:14:10: workload.steps: 0 is out of range (expected an integer from 1 to 1048576)");
  CHECK(
      error_of(replace(base, "seed: 3", "seed: -1")) ==
      "s.yaml:2:7: seed: -1 is out of range (expected an integer from 0 to 18446744073709551615)");
  CHECK(error_of(replace(base, "seed: 3", "seed: 18446744073709551616")) ==
        "s.yaml:2:7: seed: 18446744073709551616 is out of range (expected an integer from 0 to "
        "18446744073709551615)");
  CHECK(error_of(replace(base, "seed: 3", "seed: 18446744073709551615")) == "no error");
}

TEST_CASE("NaN and infinities are refused") {
  const std::string with_cf =
      replace(base, "parallelism: {ep: 8}", "parallelism: {ep: 8}\nmoe: {capacity_factor: 1.0}");
  CHECK(error_of(with_cf) == "no error");
  CHECK(error_of(replace(with_cf, "capacity_factor: 1.0", "capacity_factor: .nan")) ==
        "s.yaml:9:24: moe.capacity_factor: expected a number >= 0 and <= 1e+06, got '.nan'");
  CHECK(error_of(replace(with_cf, "capacity_factor: 1.0", "capacity_factor: .inf")) ==
        "s.yaml:9:24: moe.capacity_factor: expected a number >= 0 and <= 1e+06, got '.inf'");
  CHECK(error_of(replace(with_cf, "capacity_factor: 1.0", "capacity_factor: -1")) ==
        "s.yaml:9:24: moe.capacity_factor: -1 is out of range (expected a number >= 0 and <= "
        "1e+06)");
}

TEST_CASE("units: bad units and negative sizes are refused, good ones converted once") {
  const std::string with_chip =
      replace(base, "parallelism: {ep: 8}", "parallelism: {ep: 8}\nchip: {hbm_bytes: 96 GiB}");
  const auto s = load_scenario_text(with_chip, "s.yaml").base;
  CHECK(s.chip.hbm_bytes == 96.0 * 1024 * 1024 * 1024);
  CHECK(error_of(replace(with_chip, "96 GiB", "96 GiBs")) ==
        "s.yaml:9:19: chip.hbm_bytes: unknown unit 'GiBs' for a size (accepted: B, kB, KB, MB, GB, "
        "TB, PB, KiB, MiB, GiB, TiB, PiB), got '96 GiBs'");
  CHECK(error_of(replace(with_chip, "96 GiB", "-96 GiB")) ==
        "s.yaml:9:19: chip.hbm_bytes: a size cannot be negative, got '-96 GiB'");
  CHECK(error_of(replace(with_chip, "hbm_bytes: 96 GiB", "hbm_bytes_per_s: 3")) ==
        "s.yaml:9:25: chip.hbm_bytes_per_s: expected a bandwidth with a unit, e.g. \"400 Gbps\", "
        "got '3'");
}

TEST_CASE("duplicate keys are errors") {
  CHECK(error_of(replace(base, "seed: 3", "seed: 3\nseed: 4")) ==
        "s.yaml:3:1: seed: duplicate key (first given at line 2)");
}

TEST_CASE("YAML syntax errors carry the position") {
  CHECK(error_of(replace(base, "parallelism: {ep: 8}", "parallelism: {ep: 8"))
            .starts_with("s.yaml:"));
  CHECK(error_of("name: [unclosed").find("YAML syntax error") != std::string::npos);
}

TEST_CASE("alias expansion and nesting depth are bounded") {
  // A "billion laughs" document: 9 levels of 10x expansion.
  std::string laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) laughs += (j ? ", *a" : "*a") + std::to_string(i - 1);
    laughs += "]\n";
  }
  CHECK(error_of(laughs).find("alias expansion is bounded") != std::string::npos);
  std::string deep = "name: " + std::string(200, '[') + std::string(200, ']');
  CHECK(error_of(deep).find("nesting deeper than 64 levels") != std::string::npos);
}

TEST_CASE("unknown presets get a suggestion") {
  CHECK(error_of(replace(base, "preset: mixtral-8x7b", "preset: mixtral-8x7")) ==
        "s.yaml:4:11: model.preset: unknown model preset 'mixtral-8x7'; did you mean "
        "'mixtral-8x7b'? (known: deepseek-v3, dense-13b, draft-1b, gemini-moe, glam, grok-1, "
        "gshard-600b, kimi-k2, mixtral-8x22b, mixtral-8x7b, olmoe-1b-7b, qwen3-235b-a22b, "
        "qwen3-30b-a3b, switch-c)");
}

TEST_CASE("enums suggest the closest name") {
  CHECK(error_of(replace(base, "kind: decode", "kind: decod")) ==
        "s.yaml:11:9: workload.kind: unknown value 'decod'; did you mean 'decode'? (expected one "
        "of: decode, prefill, train, serve)");
}

TEST_CASE("command-line --set overrides are checked like the file and named in errors") {
  load_options opt;
  opt.overrides = {"workload.steps=3", "model.moe.top_k=1"};
  const auto s = load_scenario_text(base, "s.yaml", opt).base;
  CHECK(s.workload.steps == 3);
  CHECK(s.model.moe->top_k == 1);

  opt.overrides = {"workload.stpes=3"};
  CHECK(error_of(base, opt) ==
        "--set workload.stpes=3: workload.stpes: unknown key; did you mean 'steps'?");
  opt.overrides = {"workload.steps=-2"};
  CHECK(error_of(base, opt) ==
        "--set workload.steps=-2: workload.steps: -2 is out of range (expected an integer from 1 "
        "to 1048576)");
  opt.overrides = {"workload.steps"};
  CHECK(error_of(base, opt) == "--set workload.steps: expected key.path=value");
  opt.overrides = {"seed.x=1"};
  CHECK(error_of(base, opt) == "--set seed.x=1: seed: cannot set a key inside '3'");
}

TEST_CASE("the command-line seed replaces the scenario seed") {
  load_options opt;
  opt.seed = 99;
  CHECK(load_scenario_text(base, "s.yaml", opt).base.seed == 99);
}

TEST_CASE("infeasible layouts are explained with the numbers") {
  CHECK(error_of(replace(base, "parallelism: {ep: 8}", "parallelism: {ep: 4}")) ==
        "s.yaml:8:14: parallelism: tp 1 x ep 4 x dp 1 x pp 1 = 4 devices, but cluster 'dgx-h100' "
        "has 8");
  CHECK(error_of(replace(base, "parallelism: {ep: 8}", "parallelism: {ep: 8}\ncluster: x")) ==
        "s.yaml:9:1: cluster: duplicate key (first given at line 6)");
  CHECK(error_of(replace(replace(base, "parallelism: {ep: 8}", "parallelism: {ep: 16}"),
                         "  preset: dgx-h100", "  preset: dgx-h100\n  nodes: 2")) ==
        "s.yaml:9:14: parallelism: ep 16 does not divide the 8 experts of mixtral-8x7b "
        "(divisors: 1, 2, 4, 8)");
}

TEST_CASE("model validation errors come from the model's own checks, located") {
  CHECK(error_of(replace(base, "  layers: 2", "  layers: 2\n  moe: {top_k: 9}")) ==
        "s.yaml:4:3: model: model 'mixtral-8x7b': moe.top_k 9 exceeds moe.experts 8");
}

TEST_CASE("strategies are resolved over the base and checked") {
  const std::string with = base + "strategies:\n  - {name: ep4x2, parallelism: {ep: 4, dp: 2}}\n";
  const auto set = load_scenario_text(with, "s.yaml");
  REQUIRE(set.strategies.size() == 1);
  CHECK(set.strategies[0].variant == "ep4x2");
  CHECK(set.strategies[0].parallelism.ep == 4);
  CHECK(set.strategies[0].parallelism.dp == 2);
  CHECK(set.strategies[0].model.layers == 2);
  CHECK(error_of(base + "strategies:\n  - {name: a, paralelism: {ep: 4}}\n") ==
        "s.yaml:16:15: strategy 'a': paralelism: unknown key; did you mean 'parallelism'?");
  CHECK(error_of(base + "strategies:\n  - {parallelism: {ep: 4}}\n") ==
        "s.yaml:16:5: strategies[0]: missing required key 'name' (strategy name)");
}

TEST_CASE("a strategy's errors name it and point at its own key") {
  const std::string head = base + "strategies:\n  - {name: ok}\n";
  // A bad value: at the value, with the strategy's name.
  CHECK(error_of(head + "  - {name: slow, workload: {context: 12x}}\n") ==
        "s.yaml:17:38: strategy 'slow': workload.context: expected an integer from 0 to "
        "16777216, got '12x'");
  // A typo: the key path is the strategy's own.
  CHECK(error_of(head + "  - {name: t2, workload: {knid: decode}}\n") ==
        "s.yaml:17:27: strategy 't2': workload.knid: unknown key; did you mean 'kind'?");
  CHECK(error_of(head + "  - {name: s, seed: 4}\n") ==
        "s.yaml:17:15: strategy 's': seed: a strategy cannot change this key");
  // A refusal of the merged layout: at the strategy's key the refusal names (tp), not at the
  // base's parallelism section.
  CHECK(error_of(head + "  - name: tp3\n    parallelism: {tp: 3, dp: 1}\n") ==
        "s.yaml:18:19: strategy 'tp3': parallelism: tp 3 x ep 8 x dp 1 x pp 1 = 24 devices, but "
        "cluster 'dgx-h100' has 8");
  // The refusal names a key the strategy did not set: its only change made it so.
  CHECK(error_of(head + "  - {name: six, model: {moe: {experts: 6}}}\n") ==
        "s.yaml:17:31: strategy 'six': parallelism: ep 8 does not divide the 6 experts of "
        "mixtral-8x7b (divisors: 1, 2, 3, 6)");
  CHECK(error_of(head + "  - {name: long, workload: {context: 16000000}}\n")
            .starts_with("s.yaml:17:29: strategy 'long': memory: device 0 needs"));
  // A base key made invalid by the strategy's change: at that change.
  CHECK(error_of(replace(head, "  kind: decode", "  kind: train\n  training: {zero: 1}") +
                 "  - {name: serve, workload: {kind: decode}}\n")
            .starts_with("s.yaml:18:30: strategy 'serve': workload.training: applies to kind "
                         "train only"));
  // Several changes, none on the refusal's path: at the strategy's entry.
  CHECK(error_of(head + "  - {name: two, workload: {context: 16000000, batch_per_device: 8}}\n")
            .starts_with("s.yaml:17:5: strategy 'two': memory: device 0 needs"));
  // Set from the command line: the override is the strategy's own key.
  load_options opt;
  opt.overrides = {"strategies[0].parallelism.ep=6"};
  CHECK(error_of(head, opt) ==
        "--set strategies[0].parallelism.ep=6: strategy 'ok': parallelism: tp 1 x ep 6 x dp 1 x "
        "pp 1 = 6 devices, but cluster 'dgx-h100' has 8");
}

TEST_CASE("a routing trace that cannot be replayed is refused at its key") {
  const std::string with = replace(base, "sampling: {tokens_per_step: 64, math_hidden: 64}",
                                   "sampling: {routing_trace: no-such-trace.json}");
  const std::string err = error_of(with);
  CHECK(err.starts_with("s.yaml:9:27: sampling.routing_trace: routing trace: cannot open "));
  // The sample trace records DeepSeek-V3 (256 experts): Mixtral has 8.
  const std::string mismatch = replace(base, "sampling: {tokens_per_step: 64, math_hidden: 64}",
                                       "sampling: {routing_trace: " MOESIM_SOURCE_DIR
                                       "/scenarios/data/sample-routing-trace.json}");
  CHECK(error_of(mismatch).ends_with(
      "sampling.routing_trace: the trace routes over 256 experts, but model mixtral-8x7b has 8"));
}

TEST_CASE("a routing trace must fit the model's layers, and reuse is explicit") {
  // A hand-made trace over Mixtral's 8 experts; `base` cuts Mixtral to 2 layers (0 and 1).
  const auto dir = std::filesystem::temp_directory_path() / "moesim-loader-test";
  std::filesystem::create_directories(dir);
  auto trace_with = [&](const std::string& name, const std::string& layers) {
    std::string path = (dir / name).string();
    std::ofstream(path) << "# experts: 8\nlayer,token,expert_ids,scores\n" << layers;
    return path;
  };
  auto with_trace = [&](const std::string& value) {
    return replace(base, "sampling: {tokens_per_step: 64, math_hidden: 64}",
                   "sampling: {routing_trace: " + value + "}");
  };
  const std::string beyond = trace_with("beyond.csv", "0,0,1 2,\n2,0,3 4,\n");
  CHECK(error_of(with_trace(beyond)) ==
        "s.yaml:9:27: sampling.routing_trace: routing trace " + beyond +
            " records layer 2, but model mixtral-8x7b has 2 layers (layer indices 0 to 1)");
  const std::string one = trace_with("one.csv", "0,0,1 2,\n0,1,3 4,\n");
  CHECK(error_of(with_trace(one)) ==
        "s.yaml:9:27: sampling.routing_trace: routing trace " + one +
            " records 1 of the 2 MoE layers this run routes (missing: 1); record them all, or "
            "write {file: " +
            one + ", reuse: cyclic} to replay the recorded layers in turn for the others");
  CHECK(error_of(with_trace("{file: " + one + ", reuse: cyclc}")) ==
        "s.yaml:9:" + std::to_string(27 + 16 + one.size()) +
            ": sampling.routing_trace.reuse: unknown value 'cyclc'; did you mean 'cyclic'? "
            "(expected one of: none, cyclic)");
  CHECK(error_of(with_trace("{fil: " + one + "}")) ==
        "s.yaml:9:28: sampling.routing_trace.fil: unknown key; did you mean 'file'?");
  // Reuse asked for: accepted, and echoed in the long form; a full trace echoes its file alone.
  const auto cyclic =
      load_scenario_text(with_trace("{file: " + one + ", reuse: cyclic}"), "s.yaml");
  CHECK(cyclic.base.sampling.routing_trace.reuse == moesim::sim::run::trace_reuse::cyclic);
  CHECK(moesim::io::scenario_to_json(cyclic.base)["sampling"]["routing_trace"] ==
        moesim::io::json{{"file", one}, {"reuse", "cyclic"}});
  const std::string both = trace_with("both.csv", "0,0,1 2,\n1,0,3 4,\n");
  const auto full = load_scenario_text(with_trace(both), "s.yaml");
  CHECK(moesim::io::scenario_to_json(full.base)["sampling"]["routing_trace"] == both);
  std::filesystem::remove_all(dir);
}

TEST_CASE("order auto is resolved by the placement rules when loading") {
  const auto gpu = load_scenario_text(
      replace(base, "parallelism: {ep: 8}", "parallelism: {ep: 4, tp: 2, order: auto}"), "s.yaml");
  CHECK(gpu.base.parallelism.order == "tp-ep-dp-pp");
  CHECK(gpu.base.parallelism.order_rule.rfind("auto: ", 0) == 0);
  // A TP group wider than a node is still refused, with the rule's advice.
  const std::string wide =
      replace(replace(base, "parallelism: {ep: 8}", "parallelism: {tp: 16, order: auto}"),
              "  preset: dgx-h100", "  preset: dgx-h100\n  nodes: 2");
  CHECK_THAT(error_of(wide), Catch::Contains("tensor parallelism must stay inside one"));
}
