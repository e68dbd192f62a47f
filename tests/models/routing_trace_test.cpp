#include "models/routing_trace.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/models/specs.hpp"

using namespace moesim::models;

namespace {

/// The parameters scenarios/data/sample-routing-trace.json was generated with.
trace_generation sample_parameters() {
  trace_generation g;
  g.source.hidden = 256;
  g.sequences = 8;
  g.tokens_per_sequence = 8;
  g.layers = {3, 4};
  g.seed = 1;
  return g;
}

std::string read_error(const std::string& text, bool json) {
  std::istringstream in(text);
  try {
    if (json) {
      (void)read_routing_trace_json(in);
    } else {
      (void)read_routing_trace_csv(in);
    }
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("generated traces round-trip through JSON and CSV", "[models][trace]") {
  const routing_trace t =
      generate_routing_trace(moesim::test_specs::deepseek_v3(), sample_parameters());
  REQUIRE(t.layers.size() == 2);
  CHECK(t.layers[0].tokens == 64);
  CHECK(t.layers[0].expert_ids != t.layers[1].expert_ids);
  for (bool json : {true, false}) {
    std::stringstream buf;
    json ? write_routing_trace_json(t, buf) : write_routing_trace_csv(t, buf);
    const routing_trace back = json ? read_routing_trace_json(buf) : read_routing_trace_csv(buf);
    CHECK(back.generated_by == t.generated_by);
    CHECK(back.model == "deepseek-v3");
    CHECK(back.experts == 256);
    CHECK(back.top_k == 8);
    CHECK(back.layer_ids == t.layer_ids);
    REQUIRE(back.layers.size() == 2);
    for (std::size_t l = 0; l < 2; ++l) {
      REQUIRE_NOTHROW(validate(back.layers[l]));
      CHECK(back.layers[l].expert_ids == t.layers[l].expert_ids);
      CHECK(back.layers[l].offsets == t.layers[l].offsets);
      for (std::size_t i = 0; i < t.layers[l].weights.size(); ++i) {
        CHECK(back.layers[l].weights[i] == Approx(t.layers[l].weights[i]).epsilon(1e-5));
      }
    }
  }
}

TEST_CASE("trace readers accept ids without scores and reject malformed input", "[models][trace]") {
  std::istringstream csv("# experts: 4\nlayer,token,expert_ids,scores\n0,0,1 3,\n0,1,,\n2,0,0,\n");
  const routing_trace t = read_routing_trace_csv(csv);
  CHECK_FALSE(t.has_weights);
  REQUIRE(t.layers.size() == 2);
  CHECK(t.layers[0].count(1) == 0);
  CHECK(t.layers[0].weights[0] == 0.5f);
  CHECK(t.layer_ids == std::vector<int>{0, 2});

  const std::string head = "# experts: 4\nlayer,token,expert_ids,scores\n";
  CHECK_THAT(read_error(head + "0,0,1 4,\n", false),
             Catch::Contains("line 3: expert id 4 outside [0, 4)"));
  CHECK_THAT(read_error(head + "0,0,1 1,\n", false), Catch::Contains("expert id 1 repeated"));
  CHECK_THAT(read_error(head + "0,1,1,\n", false), Catch::Contains("expected token 0, got 1"));
  CHECK_THAT(read_error(head + "0,0,1 2,0.5\n", false),
             Catch::Contains("2 expert ids but 1 weights"));
  CHECK_THAT(read_error("layer,token,expert_ids,scores\n", false),
             Catch::Contains("'# experts: N' line must come before the header"));
  CHECK_THAT(
      read_error(
          R"({"format":"moesim.routing_trace","version":1,"experts":4,"layers":[{"layer":0,"topk_ids":[[5]]}]})",
          true),
      Catch::Contains("layers[0] token 0: expert id 5 outside [0, 4)"));
  CHECK_THAT(
      read_error(
          R"({"format":"moesim.routing_trace","version":1,"experts":4,"layers":[],"colour":1})",
          true),
      Catch::Contains("unknown key 'colour'"));
  CHECK_THAT(read_error(R"({"format":"other","version":1})", true),
             Catch::Contains("\"format\" must be \"moesim.routing_trace\""));
  CHECK_THAT(read_error("{", true), Catch::Contains("not valid JSON"));
}

TEST_CASE("the shipped sample trace reads and is what the generator makes", "[models][trace]") {
  const std::string path =
      std::string(MOESIM_SOURCE_DIR) + "/scenarios/data/sample-routing-trace.json";
  if (std::getenv("MOESIM_UPDATE_GOLDENS") != nullptr) {  // tools/update-goldens.sh
    std::ofstream out(path);
    write_routing_trace_json(
        generate_routing_trace(moesim::test_specs::deepseek_v3(), sample_parameters()), out);
  }
  const routing_trace t = read_routing_trace(std::string(MOESIM_SOURCE_DIR) +
                                             "/scenarios/data/sample-routing-trace.json");
  CHECK_THAT(t.generated_by, Catch::Contains("synthetic, not a recording"));
  const routing_trace fresh =
      generate_routing_trace(moesim::test_specs::deepseek_v3(), sample_parameters());
  CHECK(t.generated_by == fresh.generated_by);
  REQUIRE(t.layers.size() == fresh.layers.size());
  // Identical on the reference machine; allow a last-bit tie to flip elsewhere.
  std::size_t same = 0;
  std::size_t total = 0;
  for (std::size_t l = 0; l < t.layers.size(); ++l) {
    REQUIRE(t.layers[l].expert_ids.size() == fresh.layers[l].expert_ids.size());
    for (std::size_t i = 0; i < t.layers[l].expert_ids.size(); ++i) {
      same += t.layers[l].expert_ids[i] == fresh.layers[l].expert_ids[i];
      ++total;
    }
  }
  CHECK(static_cast<double>(same) / static_cast<double>(total) > 0.99);
}

TEST_CASE("a trace's layers are checked against the model it replays on") {
  const model_spec v3 = moesim::test_specs::deepseek_v3();  // 61 layers, 3 dense, 1 MTP module
  routing_trace t;
  t.experts = 256;
  t.layer_ids = {3, 60, 61};
  CHECK_NOTHROW(check_trace_layers(t, v3, "routing trace x.json"));
  t.layer_ids = {3, 62};
  CHECK_THROWS_WITH(check_trace_layers(t, v3, "routing trace x.json"),
                    "routing trace x.json records layer 62, but model deepseek-v3 has 61 layers "
                    "and 1 MTP module (layer indices 0 to 61)");
  t.layer_ids = {-1};
  CHECK_THROWS_WITH(check_trace_layers(t, v3, "routing trace x.json"),
                    Catch::StartsWith("routing trace x.json records layer -1, but"));
  t.layer_ids = {1};
  CHECK_THROWS_WITH(check_trace_layers(t, v3, "routing trace x.json"),
                    "routing trace x.json records layer 1, a dense layer of deepseek-v3 (its MoE "
                    "layers: 3, 4, ..., 60)");
  // Decode routes the 58 MoE layers; training also the MTP module (layer 61).
  t.layer_ids = {3, 4};
  CHECK(routed_layers(v3, false).size() == 58);
  CHECK(routed_layers(v3, true).back() == 61);
  const auto missing = unrecorded_layers(t, v3, true);
  CHECK(missing.size() == 57);
  CHECK(missing.front() == 5);
  CHECK(missing.back() == 61);
}

// Fuzz finding (session 14, tests/fuzz/corpus/routing_trace/expert-id-beyond-int64.json): a JSON
// number too large for 64 bits parses as a double, and json's get<int64_t> cast it unchecked
// (undefined behaviour, reported by UBSan). Every integer the JSON reader takes is now checked
// against its range first, and weights against float's.
TEST_CASE("fuzz finding, a JSON expert id beyond int64 is bad input, not an undefined cast",
          "[models][trace]") {
  const auto trace = [](const std::string& top_level, const std::string& layer) {
    return R"({"format":"moesim.routing_trace","version":1,"experts":4)" + top_level +
           R"(,"layers":[{)" + layer + "}]}";
  };
  CHECK_THAT(
      read_error(
          trace(
              "",
              R"("layer":3,"topk_ids":[[1],[277777777777777777777777777777777777777777777777777777777777777777777]])"),
          true),
      Catch::Contains("layers[0] token 1: expert id 2.77777") &&
          Catch::Contains("outside [0, 4) or not an integer"));
  CHECK_THAT(read_error(trace("", R"("layer":3,"topk_ids":[[1.5]])"), true),
             Catch::Contains("expert id 1.5 outside [0, 4) or not an integer"));
  CHECK_THAT(read_error(trace("", R"("layer":3,"topk_ids":[[true]])"), true),
             Catch::Contains("expert id true outside [0, 4) or not an integer"));
  CHECK_THAT(read_error(trace("", R"("layer":3,"topk_ids":[2])"), true),
             Catch::Contains("layers[0] token 0: expert ids must be an array, got 2"));
  CHECK_THAT(read_error(trace("", R"("layer":1e300,"topk_ids":[[1]])"), true),
             Catch::Contains("layers[0].layer must be an integer, got 1e+300"));
  CHECK_THAT(read_error(trace("", R"("layer":4294967299,"topk_ids":[[1]])"), true),
             Catch::Contains("layers[0].layer must be an integer, got 4294967299"));
  CHECK_THAT(read_error(trace(R"(,"top_k":-1e300)", R"("layer":3,"topk_ids":[[1]])"), true),
             Catch::Contains("\"top_k\" must be a non-negative integer, got -1e+300"));
  CHECK_THAT(
      read_error(
          R"({"format":"moesim.routing_trace","version":1,"experts":4294967300,"layers":[]})",
          true),
      Catch::Contains("\"experts\" must be a positive integer"));
  CHECK_THAT(read_error(trace("", R"("layer":3,"topk_ids":[[1]],"topk_weights":[[1e300]])"), true),
             Catch::Contains("layers[0] token 0: weight 1e+300 is not a finite float"));
  const std::string head = "# experts: 4\nlayer,token,expert_ids,scores\n";
  CHECK_THAT(read_error(head + "0,0,1,nan\n", false),
             Catch::Contains("line 3: weight nan is not a finite float"));
  CHECK_THAT(read_error(head + "0,0,1,1e39\n", false),
             Catch::Contains("line 3: weight 1e+39 is not a finite float"));
  // Integral floats still read as the integers they are.
  std::istringstream ok(trace(R"(,"top_k":1.0)", R"("layer":3.0,"topk_ids":[[2.0]])"));
  const routing_trace t = read_routing_trace_json(ok);
  CHECK(t.top_k == 1);
  CHECK(t.layer_ids == std::vector<int>{3});
  CHECK(t.layers.at(0).expert_ids.at(0) == 2);
}

// Fuzz finding (session 14, tests/fuzz/corpus/routing_trace/format-not-a-string.json): a
// "format" that is not a string (here an array, by a repeated key: JSON keeps the last) made
// json's value() throw type_error, which escaped the reader as an internal error.
TEST_CASE("fuzz finding, a routing trace format that is not a string is bad input",
          "[models][trace]") {
  for (const char* format : {R"([1])", R"(1)", R"(null)", R"({"a":1})"}) {
    CHECK(read_error(std::string(R"({"format":"moesim.routing_trace","version":1,"format":)") +
                         format + R"(,"experts":4,"layers":[]})",
                     true) == "routing trace: \"format\" must be \"moesim.routing_trace\"");
  }
  CHECK(read_error(R"({"version":1,"experts":4,"layers":[]})", true) ==
        "routing trace: \"format\" must be \"moesim.routing_trace\"");
}
