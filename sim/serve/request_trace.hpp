#pragma once
// Request traces: recorded (or generated) serving requests, one per row, replayed by the
// `trace` arrival process. Two formats, chosen by the file's extension:
//
//   .csv    a header naming the columns in any order, then one row per request:
//             arrival_s,prompt_tokens,output_tokens[,cached_prompt_tokens]
//           Blank lines and lines starting with '#' are skipped anywhere.
//   .jsonl  one JSON object per line with the same keys:
//             {"arrival_s": 0.25, "prompt_tokens": 812, "output_tokens": 190}
//           Blank lines and lines starting with '#' are skipped.
//
// arrival_s: seconds from the start of the run (a number >= 0; rows sorted non-decreasing);
// prompt_tokens and output_tokens: integers >= 1; cached_prompt_tokens (optional, default 0):
// the prompt's leading tokens already in the prefix cache, an integer below prompt_tokens.
// Ids are the row order, from 0.
//
// Every bad row throws std::invalid_argument "<origin>:<line>:<column>: <column or key>:
// expected ..., got '...'" pointing at the value (or the key) to fix.
#include <string>
#include <string_view>
#include <vector>

#include "sim/serve/request.hpp"

namespace moesim::serve {

enum class request_trace_format { csv, jsonl };

/// The format named by `path`'s extension (.csv, .jsonl); throws std::invalid_argument for
/// any other.
request_trace_format request_trace_format_of(const std::string& path);

/// Parses the text of a trace; `origin` names it in messages. At least one row. O(size).
std::vector<request> parse_request_trace(std::string_view text, request_trace_format format,
                                         const std::string& origin);

/// Reads and parses the file at `path` (format by extension); an unreadable file throws
/// std::invalid_argument "cannot open <path>".
std::vector<request> read_request_trace(const std::string& path);

/// `rows` as CSV a reader accepts: each line of `comment` as a '#' line, the header
/// arrival_s,prompt_tokens,output_tokens,cached_prompt_tokens, one line per row. arrival_s is
/// printed rounded to the microsecond (so reading it back may move arrivals by < 0.5 us).
std::string format_request_trace_csv(const std::vector<request>& rows, std::string_view comment);

}  // namespace moesim::serve
