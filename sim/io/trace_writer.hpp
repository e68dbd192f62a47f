#pragma once
// Writes a trace_recorder as Chrome trace-event JSON (the "JSON Object Format"), which
// Perfetto and chrome://tracing open: one process per device (or link group), one thread per
// stream, complete ("X") events with name, category and args, counter ("C") events, and
// metadata ("M") events naming processes and threads. Timestamps are microseconds printed
// exactly from integer picoseconds (6 decimals), so the output is byte-for-byte reproducible.
// The recorder's notes (what a selection left out, sim/run/trace_selection.hpp) go in
// otherData.selection, in the order they were added.
#include <cstdint>
#include <ostream>
#include <string>

#include "sim/engine/trace.hpp"

namespace moesim::io {

struct trace_metadata {
  std::string scenario;
  std::uint64_t seed = 0;
};

void write_chrome_trace(const sim::trace_recorder& trace, const trace_metadata& meta,
                        std::ostream& out);

/// JSON string literal for `s` (quotes included), escaping as RFC 8259 requires.
std::string json_quote(std::string_view s);

}  // namespace moesim::io
