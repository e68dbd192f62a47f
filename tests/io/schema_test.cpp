// The JSON Schema that `moesim schema` exports is derived from the same descriptions as the
// reader, so its keys, ranges and defaults cannot drift from what the loader accepts.
#include <catch2/catch.hpp>

#include "sim/io/scenario_loader.hpp"

using moesim::io::scenario_json_schema;

TEST_CASE("the scenario schema lists every section and refuses unknown keys") {
  const auto s = scenario_json_schema();
  CHECK(s["$schema"] == "https://json-schema.org/draft/2020-12/schema");
  CHECK(s["additionalProperties"] == false);
  for (const char* key : {"name", "description", "seed", "model", "cluster", "chip", "network",
                          "parallelism", "moe", "sampling", "workload", "strategies"}) {
    INFO(key);
    CHECK(s["properties"].contains(key));
    CHECK(s["properties"][key].contains("description"));
  }
  CHECK(s["required"] == moesim::io::json::array({"name", "model", "cluster", "workload"}));
}

TEST_CASE("ranges, units, enums and defaults reach the schema") {
  const auto s = scenario_json_schema();
  const auto& steps = s["properties"]["workload"]["properties"]["steps"];
  CHECK(steps["type"] == "integer");
  CHECK(steps["minimum"] == 1);
  CHECK(steps["default"] == 1);
  const auto& kind = s["properties"]["workload"]["properties"]["kind"];
  CHECK(kind["enum"] == moesim::io::json::array({"decode", "prefill", "train", "serve"}));
  const auto& seed = s["properties"]["seed"];
  CHECK(seed["maximum"] == 18446744073709551615ULL);
  // Presets are offered by name, and a section with a preset needs no other key.
  const auto& model = s["properties"]["model"];
  CHECK(model["properties"]["preset"]["enum"].size() == 14);
  CHECK(model.contains("anyOf"));
  const auto& hbm = s["properties"]["chip"]["properties"]["hbm_bytes"];
  CHECK(hbm["description"].get<std::string>().find("80 GiB") != std::string::npos);
}
