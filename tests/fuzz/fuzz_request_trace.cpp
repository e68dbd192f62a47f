// Fuzz target: the request-trace parsers (CSV and JSON lines, sim/serve/request_trace.hpp),
// each given the same bytes. Only std::invalid_argument (their documented bad-input error) may
// escape.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "sim/serve/request_trace.hpp"
#include "tests/fuzz/fuzz_contract.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto format :
       {moesim::serve::request_trace_format::csv, moesim::serve::request_trace_format::jsonl}) {
    moesim::fuzz::expect_only<std::invalid_argument>(
        [&] { (void)moesim::serve::parse_request_trace(text, format, "fuzz"); });
  }
  return 0;
}
