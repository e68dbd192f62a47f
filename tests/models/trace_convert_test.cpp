// Conversion of SGLang's and vLLM's expert-distribution records (their JSON export, README:
// Routing traces) to routing traces: small hand-made inputs in the shapes those engines dump.
#include "models/trace_convert.hpp"

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/models/specs.hpp"

using namespace moesim::models;

namespace {

// Mixtral cut to 4 layers, the first dense: MoE layers 1, 2, 3; 8 experts, top-2.
model_spec tiny() {
  model_spec m = moesim::test_specs::mixtral_8x7b();
  m.layers = 4;
  m.moe->first_k_dense = 1;
  return m;
}

routing_trace convert(const std::string& text, dump_source from, int tokens = 0) {
  std::istringstream in(text);
  trace_conversion opt;
  opt.from = from;
  opt.origin = "x.json";
  opt.tokens = tokens;
  opt.seed = 7;
  return convert_expert_dump(in, tiny(), opt);
}

std::string error_of(const std::string& text, dump_source from) {
  try {
    (void)convert(text, from);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

std::vector<std::int64_t> load_of(const routing& r) {
  std::vector<std::int64_t> load(static_cast<std::size_t>(r.experts), 0);
  for (const auto e : r.expert_ids) ++load[static_cast<std::size_t>(e)];
  return load;
}

bool distinct_per_token(const routing& r) {
  for (int t = 0; t < r.tokens; ++t) {
    auto ids = r.experts_of(t);
    std::vector<expert_index> v(ids.begin(), ids.end());
    std::sort(v.begin(), v.end());
    if (std::adjacent_find(v.begin(), v.end()) != v.end()) return false;
  }
  return true;
}

const std::string zeros = "[0,0,0,0,0,0,0,0]";

}  // namespace

TEST_CASE("SGLang stat counts become tokens with exactly the recorded per-expert loads") {
  // logical_count [passes][layers][experts]: layer 0 is dense (zeros).
  const std::string dump = R"({"rank": 0, "logical_count": [
      [)" + zeros + R"(, [2,1,1,0,0,0,0,0], [1,1,1,1,1,1,1,1], [0,0,0,0,0,0,2,2]],
      [)" + zeros + R"(, [1,1,0,0,0,0,0,0], [1,1,1,1,1,1,1,1], [0,0,0,0,0,0,2,2]]]})";
  const routing_trace t = convert(dump, dump_source::sglang);
  CHECK(t.layer_ids == std::vector<int>{1, 2, 3});
  CHECK(t.experts == 8);
  CHECK(t.top_k == 2);
  CHECK_FALSE(t.has_weights);
  CHECK(t.generated_by.find("synthesised") != std::string::npos);
  CHECK(t.layers[0].tokens == 3);  // 6 picks of top-2
  CHECK(load_of(t.layers[0]) == std::vector<std::int64_t>{3, 2, 1, 0, 0, 0, 0, 0});
  CHECK(load_of(t.layers[1]) == std::vector<std::int64_t>{2, 2, 2, 2, 2, 2, 2, 2});
  CHECK(load_of(t.layers[2]) == std::vector<std::int64_t>{0, 0, 0, 0, 0, 0, 4, 4});
  for (const auto& r : t.layers) CHECK(distinct_per_token(r));
  // Fewer tokens asked for: the shares are kept by largest remainder.
  const routing_trace small = convert(dump, dump_source::sglang, 4);
  CHECK(small.layers[1].tokens == 4);
  CHECK(load_of(small.layers[1]) == std::vector<std::int64_t>{1, 1, 1, 1, 1, 1, 1, 1});
  // Deterministic under the seed.
  const routing_trace again = convert(dump, dump_source::sglang);
  CHECK(again.layers[1].expert_ids == t.layers[1].expert_ids);
}

