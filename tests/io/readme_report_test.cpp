// The README's generated sections (sim/io/readme_report.hpp): markers, and the tables' reading
// of their inputs. `ctest -L docs` checks the real README against the stored inputs.
#include "sim/io/readme_report.hpp"

#include <catch2/catch.hpp>

#include "sim/io/error.hpp"

using namespace moesim;

TEST_CASE("generated sections: replaced between their markers only") {
  const std::string text = "intro\n" + io::generated_marker("a") + "\nold\n" + io::generated_end +
                           "\nmiddle\n" + io::generated_marker("b") + "\n" + io::generated_end +
                           "\nend\n";
  CHECK(io::generated_section(text, "a") == std::string("old\n"));
  CHECK(io::generated_section(text, "b") == std::string());
  CHECK_FALSE(io::generated_section(text, "c"));
  const auto out = io::replace_generated_section(text, "b", "new\n");
  CHECK(io::generated_section(out, "a") == std::string("old\n"));
  CHECK(io::generated_section(out, "b") == std::string("new\n"));
  CHECK(out.rfind("\nend\n") == out.size() - 5);
  CHECK_THROWS_AS(io::replace_generated_section(text, "c", "x\n"), io::input_error);
  CHECK_THROWS_AS(io::generated_section(io::generated_marker("a") + "\nno end", "a"),
                  io::input_error);
}

TEST_CASE("validation table: every row, factors marked, gaps listed with their fix") {
  io::json rows = io::json::array();
  rows.push_back({{"case", "x-row"},
                  {"title", "a | b"},
                  {"source", "o/r issue #1"},
                  {"scenario", "moesim x"},
                  {"measured", 370.0},
                  {"simulated", 369.39},
                  {"unit", "GB/s"},
                  {"error", -0.00165},
                  {"tolerance", 0.1},
                  {"pass", true},
                  {"status", "pass"},
                  {"sets_factor", "h100 efficiency.link"},
                  {"note", ""},
                  {"gap", ""}});
  rows.push_back({{"case", "y-row"},
                  {"title", "y"},
                  {"source", "o/r file.md"},
                  {"scenario", "scenarios/y.yaml"},
                  {"measured", 468.0},
                  {"simulated", 592.3},
                  {"unit", "TFLOPS"},
                  {"error", 0.2656},
                  {"tolerance", 0.15},
                  {"pass", false},
                  {"status", "known gap"},
                  {"sets_factor", ""},
                  {"note", ""},
                  {"gap", "why; fix: that"}});
  const auto t = io::validation_table(io::json{{"rows", rows}});
  CHECK(t.find("| `x-row` | a \\| b | 370 GB/s | 369.4 | -0.2% | 10% | pass | sets "
               "`h100 efficiency.link` |") != std::string::npos);
  CHECK(
      t.find("| `y-row` | y | 468 TFLOPS | 592.3 | +26.6% | 15% | **known gap** | prediction |") !=
      std::string::npos);
  CHECK(t.find("2 rows: 1 predictions (rows that set no preset factor; 0 of them pass), 1 set") !=
        std::string::npos);
  CHECK(t.find("- `y-row` (known gap): why; fix: that") != std::string::npos);
  CHECK_THROWS_AS(io::validation_table(io::json::array()), io::input_error);
}

TEST_CASE("flagship table: ranked strategies, top terms as shares of the step, notes merged") {
  const io::json metrics{
      {"schema", "moesim.metrics/1"},
      {"scenario", "s"},
      {"workload", "decode"},
      {"summary", {{"step_time_s", 0.02}, {"tokens_per_s", 33448.0}, {"devices", 8}}},
      {"routing", {{"drop_rate", 0.0}}},
      {"breakdown_s", {{"attention", 0.015}, {"combine", 0.001}, {"expert_weight_load", 0.004}}},
      {"comparison",
       {{"objective", "step_time_s"},
        {"ranked",
         {{{"strategy", "as written"},
           {"summary", {{"step_time_s", 0.02}}},
           {"routing", {{"drop_rate", 0.0}}}},
          {{"strategy", "tp8"},
           {"summary", {{"step_time_s", 0.03}}},
           {"routing", {{"drop_rate", 0.25}}}}}}}}};
  const auto summary = io::scenario_summary(metrics);
  const io::json all{{"scenarios", io::json::array({summary})}};
  const auto t = io::flagship_table(all, {{"s", "because"}});
  CHECK(
      t.find("| `s` | ranked by step time: as written 20 ms < tp8 30 ms (25% dropped) | 33.4k "
             "tokens/s on 8 devices | attention 75%, expert weights 20%, combine 5% | because |") !=
      std::string::npos);
  CHECK_THROWS_AS(io::flagship_table(all, {{"missing", "x"}}), io::input_error);
  CHECK_THROWS_AS(io::scenario_summary(io::json{{"schema", "other"}}), io::input_error);
}
