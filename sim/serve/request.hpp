#pragma once
#include <cstdint>
#include "sim/engine/time.hpp"
namespace moesim::serve {
/// One request: arrival time, prompt and output lengths in tokens, and the prompt's leading tokens already in the prefix cache (prefill computes prompt - cached).
struct request { std::uint64_t id = 0; sim::time_ps arrival = 0; std::int64_t prompt_tokens = 0; std::int64_t output_tokens = 0; std::int64_t cached_prompt_tokens = 0; };
}
