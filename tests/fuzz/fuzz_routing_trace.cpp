// Fuzz target: the routing-trace readers (JSON and CSV, models/routing_trace.hpp), each given
// the same bytes. Only std::invalid_argument (their documented bad-input error) may escape.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#include "models/routing_trace.hpp"
#include "tests/fuzz/fuzz_contract.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  moesim::fuzz::expect_only<std::invalid_argument>([&] {
    std::istringstream in(text);
    (void)moesim::models::read_routing_trace_json(in);
  });
  moesim::fuzz::expect_only<std::invalid_argument>([&] {
    std::istringstream in(text);
    (void)moesim::models::read_routing_trace_csv(in);
  });
  return 0;
}
