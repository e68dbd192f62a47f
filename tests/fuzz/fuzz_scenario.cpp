// Fuzz target: a scenario file's text through the whole loader (YAML parse, schema, presets,
// feasibility). Only io::input_error may escape.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sim/io/scenario_loader.hpp"
#include "tests/fuzz/fuzz_contract.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  moesim::fuzz::expect_only<moesim::io::input_error>(
      [&] { (void)moesim::io::load_scenario_text(text, "fuzz.yaml"); });
  return 0;
}
