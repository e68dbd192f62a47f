// Every preset file loads through the strict loader, and the model presets hold exactly the
// values the parameter-count tests check (tests/models/specs.hpp), so the published totals
// are verified on the files users run.
#include "sim/io/presets.hpp"

#include <catch2/catch.hpp>

#include "models/model_params.hpp"
#include "sim/io/spec_loader.hpp"
#include "sim/io/spec_schemas.hpp"
#include "tests/models/specs.hpp"
#include "topologies/cluster.hpp"

using namespace moesim;

TEST_CASE("model presets equal the specs whose parameter counts are tested") {
  const auto specs = test_specs::all_preset_specs();
  REQUIRE(specs.size() == io::preset_names(io::preset_kind::model).size());
  for (const auto& expected : specs) {
    INFO(expected.name);
    const models::model_spec loaded = io::load_model(expected.name);
    io::json a = io::model_type().to_json(loaded);
    io::json b = io::model_type().to_json(expected);
    a.erase("source");
    b.erase("source");
    CHECK(a.dump(1) == b.dump(1));
    CHECK(models::total_params(loaded) == models::total_params(expected));
    CHECK(models::active_params(loaded) == models::active_params(expected));
  }
}

TEST_CASE("every cluster preset loads with its chip and builds a graph") {
  for (const auto& name : io::preset_names(io::preset_kind::cluster)) {
    INFO(name);
    const auto c = io::load_cluster(name);
    CHECK(c.chip.name == c.cluster.chip);
    const auto topo = topo::build_cluster(c.cluster, c.chip);
    CHECK(topo.device_count() > 0);
  }
}

TEST_CASE("every chip preset is referenced or loads on its own") {
  for (const auto& name : io::preset_names(io::preset_kind::chip)) {
    INFO(name);
    const auto origin = std::make_shared<const std::string>("test");
    const auto node = io::load_preset(io::preset_kind::chip, name, {origin, 0, 0}, "chip");
    topo::chip_spec chip;
    io::chip_type().read(node, chip, "chip");
    CHECK(chip.name == name);
  }
}
