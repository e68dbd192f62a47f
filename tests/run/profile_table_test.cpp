// Measured op profiles: interpolation solved by hand, every parse error's exact message, the
// example profile against the roofline it was generated from, and the scenario key.
#include "sim/cluster/profile_table.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "models/model_spec.hpp"
#include "sim/cluster/roofline.hpp"
#include "sim/io/error.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/io/spec_loader.hpp"
#include "sim/run/op_costs.hpp"

using namespace moesim;
using sim::ps_per_us;
using sim::time_ps;
using sim::cluster::parse_profile_csv;
using sim::cluster::profile_table;

namespace {

const std::string header = "op,dtype,tokens,context,time_us\n";

profile_table table(const std::string& rows) {
  return parse_profile_csv(header + rows, "p.csv");
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A scenario that loads (5 lines); tests append keys to it.
const std::string base = R"(name: t
model: {preset: mixtral-8x7b, layers: 2}
cluster: {preset: dgx-h100}
parallelism: {ep: 8}
workload: {kind: decode, batch_per_device: 4, context: 128, steps: 1}
)";

std::string load_error(const std::string& yaml) {
  try {
    (void)io::load_scenario_text(yaml, "s.yaml");
  } catch (const io::input_error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("profile: token interpolation, exact rows and extrapolation") {
  // Not proportional between rows (a fixed part), so the extrapolation rule is visible.
  const auto t = table(
      "experts,bf16,100,0,30\n"
      "experts,bf16,200,0,40\n"
      "experts,bf16,400,0,100\n");
  CHECK(t.rows() == 3);
  CHECK(t.origin() == "p.csv");
  // Exact rows.
  CHECK(t.lookup("experts", "bf16", 100, 0) == 30 * ps_per_us);
  CHECK(t.lookup("experts", "bf16", 200, 0) == 40 * ps_per_us);
  CHECK(t.lookup("experts", "bf16", 400, 0) == 100 * ps_per_us);
  // Linear between the bracketing rows: 30 + (40 - 30) * 50/100; 40 + 60 * 100/200;
  // 30 + 10 * 25/100; 30 + 10 * 50.5/100.
  CHECK(t.lookup("experts", "bf16", 150, 0) == 35 * ps_per_us);
  CHECK(t.lookup("experts", "bf16", 300, 0) == 70 * ps_per_us);
  CHECK(t.lookup("experts", "bf16", 125, 0) == 32'500'000);
  CHECK(t.lookup("experts", "bf16", 150.5, 0) == 35'050'000);
  // Above the largest: 100 us * 800/400. Below the smallest: 30 us * 50/100, and 0 at 0.
  CHECK(t.lookup("experts", "bf16", 800, 0) == 200 * ps_per_us);
  CHECK(t.lookup("experts", "bf16", 50, 0) == 15 * ps_per_us);
  CHECK(t.lookup("experts", "bf16", 0, 0) == 0);
  // Only attention depends on context: the argument is ignored for experts.
  CHECK(t.lookup("experts", "bf16", 150, 4096) == 35 * ps_per_us);
  // No row for (op, dtype): nothing, so the caller keeps its own model.
  CHECK_FALSE(t.lookup("router", "bf16", 100, 0).has_value());
  CHECK_FALSE(t.lookup("experts", "fp8", 100, 0).has_value());
  CHECK_FALSE(t.lookup("experts_backward", "bf16", 100, 0).has_value());
  CHECK_FALSE(profile_table{}.lookup("attention", "bf16", 1, 1).has_value());
}

TEST_CASE("profile: one row scales proportionally to tokens") {
  const auto t = table("lm_head,int8,64,0,8\n");
  CHECK(t.lookup("lm_head", "int8", 64, 0) == 8 * ps_per_us);
  CHECK(t.lookup("lm_head", "int8", 16, 0) == 2 * ps_per_us);
  CHECK(t.lookup("lm_head", "int8", 256, 0) == 32 * ps_per_us);
}

TEST_CASE("profile: attention is bilinear in tokens and context") {
  const auto t = table(
      "attention,bf16,100,0,10\n"
      "attention,bf16,200,0,20\n"
      "attention,bf16,100,1000,30\n"
      "attention,bf16,200,1000,50\n");
  CHECK(t.lookup("attention", "bf16", 200, 1000) == 50 * ps_per_us);
  // Tokens 150 at both contexts: 15 and 40 us; context 500 halfway: 27.5 us.
  CHECK(t.lookup("attention", "bf16", 150, 500) == 27'500'000);
  CHECK(t.lookup("attention", "bf16", 150, 0) == 15 * ps_per_us);
  // Tokens 200 (exact) at context 250: 20 + (50 - 20) * 250/1000.
  CHECK(t.lookup("attention", "bf16", 200, 250) == 27'500'000);
  // Context above the largest: the nearest (1000) times (2001 + 1)/(1000 + 1).
  CHECK(t.lookup("attention", "bf16", 100, 2001) == 60 * ps_per_us);
}

TEST_CASE("profile: attention context outside the measured range scales with context + 1") {
  const auto t = table(
      "attention,bf16,100,99,10\n"
      "attention,bf16,100,399,40\n");
  // Below: 10 us * (49 + 1)/(99 + 1). Above: 40 us * (799 + 1)/(399 + 1).
  CHECK(t.lookup("attention", "bf16", 100, 49) == 5 * ps_per_us);
  CHECK(t.lookup("attention", "bf16", 100, 799) == 80 * ps_per_us);
  // Both outside: tokens 50 gives 20 us at context 399 (proportional), times 2.
  CHECK(t.lookup("attention", "bf16", 50, 799) == 40 * ps_per_us);
  // Tokens 200 gives 20 and 80 us at the two contexts; context 249 is halfway: 50 us.
  CHECK(t.lookup("attention", "bf16", 200, 249) == 50 * ps_per_us);
}

TEST_CASE("profile: contexts need not share token counts") {
  const auto t = table(
      "attention_backward,fp8,100,0,10\n"
      "attention_backward,fp8,200,0,20\n"
      "attention_backward,fp8,400,1000,80\n");
  // At tokens 200: 20 us at context 0, 80 * 200/400 = 40 us at 1000; context 500: 30 us.
  CHECK(t.lookup("attention_backward", "fp8", 200, 500) == 30 * ps_per_us);
  CHECK_FALSE(t.lookup("attention", "fp8", 200, 500).has_value());
}

TEST_CASE("profile: comments, blank lines, spaces and CRLF are accepted") {
  const auto t = parse_profile_csv(
      "# measured with my harness\r\n\r\n op , dtype,tokens,context,time_us\r\n"
      "   # a comment between rows\r\n"
      "experts ,bf16, 100 ,0,\t30\r\n"
      "\n"
      "router,fp8,8,0,2.5e0",
      "p.csv");
  CHECK(t.rows() == 2);
  CHECK(t.lookup("experts", "bf16", 100, 0) == 30 * ps_per_us);
  CHECK(t.lookup("router", "fp8", 8, 0) == 2'500'000);
}

TEST_CASE("profile: lookup refuses names and numbers a caller cannot mean") {
  const auto t = table("experts,bf16,100,0,30\n");
  CHECK_THROWS_WITH(t.lookup("expert", "bf16", 1, 0), "profile lookup: unknown op 'expert'");
  CHECK_THROWS_WITH(t.lookup("experts", "fp16", 1, 0), "profile lookup: unknown dtype 'fp16'");
  CHECK_THROWS_WITH(t.lookup("experts", "bf16", -1, 0),
                    "profile lookup: expected tokens and context finite and >= 0, got -1 and 0");
  CHECK_THROWS_WITH(t.lookup("experts", "bf16", 1, -0.5),
                    "profile lookup: expected tokens and context finite and >= 0, got 1 and -0.5");
}

TEST_CASE("profile: header errors") {
  const std::string expected = "expected the header 'op,dtype,tokens,context,time_us', got ";
  CHECK_THROWS_WITH(parse_profile_csv("op,dtype,tokens,ctx,time_us\n", "p.csv"),
                    "p.csv:1:17: " + expected + "'op,dtype,tokens,ctx,time_us'");
  CHECK_THROWS_WITH(parse_profile_csv("# mine\n\nop,dtype,tokens\n", "p.csv"),
                    "p.csv:3:16: " + expected + "'op,dtype,tokens'");
  CHECK_THROWS_WITH(parse_profile_csv("op,dtype,tokens,context,time_us,notes\n", "p.csv"),
                    "p.csv:1:33: " + expected + "'op,dtype,tokens,context,time_us,notes'");
  // Rows without a header.
  CHECK_THROWS_WITH(parse_profile_csv("experts,bf16,100,0,30\n", "p.csv"),
                    "p.csv:1:1: " + expected + "'experts,bf16,100,0,30'");
  CHECK_THROWS_WITH(parse_profile_csv("", "p.csv"), "p.csv:1:1: " + expected + "end of file");
  CHECK_THROWS_WITH(parse_profile_csv("# nothing yet\n", "p.csv"),
                    "p.csv:2:1: " + expected + "end of file");
  CHECK_THROWS_WITH(parse_profile_csv(header, "p.csv"),
                    "p.csv:2:1: expected at least one row after the header, got end of file");
}

TEST_CASE("profile: row errors name line, column and text") {
  const std::string fields = "expected 5 fields op,dtype,tokens,context,time_us, got ";
  CHECK_THROWS_WITH(table("experts,bf16,64,0\n"), "p.csv:2:18: " + fields + "'experts,bf16,64,0'");
  CHECK_THROWS_WITH(table("experts,bf16,64,0,1.5,2\n"),
                    "p.csv:2:23: " + fields + "'experts,bf16,64,0,1.5,2'");

  const std::string ops =
      "expected an op (attention, router, experts, dense_ffn, lm_head, norms, activation or "
      "optimizer, optionally with _backward), got ";
  CHECK_THROWS_WITH(table("expert,bf16,64,0,1.5\n"),
                    "p.csv:2:1: " + ops + "'expert'; did you mean 'experts'?");
  CHECK_THROWS_WITH(table("experts,bf16,64,0,1.5\n  expert_backward,bf16,64,0,1.5\n"),
                    "p.csv:3:3: " + ops + "'expert_backward'; did you mean 'experts_backward'?");
  CHECK_THROWS_WITH(table("rotuer,bf16,64,0,1.5\n"),
                    "p.csv:2:1: " + ops + "'rotuer'; did you mean 'router'?");
  CHECK_THROWS_WITH(table("attn,bf16,64,0,1.5\n"), "p.csv:2:1: " + ops + "'attn'");

  CHECK_THROWS_WITH(table("experts,fp16,64,0,1.5\n"),
                    "p.csv:2:9: expected a dtype (bf16, fp8 or int8), got 'fp16'");

  const std::string tokens = "expected tokens as an integer in [1, 2^53], got ";
  CHECK_THROWS_WITH(table("experts,bf16,0,0,1.5\n"), "p.csv:2:14: " + tokens + "'0'");
  CHECK_THROWS_WITH(table("experts,bf16,-3,0,1.5\n"), "p.csv:2:14: " + tokens + "'-3'");
  CHECK_THROWS_WITH(table("experts,bf16,1.5,0,1.5\n"), "p.csv:2:14: " + tokens + "'1.5'");
  CHECK_THROWS_WITH(table("experts,bf16,many,0,1.5\n"), "p.csv:2:14: " + tokens + "'many'");
  CHECK_THROWS_WITH(table("experts,bf16,,0,1.5\n"), "p.csv:2:14: " + tokens + "''");
  CHECK_THROWS_WITH(table("experts,bf16,9007199254740993,0,1.5\n"),
                    "p.csv:2:14: " + tokens + "'9007199254740993'");

  const std::string context = "expected context as an integer in [0, 2^53], got ";
  CHECK_THROWS_WITH(table("attention,bf16,64,-1,1.5\n"), "p.csv:2:19: " + context + "'-1'");
  CHECK_THROWS_WITH(table("attention,bf16,64,long,1.5\n"), "p.csv:2:19: " + context + "'long'");
  CHECK_THROWS_WITH(
      table("experts,bf16,64,128,1.5\n"),
      "p.csv:2:17: expected context 0 for experts (only attention depends on context), got '128'");

  const std::string time =
      "expected time_us as a positive number of microseconds below 9.2e12, got ";
  CHECK_THROWS_WITH(table("experts,bf16,64,0,0\n"), "p.csv:2:19: " + time + "'0'");
  CHECK_THROWS_WITH(table("experts,bf16,64,0,-2\n"), "p.csv:2:19: " + time + "'-2'");
  CHECK_THROWS_WITH(table("experts,bf16,64,0,fast\n"), "p.csv:2:19: " + time + "'fast'");
  CHECK_THROWS_WITH(table("experts,bf16,64,0,inf\n"), "p.csv:2:19: " + time + "'inf'");
  CHECK_THROWS_WITH(table("experts,bf16,64,0,1e13\n"), "p.csv:2:19: " + time + "'1e13'");
  CHECK_THROWS_WITH(table("experts,bf16,64,0,12us\n"), "p.csv:2:19: " + time + "'12us'");

  // Repeats compare numbers, not text; the message points back at the first.
  CHECK_THROWS_WITH(table("experts,bf16,64,0,1.5\n# again\nexperts,bf16,064,0,2\n"),
                    "p.csv:4:1: expected each (op, dtype, tokens, context) once (first at line "
                    "2), got 'experts,bf16,064,0,2'");
  // The same numbers under another dtype or op are different rows.
  CHECK_NOTHROW(table("experts,bf16,64,0,1.5\nexperts,fp8,64,0,1\nrouter,bf16,64,0,1\n"));
}

TEST_CASE("profile: the example H100 profile is the roofline it says it is") {
  const std::string path = MOESIM_SOURCE_DIR "/scenarios/data/h100-kernels.csv";
  const auto t = parse_profile_csv(read_text(path), path);
  CHECK(t.rows() == 21);
  const models::model_spec m = io::load_model("mixtral-8x7b");
  const auto chip = io::load_cluster("dgx-h100").chip;
  REQUIRE(chip.name == "h100");
  // 2 us: the launch overhead sim/run/machine.hpp adds to every roofline op.
  const auto rates =
      sim::cluster::rates_for(chip, sim::cluster::number_format::bf16, 2 * ps_per_us);
  for (const double tokens : {1.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0}) {
    INFO(tokens);
    sim::run::pass_shape p;
    p.tokens = tokens;
    p.sequences = tokens;
    const auto experts = sim::run::expert_cost(m, p, tokens, 1);
    const auto backward = sim::run::backward_cost(experts, 0, sim::cluster::recompute_mode::none);
    const auto router = sim::run::router_cost(m, p);
    // The file holds microseconds to 3 decimals: within half a nanosecond.
    CHECK(std::abs(*t.lookup("experts", "bf16", tokens, 0) -
                   sim::cluster::op_time(rates, experts)) <= 500);
    CHECK(std::abs(*t.lookup("experts_backward", "bf16", tokens, 0) -
                   sim::cluster::op_time(rates, backward)) <= 500);
    CHECK(std::abs(*t.lookup("router", "bf16", tokens, 0) - sim::cluster::op_time(rates, router)) <=
          500);
  }
  CHECK_FALSE(t.lookup("attention", "bf16", 64, 4096).has_value());
}

TEST_CASE("profile: the scenario key op_profile loads the table relative to the scenario") {
  const auto plain = io::load_scenario_text(base, "s.yaml");
  CHECK(plain.base.op_profile.empty());
  CHECK(plain.base.profile == nullptr);
  CHECK_FALSE(io::scenario_to_json(plain.base).contains("op_profile"));

  const std::string path = MOESIM_SOURCE_DIR "/scenarios/data/h100-kernels.csv";
  const auto set =
      io::load_scenario_text(base + "op_profile: " + path +
                                 "\nstrategies:\n  - {name: ep4, parallelism: {ep: 4, dp: 2}}\n",
                             "s.yaml");
  CHECK(set.base.op_profile == path);
  REQUIRE(set.base.profile != nullptr);
  CHECK(set.base.profile->rows() == 21);
  CHECK(set.base.profile->origin() == path);
  CHECK(io::scenario_to_json(set.base)["op_profile"] == path);
  REQUIRE(set.strategies.size() == 1);
  REQUIRE(set.strategies[0].profile != nullptr);
  CHECK(set.strategies[0].profile->lookup("experts", "bf16", 256, 0) ==
        set.base.profile->lookup("experts", "bf16", 256, 0));
}

TEST_CASE("profile: op_profile errors name the key or the CSV's own line") {
  // Unreadable: at the key's value (line 6, column 13 of the scenario).
  const std::string missing = load_error(base + "op_profile: no-such-profile.csv\n");
  CHECK(missing.starts_with("s.yaml:6:13: op_profile: cannot open "));
  CHECK(missing.ends_with("/no-such-profile.csv"));
  // A directory: refused before opening (only regular files are read).
  CHECK(load_error(base + "op_profile: " MOESIM_SOURCE_DIR "/scenarios\n") ==
        "s.yaml:6:13: op_profile: " MOESIM_SOURCE_DIR
        "/scenarios: not a regular file (a directory): moesim reads only regular files");
  // Malformed: at the row in the CSV.
  CHECK(load_error(base + "op_profile: " MOESIM_SOURCE_DIR "/tests/errors/bad-profile.csv\n") ==
        MOESIM_SOURCE_DIR
        "/tests/errors/bad-profile.csv:4:1: expected an op (attention, router, experts, "
        "dense_ffn, lm_head, norms, activation or optimizer, optionally with _backward), got "
        "'expert'; did you mean 'experts'?");
  // From a file, the path is relative to the scenario's folder.
  std::string from_file = "no error";
  try {
    (void)io::load_scenario_file(MOESIM_SOURCE_DIR "/tests/errors/bad-profile.yaml");
  } catch (const io::input_error& e) {
    from_file = e.what();
  }
  CHECK(from_file.starts_with(MOESIM_SOURCE_DIR "/tests/errors/bad-profile.csv:4:1: "));
}
