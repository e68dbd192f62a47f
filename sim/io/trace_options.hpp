#pragma once
// The command line's trace selection, parsed (sim/run/trace_selection.hpp says what it does):
//   devices  "0-7,64,128-135": device ids and inclusive ranges, comma-separated
//   window   "START:END" in simulated time with units: "0:5ms", "2s:3s", "1.5ms:" (to the end),
//            ":10ms" (from the start); a bare 0 needs no unit
// Both throw std::invalid_argument with a message saying what was expected and what was given;
// the caller adds the option's name.
#include <string_view>
#include <utility>
#include <vector>

#include "sim/engine/time.hpp"
#include "topologies/topology.hpp"

namespace moesim::io {

/// The devices named, ascending and without repeats. O(n log n) in the devices named.
[[nodiscard]] std::vector<topo::device_id> parse_device_list(std::string_view text);

/// [from, to] in picoseconds; an open end is 0 or sim::time_max.
[[nodiscard]] std::pair<sim::time_ps, sim::time_ps> parse_time_window(std::string_view text);

}  // namespace moesim::io
