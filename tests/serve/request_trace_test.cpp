#include "sim/serve/request_trace.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

#include "sim/serve/requests.hpp"

using namespace moesim;
using namespace moesim::serve;

namespace {

std::vector<request> csv(const std::string& text) {
  return parse_request_trace(text, request_trace_format::csv, "t.csv");
}
std::vector<request> jsonl(const std::string& text) {
  return parse_request_trace(text, request_trace_format::jsonl, "t.jsonl");
}
std::string error_of(const std::string& text, request_trace_format format,
                     const std::string& origin) {
  try {
    parse_request_trace(text, format, origin);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}
std::string csv_error(const std::string& text) {
  return error_of(text, request_trace_format::csv, "t.csv");
}
std::string jsonl_error(const std::string& text) {
  return error_of(text, request_trace_format::jsonl, "t.jsonl");
}

}  // namespace

TEST_CASE("CSV traces: columns in any order, comments, optional cached column", "[serve][trace]") {
  const auto rs =
      csv("# generated\n"
          "output_tokens, arrival_s ,prompt_tokens\n"
          "\n"
          "10,0,100\n"
          "# a comment between rows\n"
          "20,0.5,200\r\n"
          "30,0.5,300\n");
  REQUIRE(rs.size() == 3);
  CHECK(rs[0].id == 0);
  CHECK(rs[0].arrival == 0);
  CHECK(rs[0].prompt_tokens == 100);
  CHECK(rs[0].output_tokens == 10);
  CHECK(rs[1].arrival == sim::ps_per_s / 2);
  CHECK(rs[2].id == 2);
  CHECK(rs[2].arrival == rs[1].arrival);  // ties are in order
  CHECK(rs[2].cached_prompt_tokens == 0);

  const auto cached =
      csv("arrival_s,prompt_tokens,output_tokens,cached_prompt_tokens\n1.25,64,4,32\n");
  REQUIRE(cached.size() == 1);
  CHECK(cached[0].arrival == 1'250'000'000'000);
  CHECK(cached[0].cached_prompt_tokens == 32);
}

TEST_CASE("JSONL traces: one object per line", "[serve][trace]") {
  const auto rs = jsonl(
      "{\"arrival_s\": 0, \"prompt_tokens\": 100, \"output_tokens\": 10}\n"
      "# comment\n"
      "\n"
      "{\"output_tokens\": 2, \"prompt_tokens\": 50, \"arrival_s\": 2.5, "
      "\"cached_prompt_tokens\": 49}\n");
  REQUIRE(rs.size() == 2);
  CHECK(rs[1].id == 1);
  CHECK(rs[1].arrival == 2'500'000'000'000);
  CHECK(rs[1].prompt_tokens == 50);
  CHECK(rs[1].output_tokens == 2);
  CHECK(rs[1].cached_prompt_tokens == 49);
}

TEST_CASE("bad CSV rows name file, line, column, what was expected and what was found",
          "[serve][trace]") {
  const std::string header = "arrival_s,prompt_tokens,output_tokens\n";
  CHECK(csv_error(header + "0,abc,5\n") ==
        "t.csv:2:3: prompt_tokens: expected an integer from 1 to 1073741824, got 'abc'");
  CHECK(csv_error(header + "-1,10,5\n") ==
        "t.csv:2:1: arrival_s: expected seconds as a number from 0 to below 9.2e6, got '-1'");
  CHECK(csv_error(header + "0,10,0\n") ==
        "t.csv:2:6: output_tokens: expected an integer from 1 to 1073741824, got '0'");
  CHECK(csv_error(header + "0,0,5\n") ==
        "t.csv:2:3: prompt_tokens: expected an integer from 1 to 1073741824, got '0'");
  CHECK(csv_error(header + "0,10.5,5\n") ==
        "t.csv:2:3: prompt_tokens: expected an integer from 1 to 1073741824, got '10.5'");
  CHECK(csv_error(header + "2,10,5\n# skipped\n1.5,10,5\n") ==
        "t.csv:4:1: arrival_s: expected arrivals in non-decreasing order (at least 2, the "
        "arrival at line 2), got '1.5'");
  CHECK(csv_error(header + "0,10\n") == "t.csv:2:5: expected 3 fields as the header names, got 2");
  CHECK(csv_error(header + "0,10,5,7\n") ==
        "t.csv:2:8: expected 3 fields as the header names, got 4");
  CHECK(csv_error("arrival_s,prompt_tokens,output_tokens,cached_prompt_tokens\n0,10,5,10\n") ==
        "t.csv:2:8: cached_prompt_tokens: expected fewer than prompt_tokens (10): prefill "
        "computes at least one token, got '10'");
  CHECK(csv_error("arival_s,prompt_tokens,output_tokens\n") ==
        "t.csv:1:1: unknown column 'arival_s' (expected arrival_s, prompt_tokens, "
        "output_tokens and optionally cached_prompt_tokens)");
  CHECK(csv_error("arrival_s,prompt_tokens\n0,1\n") ==
        "t.csv:1:24: missing column 'output_tokens' (the header names arrival_s, "
        "prompt_tokens, output_tokens and optionally cached_prompt_tokens)");
  CHECK(csv_error("arrival_s,prompt_tokens,prompt_tokens,output_tokens\n") ==
        "t.csv:1:25: column 'prompt_tokens' named twice");
  CHECK(csv_error("# only a comment\n") ==
        "t.csv:2:1: expected a header naming arrival_s, prompt_tokens, output_tokens and "
        "optionally cached_prompt_tokens, got end of file");
  CHECK(csv_error(header) ==
        "t.csv:2:1: expected at least one request row after the header, got end of file");
}

TEST_CASE("bad JSONL lines name the key and where it is", "[serve][trace]") {
  CHECK(jsonl_error("{\"arrival_s\": 0, \"prompt_tokens\": 10, \"output_tokens\": -2}\n") ==
        "t.jsonl:1:56: output_tokens: expected an integer from 1 to 1073741824, got '-2'");
  CHECK(jsonl_error("{\"arrival_s\": \"0\", \"prompt_tokens\": 10, \"output_tokens\": 2}\n") ==
        "t.jsonl:1:15: arrival_s: expected seconds as a number from 0 to below 9.2e6, got "
        "'\"0\"'");
  CHECK(jsonl_error("{\"arrival_s\": 0, \"prompt_tokens\": 10}\n") ==
        "t.jsonl:1:1: missing key 'output_tokens' (each line has arrival_s, prompt_tokens, "
        "output_tokens and optionally cached_prompt_tokens)");
  CHECK(jsonl_error(
            "{\"arrival_s\": 0, \"prompt_tokens\": 10, \"output_tokens\": 2, \"user\": 1}\n") ==
        "t.jsonl:1:59: unknown key 'user' (expected arrival_s, prompt_tokens, output_tokens and "
        "optionally cached_prompt_tokens)");
  CHECK(jsonl_error("[1, 2]\n") ==
        "t.jsonl:1:1: expected a JSON object with arrival_s, prompt_tokens, output_tokens and "
        "optionally cached_prompt_tokens, got array");
  const std::string broken = jsonl_error("{\"arrival_s\": 0,\n");
  CHECK(broken.starts_with("t.jsonl:1:"));
  CHECK(broken.find("expected one JSON object per line: ") != std::string::npos);
  CHECK(jsonl_error("") == "t.jsonl:1:1: expected at least one request line, got end of file");
}

// Fuzzing finding (tests/fuzz/corpus/request_trace/number-overflow-escaped.jsonl): a number
// beyond a double's range made nlohmann::json throw out_of_range, which escaped as an internal
// error instead of bad input.
TEST_CASE("a JSONL number beyond a double's range is bad input at its column", "[serve][trace]") {
  CHECK(jsonl_error("{\"arrival_s\": 3.5e1199, \"prompt_tokens\": 10, \"output_tokens\": 2}\n") ==
        "t.jsonl:1:15: expected a finite number, got '3.5e1199'");
}

TEST_CASE("trace files: format by extension, unreadable files", "[serve][trace]") {
  CHECK(request_trace_format_of("a/b.csv") == request_trace_format::csv);
  CHECK(request_trace_format_of("b.jsonl") == request_trace_format::jsonl);
  CHECK_THROWS_WITH(request_trace_format_of("b.json"),
                    "request trace b.json: expected a .csv or .jsonl file");
  CHECK_THROWS_WITH(read_request_trace("/nonexistent/x.csv"), "cannot open /nonexistent/x.csv");
}

TEST_CASE("the sample request file reads and replays", "[serve][trace]") {
  const auto rs = read_request_trace(MOESIM_SOURCE_DIR "/scenarios/data/sample-requests.csv");
  CHECK(rs.size() >= 40);
  request_spec s;
  s.arrivals = arrival_kind::trace;
  s.trace = rs;
  request_source src(s, 0);
  std::uint64_t n = 0;
  while (auto r = src.next_open()) {
    CHECK(r->id == n);
    CHECK(r->arrival == rs[n].arrival);
    ++n;
  }
  CHECK(n == rs.size());
}

TEST_CASE("written CSV reads back", "[serve][trace]") {
  const std::vector<request> rows{{0, 1'234'567'890'123, 10, 2, 0},
                                  {1, 5 * sim::ps_per_s, 7, 1, 6}};
  const std::string text = format_request_trace_csv(rows, "line one\nline two");
  CHECK(text ==
        "# line one\n# line two\n"
        "arrival_s,prompt_tokens,output_tokens,cached_prompt_tokens\n"
        "1.234568,10,2,0\n5.000000,7,1,6\n");
  const auto back = csv(text);
  REQUIRE(back.size() == 2);
  CHECK(back[0].arrival == 1'234'568'000'000);
  CHECK(back[1].cached_prompt_tokens == 6);
}
