#pragma once
// One serving request, as the request stream produces it and the scheduler consumes it.
#include <cstdint>

#include "sim/engine/time.hpp"

namespace moesim::serve {

struct request {
  std::uint64_t id = 0;            ///< 0, 1, 2, ... in arrival order
  sim::time_ps arrival = 0;        ///< when it reaches the server, ps from the start of the run
  std::int64_t prompt_tokens = 0;  ///< >= 1
  std::int64_t output_tokens = 0;  ///< tokens to generate, >= 1
  /// The prompt's leading tokens already in the prefix cache (0 <= cached < prompt_tokens):
  /// prefill computes prompt_tokens - cached_prompt_tokens of them.
  std::int64_t cached_prompt_tokens = 0;
};

}  // namespace moesim::serve
