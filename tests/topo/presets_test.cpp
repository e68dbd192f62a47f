#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

// The preset files the issue names exist, and every cluster preset names an existing chip.
// (Their values are parsed and checked by the strict loader's tests in sim/io.)
namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string value_of(const std::string& text, const std::string& key) {
  const std::string line = key + ": ";
  const auto pos = text.rfind(line, 0) == 0 ? 0 : text.find("\n" + line);
  if (pos == std::string::npos) return {};
  const auto begin = pos + (pos == 0 ? 0 : 1) + line.size();
  const auto end = text.find_first_of(" #\n", begin);
  return text.substr(begin, end - begin);
}

}  // namespace

TEST_CASE("chip and cluster presets exist and refer to each other", "[presets]") {
  const fs::path dir = fs::path(MOESIM_SOURCE_DIR) / "topologies" / "presets";
  for (const char* chip : {"tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e", "tpu-ironwood", "a100",
                           "h100", "h800", "h200", "b200", "gb200", "l4", "t4", "rtx-4090"}) {
    const fs::path p = dir / "chips" / (std::string(chip) + ".yaml");
    INFO(p);
    REQUIRE(fs::exists(p));
    const std::string text = read(p);
    CHECK(value_of(text, "name") == chip);
    for (const char* key : {"source", "kind", "peak_flops_per_s", "hbm_bytes", "hbm_bytes_per_s",
                            "scale_up", "host_link"})
      CHECK(text.find(std::string("\n") + key + ":") != std::string::npos);
  }
  for (const char* cluster :
       {"dgx-a100", "dgx-h100", "dgx-h800", "dgx-h200", "dgx-b200", "gb200-nvl72", "tpu-v4",
        "tpu-v5e", "tpu-v5p", "tpu-v6e", "tpu-ironwood"}) {
    const fs::path p = dir / (std::string(cluster) + ".yaml");
    INFO(p);
    REQUIRE(fs::exists(p));
    const std::string text = read(p);
    CHECK(value_of(text, "name") == cluster);
    CHECK(fs::exists(dir / "chips" / (value_of(text, "chip") + ".yaml")));
  }
}
