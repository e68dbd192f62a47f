// workload kind serve: what the loader reads into serve_spec, and what it refuses.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "sim/io/error.hpp"
#include "sim/io/scenario_loader.hpp"
#include "tests/io/load_error.hpp"

using moesim::io::input_error;
using moesim::io::load_scenario_file;
using moesim::io::load_scenario_text;
using moesim::test::error_of;
namespace serve = moesim::serve;

namespace {

const std::string head = R"(name: t
model: {preset: mixtral-8x7b, layers: 2}
cluster: {preset: dgx-h100}
parallelism: {ep: 8}
workload:
  kind: serve
)";

}  // namespace

TEST_CASE("serve: every key reaches serve_spec", "[io][serve]") {
  const auto set = load_scenario_text(head + R"(  serve:
    arrivals: {process: gamma, rate: 8, cv: 2}
    requests: 2000
    duration_s: 600
    prompt: {dist: lognormal, mean: 1024, cv: 0.5, min: 16, max: 8192}
    output: {dist: uniform, min: 10, max: 300}
    prefix_cache: {hit_rate: 0.3, tokens: 512}
    scheduler: {max_running: 128, token_budget: 4096, chunk_tokens: 1024, chunked_prefill: true,
                block_tokens: 32, kv_memory_fraction: 0.8}
    slo: {ttft_s: 2, tpot_s: 0.1}
)",
                                      "s.yaml");
  const auto& w = set.base.workload;
  CHECK(w.kind == moesim::sim::run::workload_kind::serve);
  REQUIRE(w.serve);
  const serve::request_spec& r = w.serve->requests;
  CHECK(r.arrivals == serve::arrival_kind::gamma);
  CHECK(r.rate_per_s == 8);
  CHECK(r.cv == 2);
  CHECK(r.count == 2000);
  CHECK(r.duration_s == 600);
  CHECK(r.prompt.shape == serve::length_dist::kind::lognormal);
  CHECK(r.prompt.mean == 1024);
  CHECK(r.prompt.cv == 0.5);
  CHECK(r.prompt.min == 16);
  CHECK(r.prompt.max == 8192);
  CHECK(r.output.shape == serve::length_dist::kind::uniform);
  CHECK(r.output.min == 10);
  CHECK(r.output.max == 300);
  CHECK(r.prefix_hit_rate == 0.3);
  CHECK(r.prefix_tokens == 512);
  const serve::scheduler_spec& s = w.serve->scheduler;
  CHECK(s.max_running == 128);
  CHECK(s.token_budget == 4096);
  CHECK(s.chunk_tokens == 1024);
  CHECK(s.chunked_prefill);
  CHECK(s.block_tokens == 32);
  CHECK(s.kv_memory_fraction == 0.8);
  CHECK(w.serve->slo.ttft_s == 2);
  CHECK(w.serve->slo.tpot_s == 0.1);
}

TEST_CASE("serve: defaults and the closed loop", "[io][serve]") {
  const auto set = load_scenario_text(head + R"(  serve:
    arrivals: {process: closed, concurrency: 64}
    requests: 100
    prompt: {dist: fixed, tokens: 512}
    output: {dist: fixed, tokens: 128}
)",
                                      "s.yaml");
  const auto& spec = *set.base.workload.serve;
  CHECK(spec.requests.arrivals == serve::arrival_kind::closed);
  CHECK(spec.requests.concurrency == 64);
  CHECK(spec.requests.prompt.value == 512);
  CHECK(spec.requests.duration_s == 0);
  CHECK(spec.scheduler.max_running == serve::scheduler_spec{}.max_running);
  CHECK(spec.slo.ttft_s == 0);
}

