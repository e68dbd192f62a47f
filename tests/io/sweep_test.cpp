// Sweep expansion (grid x zip order), CI maths, resume matching, and byte-identical outputs at
// --jobs 1 and 2.
#include "sim/io/sweep.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/io/scenario_loader.hpp"
#include "sim/io/sweep_journal.hpp"

namespace moesim::io {

namespace {

sweep_spec spec_of(const char* yaml) {
  return read_sweep(*doc::parse(yaml, "test.yaml").find("sweep"));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string texts(const sweep_spec& s, std::size_t i) {
  std::string out;
  for (const auto* v : s.point(i)) out += (out.empty() ? "" : " ") + value_text(*v);
  return out;
}

}  // namespace

TEST_CASE("sweep grid is a cartesian product, first axis slowest, zip fastest") {
  const auto s = spec_of(
      "sweep:\n  grid: {a.b: [1, 2], c: [x, y, z]}\n  zip: {d: [p, q], e: [{k: 1}, [3, 4]]}\n");
  REQUIRE(s.points() == 12);
  CHECK(s.axis_names() == std::vector<std::string>{"a.b", "c", "d", "e"});
  CHECK(texts(s, 0) == "1 x p {k: 1}");
  CHECK(texts(s, 1) == "1 x q [3, 4]");
  CHECK(texts(s, 2) == "1 y p {k: 1}");
  CHECK(texts(s, 11) == "2 z q [3, 4]");
}

TEST_CASE("sweep zip alone, and apply_point edits the tree") {
  const auto s = spec_of("sweep:\n  zip: {moe.capacity_factor: [1.0, 2.0]}\n");
  REQUIRE(s.points() == 2);
  auto root = doc::parse("name: x\nmoe: {capacity_factor: 1.5}\n", "t.yaml");
  apply_point(root, s, 1);
  CHECK(root.find("moe")->find("capacity_factor")->text() == "2.0");
  CHECK(root.find("moe")->find("capacity_factor")->where().line == 2);  // the sweep's value
}

TEST_CASE("sweep bad blocks are refused with their position") {
  auto fails = [](const char* yaml, const std::string& part) {
    try {
      (void)spec_of(yaml);
    } catch (const input_error& e) {
      CHECK_THAT(e.what(), Catch::Contains(part));
      return;
    }
    FAIL("no error for " << yaml);
  };
  fails("sweep:\n  grid: {a: []}\n", "test.yaml:2:10: sweep.grid.a: empty axis");
  fails("sweep:\n  zip: {a: [1, 2], b: [1]}\n", "zipped lists differ in length");
  fails("sweep:\n  gird: {a: [1]}\n", "did you mean 'grid'?");
  fails("sweep: {}\n", "no axes");
  fails("sweep:\n  grid: {a: 3}\n", "expected a list of values");
}

TEST_CASE("sweep mean and Student t 95% interval") {
  CHECK(student_t975(1) == Approx(12.706));
  CHECK(student_t975(30) == Approx(2.042));
  CHECK(student_t975(100) == Approx(1.984).epsilon(1e-3));  // table value 1.984
  const auto c = mean_ci95({1.0, 2.0, 3.0});
  CHECK(c.mean == Approx(2.0));
  CHECK(c.ci95 == Approx(4.303 * 1.0 / std::sqrt(3.0)));  // sd 1
  CHECK(mean_ci95({5.0}).ci95 == 0.0);
}

TEST_CASE("sweep resume keeps points whose values match, refuses another sweep") {
  const auto s = spec_of("sweep:\n  grid: {a: [1, 2, 3]}\n");
  json old{{"schema", sweep_schema},
           {"seeds", 1},
           {"axes", {"a"}},
           {"points",
            {{{"point", 0}, {"values", {{"a", "1"}}}, {"rows", json::array()}},
             {{"point", 1}, {"values", {{"a", "7"}}}, {"rows", json::array()}}}}};
  const auto kept = resumable_points(old, s, 1, 3, "old.json");
  CHECK_FALSE(kept[0].is_null());
  CHECK(kept[1].is_null());  // its value changed since
  CHECK(kept[2].is_null());
  CHECK_THROWS_AS(resumable_points(old, s, 2, 3, "old.json"), input_error);
}

TEST_CASE("sweep outputs are byte-identical at --jobs 1 and --jobs 2, and resume completes them",
          "[asan-slow]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "moesim-sweep-test";
  fs::create_directories(dir);
  const std::string cmd = std::string(MOESIM_BINARY) + " sweep " + MOESIM_SOURCE_DIR +
                          "/scenarios/sweep-capacity.yaml --quiet --out ";
  REQUIRE(std::system((cmd + (dir / "j1").string() + " --limit 6 --jobs 1").c_str()) == 0);
  REQUIRE(std::system((cmd + (dir / "j2").string() + " --limit 6 --jobs 2").c_str()) == 0);
  CHECK(slurp((dir / "j1.csv").string()) == slurp((dir / "j2.csv").string()));
  CHECK(slurp((dir / "j1.json").string()) == slurp((dir / "j2.json").string()));
  // Three points first, then resume to six: the same files as one run of six.
  const std::string part = cmd + (dir / "r").string() + " --jobs 2";
  REQUIRE(std::system((part + " --limit 3").c_str()) == 0);
  REQUIRE(std::system((part + " --limit 6 --resume").c_str()) == 0);
  CHECK(slurp((dir / "r.json").string()) == slurp((dir / "j1.json").string()));
  // --seeds 2: each metric gets its mean and a _ci95 column.
  REQUIRE(std::system((cmd + (dir / "s").string() + " --limit 3 --seeds 2").c_str()) == 0);
  CHECK_THAT(slurp((dir / "s.csv").string()),
             Catch::StartsWith("point,moe,moe.capacity_factor,model,cluster,parallelism,"
                               "precision,workload,strategy,feasible,reason,step_time_s,"
                               "step_time_s_ci95,"));
  fs::remove_all(dir);
}

TEST_CASE("sweep journal: a killed sweep resumes from its journal to the same files",
          "[asan-slow]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "moesim-sweep-journal-test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string file = std::string(MOESIM_SOURCE_DIR) + "/scenarios/sweep-capacity.yaml";
  const std::string cmd =
      std::string(MOESIM_BINARY) + " sweep " + file + " --quiet --limit 6 --out ";
  REQUIRE(std::system((cmd + (dir / "full").string()).c_str()) == 0);
  CHECK_FALSE(fs::exists(sweep_journal_path((dir / "full").string())));  // removed at the end
  const json full = json::parse(slurp((dir / "full.json").string()));
  // The journal a sweep killed after three points leaves: the header and those points in
  // completion order, the last line cut short by the kill; no PREFIX.json or .csv yet.
  auto root = doc::parse_file(file);
  const auto spec = read_sweep(*root.find("sweep"));
  const std::string journal = sweep_journal_path((dir / "k").string());
  {
    sweep_journal j(journal, spec, 1, {});
    for (std::size_t i : {4, 0, 2}) j.append(full.at("points").at(i));
  }
  {
    std::ofstream cut(journal, std::ios::app | std::ios::binary);
    cut << full.at("points").at(5).dump().substr(0, 40);
  }
  const auto kept = read_sweep_journal(journal, spec, 1, 6);
  CHECK(kept[0] == full.at("points").at(0));
  CHECK(kept[4] == full.at("points").at(4));
  CHECK(kept[1].is_null());
  CHECK(kept[5].is_null());  // the cut line
  REQUIRE(std::system((cmd + (dir / "k").string() + " --resume").c_str()) == 0);
  CHECK(slurp((dir / "k.json").string()) == slurp((dir / "full.json").string()));
  CHECK(slurp((dir / "k.csv").string()) == slurp((dir / "full.csv").string()));
  CHECK_FALSE(fs::exists(journal));
  // A journal of another sweep (other --seeds), or corrupt before its last line, is refused.
  { sweep_journal j(journal, spec, 2, {}); }
  CHECK_THROWS_AS(read_sweep_journal(journal, spec, 1, 6), input_error);
  {
    std::ofstream bad(journal, std::ios::binary);
    bad << json{{"schema", sweep_schema}, {"axes", spec.axis_names()}, {"seeds", 1}}.dump()
        << "\n{not json\n"
        << full.at("points").at(0).dump() << "\n";
  }
  CHECK_THROWS_WITH(read_sweep_journal(journal, spec, 1, 6), Catch::Contains(":2: --resume"));
  fs::remove_all(dir);
}

TEST_CASE("sweep block is in the scenario schema") {
  const auto s = scenario_json_schema();
  const auto& sweep = s.at("properties").at("sweep");
  CHECK(sweep.at("additionalProperties") == false);
  const auto& grid = sweep.at("properties").at("grid");
  CHECK(grid.at("additionalProperties").at("type") == "array");
  CHECK(grid.at("additionalProperties").at("minItems") == 1);
  CHECK(sweep.at("properties").contains("zip"));
}

}  // namespace moesim::io