TEST_CASE("SGLang per_token records convert as recorded, physical slots mapped to experts") {
  // 10 physical slots: 8 and 9 are redundant copies of experts 0 and 5. topk_ids_of_layer is
  // [layers][tokens][8]; -1 fills the slots past top-2 and the dense layer 0.
  const std::string map_row = "[0,1,2,3,4,5,6,7,0,5]";
  const std::string none = "[-1,-1,-1,-1,-1,-1,-1,-1]";
  const std::string dump = R"({"records": [
      {"forward_pass_id": 0, "rank": 0, "input_ids": [11, 12], "topk_ids_of_layer": [
        [)" + none + "," + none +
                           R"(],
        [[8,3,-1,-1,-1,-1,-1,-1], [9,2,-1,-1,-1,-1,-1,-1]],
        [[1,2,-1,-1,-1,-1,-1,-1], )" +
                           none + R"(],
        [[6,7,-1,-1,-1,-1,-1,-1], [5,4,-1,-1,-1,-1,-1,-1]]]}],
      "last_physical_to_logical_map": [)" +
                           map_row + "," + map_row + "," + map_row + "," + map_row + "]}";
  const routing_trace t = convert(dump, dump_source::sglang);
  CHECK(t.layer_ids == std::vector<int>{1, 2, 3});
  CHECK(t.layers[0].expert_ids == std::vector<expert_index>{0, 3, 5, 2});
  CHECK(t.layers[1].tokens == 1);  // the all -1 token is padding
  CHECK(t.layers[2].expert_ids == std::vector<expert_index>{6, 7, 5, 4});
  CHECK(t.generated_by.find("as recorded") != std::string::npos);
  // The per_pass mode's counts go through the same map.
  const std::string per_pass = R"({"records": [{"global_physical_count": [[0,0,0,0,0,0,0,0,0,0],
      [1,0,0,0,0,0,0,0,1,0], [0,0,0,0,0,1,0,0,0,1], [0,1,1,0,0,0,0,0,0,0]]}],
      "last_physical_to_logical_map": [)" +
                               map_row + "," + map_row + "," + map_row + "," + map_row + "]}";
  CHECK(error_of(per_pass, dump_source::sglang) ==
        "x.json: layer 1: expert 0 took 2 tokens of the 1 the layer saw (a token takes an expert "
        "at most once)");
}

TEST_CASE("vLLM's EPLB load window converts with MoE ordinals as the model's MoE layers") {
  // expert_load_window [window][moe layers][physical experts]; 3 MoE layers = layers 1, 2, 3.
  const std::string window = R"({"expert_load_window": [
      [[2,0,0,0,0,0,0,0], [0,0,1,1,0,0,0,0], [0,0,0,0,0,0,1,1]],
      [[0,2,0,0,0,0,0,0], [0,0,1,1,0,0,0,0], [0,0,0,0,1,1,0,0]]]})";
  const routing_trace t = convert(window, dump_source::vllm);
  CHECK(t.layer_ids == std::vector<int>{1, 2, 3});
  CHECK(load_of(t.layers[0]) == std::vector<std::int64_t>{2, 2, 0, 0, 0, 0, 0, 0});
  CHECK(load_of(t.layers[2]) == std::vector<std::int64_t>{0, 0, 0, 0, 1, 1, 1, 1});
  // One pass, with redundant experts mapped back (slot 8 is a copy of expert 3).
  const routing_trace pass = convert(R"({"expert_load_pass": [[1,1,0,0,0,0,0,0,0],
      [1,1,0,1,0,0,0,0,1], [1,0,0,0,0,0,0,1,0]],
      "physical_to_logical_map": [[0,1,2,3,4,5,6,7,3],[0,1,2,3,4,5,6,7,3],[0,1,2,3,4,5,6,7,3]]})",
                                     dump_source::vllm);
  CHECK(load_of(pass.layers[1]) == std::vector<std::int64_t>{1, 1, 0, 2, 0, 0, 0, 0});
}