TEST_CASE("serve: a request trace is read relative to the scenario", "[io][serve]") {
  const auto dir = std::filesystem::temp_directory_path() / "moesim-serve-loader-test";
  std::filesystem::create_directories(dir / "data");
  std::ofstream(dir / "data" / "r.jsonl")
      << "{\"arrival_s\": 0.5, \"prompt_tokens\": 40, \"output_tokens\": 3}\n"
         "{\"arrival_s\": 0.75, \"prompt_tokens\": 41, \"output_tokens\": 4, "
         "\"cached_prompt_tokens\": 8}\n";
  std::ofstream(dir / "s.yaml") << head
                                << "  serve: {arrivals: {process: trace, file: data/r.jsonl}}\n";
  const auto set = load_scenario_file((dir / "s.yaml").string());
  const auto& rows = set.base.workload.serve->requests.trace;
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].arrival == 750'000'000'000);
  CHECK(rows[1].cached_prompt_tokens == 8);

  std::ofstream(dir / "data" / "r.jsonl")
      << "{\"arrival_s\": 0.5, \"prompt_tokens\": 40, \"output_tokens\": 3}\n"
         "{\"arrival_s\": 0.25, \"prompt_tokens\": 41, \"output_tokens\": 4}\n";
  try {
    (void)load_scenario_file((dir / "s.yaml").string());
    FAIL("an unsorted trace was accepted");
  } catch (const input_error& e) {
    CHECK(std::string(e.what()) ==
          (dir / "data" / "r.jsonl").string() +
              ":2:15: arrival_s: expected arrivals in non-decreasing order (at least 0.5, the "
              "arrival at line 1), got '0.25'");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("serve: what each kind and process refuses", "[io][serve]") {
  const std::string poisson =
      "  serve:\n    arrivals: {process: poisson, rate: 4}\n"
      "    requests: 10\n    prompt: {dist: fixed, tokens: 8}\n"
      "    output: {dist: fixed, tokens: 8}\n";
  CHECK(error_of(head + poisson) == "no error");
  CHECK(error_of(head) ==
        "s.yaml:6:3: workload: missing required key 'serve' (kind serve: the request arrivals, "
        "their lengths, the scheduler and the SLOs)");
  std::string decode = head + poisson;
  decode.replace(decode.find("kind: serve"), 11, "kind: decode");
  CHECK(error_of(decode) ==
        "s.yaml:8:5: workload.serve: applies to kind serve only; this "
        "workload is decode");
  CHECK(error_of(head + "  steps: 4\n" + poisson) ==
        "s.yaml:7:10: workload.steps: not used by kind serve: workload.serve.requests or "
        "duration_s decides how long the run lasts");
  CHECK(error_of(head + "  batch_per_device: 4\n" + poisson) ==
        "s.yaml:7:21: workload.batch_per_device: not used by kind serve: the scheduler's "
        "max_running and token_budget (workload.serve.scheduler) decide the batch");
  CHECK(error_of(head + "  serve:\n    arrivals: {process: poisson, rate: 4}\n"
                        "    prompt: {dist: fixed, tokens: 8}\n"
                        "    output: {dist: fixed, tokens: 8}\n") ==
        "s.yaml:8:5: workload.serve: needs a bound on the requests: requests (a count), "
        "duration_s (seconds of arrivals), or both");
  CHECK(error_of(head + "  serve:\n    arrivals: {process: poisson, rate: 4}\n"
                        "    requests: 10\n    output: {dist: fixed, tokens: 8}\n") ==
        "s.yaml:8:5: workload.serve: missing required key 'prompt' (its length distribution, "
        "e.g. {dist: fixed, tokens: 512})");
  CHECK(error_of(head + "  serve:\n    arrivals: {process: gamma, rate: 4}\n    requests: 10\n") ==
        "s.yaml:8:15: workload.serve.arrivals: missing required key 'cv' for process: gamma (it "
        "takes process, rate, cv)");
  CHECK(error_of(head + "  serve:\n    arrivals: {process: trace, file: x.csv}\n"
                        "    prompt: {dist: fixed, tokens: 8}\n") ==
        "s.yaml:9:13: workload.serve.prompt: not used with a trace: its rows give each "
        "request's prompt_tokens, output_tokens and cached_prompt_tokens");
  CHECK(error_of(head + "  serve:\n    arrivals: {process: poisson, rate: 4}\n    requests: 10\n"
                        "    prompt: {dist: uniform, min: 9, max: 8}\n"
                        "    output: {dist: fixed, tokens: 8}\n") ==
        "s.yaml:10:42: workload.serve.prompt.max: max 8 is below min 9");
  CHECK(error_of(head + "  serve:\n    arrivals: {process: poisson, rate: 4}\n    requests: 10\n"
                        "    prompt: {dist: fixed, tokens: 0}\n"
                        "    output: {dist: fixed, tokens: 8}\n") ==
        "s.yaml:10:35: workload.serve.prompt.tokens: 0 is out of range (expected an integer from "
        "1 to 1073741824)");
}
