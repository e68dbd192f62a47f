// Fuzz target: `--set key.path=value` overrides, one an input line, applied to the shipped
// quickstart scenario as `moesim run --set` would. Only io::input_error may escape.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sim/io/scenario_loader.hpp"
#include "tests/fuzz/fuzz_contract.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  moesim::io::load_options opt;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t end = std::min(text.find('\n', begin), text.size());
    opt.overrides.emplace_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  moesim::fuzz::expect_only<moesim::io::input_error>(
      [&] { (void)moesim::io::load_shipped_scenario("quickstart", opt); });
  return 0;
}
