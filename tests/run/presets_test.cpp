// Every preset file loads through the strict loader, and the model presets hold exactly the
// values the parameter-count tests check (tests/models/specs.hpp), so the published totals
// are verified on the files users run.
#include "sim/io/presets.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "models/model_params.hpp"
#include "sim/io/scenario_loader.hpp"
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

TEST_CASE("shipped scenarios use their chips as the presets define them") {
  // Efficiency factors are one set per chip, shared by every scenario: the flagship and
  // validation scenarios may not tune them (only the price, a user's own figure, may change).
  for (const auto& entry : std::filesystem::directory_iterator(MOESIM_SOURCE_DIR "/scenarios")) {
    if (entry.path().extension() != ".yaml") continue;
    INFO(entry.path().string());
    const auto set = io::load_scenario_file(entry.path().string());
    std::vector<sim::run::scenario> all = set.strategies;
    all.push_back(set.base);
    for (const auto& s : all) {
      io::json used = io::chip_type().to_json(s.chip);
      topo::chip_spec chip;
      io::chip_type().read(io::load_preset(io::preset_kind::chip, s.cluster.chip, {}, "chip"), chip,
                           "chip");
      io::json preset = io::chip_type().to_json(chip);
      for (const char* key : {"price_usd_per_hour", "price_source"}) {
        used.erase(key);
        preset.erase(key);
      }
      CHECK(used.dump(1) == preset.dump(1));
    }
  }
}

namespace {

topo::chip_spec chip_preset(const std::string& name) {
  topo::chip_spec chip;
  io::chip_type().read(io::load_preset(io::preset_kind::chip, name, {}, "chip"), chip, "chip");
  return chip;
}

// The README's "Chip efficiencies" table: chip -> its "factors taken from a sibling" cell.
std::map<std::string, std::string> readme_sibling_table() {
  std::ifstream in(MOESIM_SOURCE_DIR "/README.md");
  std::map<std::string, std::string> out;
  std::string line;
  bool in_section = false;
  while (std::getline(in, line)) {
    if (line.rfind("### ", 0) == 0 || line.rfind("## ", 0) == 0) {
      in_section = line == "### Chip efficiencies";
      continue;
    }
    if (!in_section || line.rfind("| ", 0) != 0 || line.rfind("| chip", 0) == 0) continue;
    const auto mid = line.find(" | ");
    const std::string chips = line.substr(2, mid - 2);
    const std::string cell = line.substr(mid + 3, line.size() - mid - 5);
    std::size_t at = 0;
    while (at < chips.size()) {  // "tpu-v4, tpu-v5p"
      const auto comma = chips.find(", ", at);
      out[chips.substr(at, comma - at)] = cell;
      at = comma == std::string::npos ? chips.size() : comma + 2;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("every chip preset has measured compute, HBM and link efficiencies, siblings named") {
  const auto table = readme_sibling_table();
  REQUIRE(!table.empty());
  for (const auto& name : io::preset_names(io::preset_kind::chip)) {
    INFO(name);
    const topo::chip_spec chip = chip_preset(name);
    CHECK(chip.efficiency.compute.has_value());
    CHECK(chip.efficiency.hbm.has_value());
    if (chip.scale_up.links_per_chip > 0) CHECK(chip.efficiency.link.has_value());
    if (chip.kind == topo::chip_kind::gpu && chip.nic) CHECK(chip.efficiency.nic.has_value());
    // The README lists every borrowed factor: "compute, link from tpu-v5e; hbm from tpu-ironwood".
    std::string expected;
    for (const auto& sib : chip.efficiency.siblings) {
      CHECK(chip_preset(sib.chip).name == sib.chip);  // a real preset
      std::string factors;
      for (const auto& f : sib.factors) factors += (factors.empty() ? "" : ", ") + f;
      expected += (expected.empty() ? "" : "; ") + factors + " from " + sib.chip;
    }
    const auto row = table.find(name);
    if (expected.empty()) {
      CHECK(row == table.end());
    } else {
      REQUIRE(row != table.end());
      CHECK(row->second.rfind(expected, 0) == 0);  // may go on with a reason in parentheses
    }
  }
}