TEST_CASE("bad dumps are refused with the field, its indices and what was expected") {
  const auto sglang = dump_source::sglang;
  CHECK(error_of(R"({"logical_count": [[)" + zeros + R"(, [1,1,0,0,0,0,0]]]})", sglang) ==
        "x.json: logical_count[0][1]: 7 entries, but logical_count[0][0] has 8 (logical_count "
        "is [passes][layers][experts])");
  CHECK(error_of(R"({"logical_count": [[[1,1,0,0,0,0,0], [1,1,0,0,0,0,0]]]})", sglang) ==
        "x.json: logical_count has 7 experts per layer, but mixtral-8x7b has 8");
  CHECK(error_of(R"({"logical_count": [[)" + zeros + R"(, [1,1,0,0,0,-3,0,0]]]})", sglang) ==
        "x.json: logical_count[0][1][5]: count -3 is negative");
  CHECK(error_of(R"({"logical_count": [[)" + zeros + R"(, [1,1.5,0,0,0,0,0,0]]]})", sglang) ==
        "x.json: logical_count[0][1][1]: expected an integer, got 1.5");
  CHECK(error_of(R"({"logical_count": [[1,1,0,0,0,0,0,0]]})", sglang) ==
        "x.json: logical_count[0][0]: expected a list (logical_count is "
        "[passes][layers][experts])");
  // Five layers for a four-layer model.
  CHECK(error_of(R"({"logical_count": [[)" + zeros + "," + zeros + "," + zeros + "," + zeros + "," +
                     zeros + "]]}",
                 sglang) ==
        "x.json: logical_count[0][4]: layer 4 is beyond the 4 layers of mixtral-8x7b (indices 0 "
        "to 3)");
  CHECK(error_of(R"({"logical_count": [[[1,1,0,0,0,0,0,0]]]})", sglang) ==
        "x.json records layer 0, a dense layer of mixtral-8x7b (its MoE layers: 1, 2, 3)");
  CHECK(error_of(R"({"logical_count": [[)" + zeros + R"(, [1,1,1,0,0,0,0,0]]]})", sglang) ==
        "x.json: layer 1: the counts sum to 3, not a multiple of top_k 2 (every token takes "
        "top_k experts)");
  CHECK(error_of(R"({"logical_count": [], "records": []})", sglang) ==
        "x.json: expected one of logical_count (mode stat) or records (modes per_pass, "
        "per_token)");
  CHECK(error_of(R"({"logical_counts": []})", sglang) ==
        "x.json: unknown key 'logical_counts' (expected logical_count (mode stat), or records and "
        "last_physical_to_logical_map (modes per_pass, per_token))");
  CHECK(error_of(R"({"records": [{"topk_ids_of_layer": [[[12,-1]]]}],
                     "last_physical_to_logical_map": [[0,1,2,3,4,5,6,7,0,5]]})",
                 sglang) ==
        "x.json: records[0].topk_ids_of_layer[0][0][0]: expert slot 12 "
        "outside [-1, 10)");
  CHECK(error_of(R"({"records": [{"topk_ids_of_layer": [[[1,-1]]]}],
                     "last_physical_to_logical_map": [[0,1,2,3,4,5,6,9]]})",
                 sglang) ==
        "x.json: last_physical_to_logical_map[0][7]: expert 9 outside the 8 experts of "
        "mixtral-8x7b");
  const auto vllm = dump_source::vllm;
  // Four MoE layers for a model with three.
  CHECK(
      error_of(R"({"expert_load_pass": [)" + zeros + "," + zeros + "," + zeros + "," + zeros + "]}",
               vllm) ==
      "x.json: expert_load_pass[3]: MoE layer 3 is beyond the 3 MoE layers of mixtral-8x7b "
      "(ordinals 0 to 2)");
  CHECK(error_of(R"({"expert_load_pass": [[1,1,0,0,0,0,0,0,0]]})", vllm) ==
        "x.json: expert_load_pass has 9 experts per layer, but mixtral-8x7b has 8 (with "
        "redundant experts, give the map)");
  CHECK(error_of(R"({"expert_load_pass": [[1,1,0,0,0,0,0,0,0]],
                     "physical_to_logical_map": [[0,1,2,3,4,5,6,7]]})",
                 vllm) ==
        "x.json: expert_load_pass is [1 layers][9 physical experts], but physical_to_logical_map "
        "is [1][8]");
  CHECK(error_of(R"({"expert_load_pass": [[1,1,0,0,0,0,0,0]], "expert_load_window": []})", vllm) ==
        "x.json: expected one of expert_load_window [window][moe layers][physical experts] or "
        "expert_load_pass [moe layers][physical experts]");
  CHECK(error_of(R"({"expert_load_pass": [)" + zeros + "]}", vllm) ==
        "x.json: no layer took any token");
  CHECK(error_of("[1, 2]", vllm) == "x.json: the top level must be an object of the dump's fields");
}
