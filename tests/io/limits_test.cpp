// The work limits' estimates and the input-file checks (sim/engine/limits.hpp,
// sim/io/limits.hpp).
#include "sim/io/limits.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "sim/io/doc.hpp"
#include "sim/io/error.hpp"
#include "sim/io/scenario_loader.hpp"

using namespace moesim;

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("invalid_utf8 finds the first malformed byte") {
  CHECK_FALSE(limits::invalid_utf8("plain ascii\n"));
  CHECK_FALSE(limits::invalid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
  CHECK(limits::invalid_utf8("ab\xff") == 2u);            // never a UTF-8 byte
  CHECK(limits::invalid_utf8("a\xc0\x80") == 1u);         // overlong NUL
  CHECK(limits::invalid_utf8("\xe0\x80\x80") == 0u);      // overlong 3-byte
  CHECK(limits::invalid_utf8("x\xed\xa0\x80") == 1u);     // a surrogate
  CHECK(limits::invalid_utf8("\xf4\x90\x80\x80") == 0u);  // beyond U+10FFFF
  CHECK(limits::invalid_utf8("\xe2\x82") == 0u);          // cut short
  CHECK(limits::invalid_utf8("caf\xe9") == 3u);           // Latin-1 é
}

TEST_CASE("check_utf8 names the line and the column in characters") {
  CHECK(message_of([] { limits::check_utf8("a: 1\nname: \xc3\xa9t\xe9\n", "f.yaml"); }) ==
        "f.yaml:2:9: not UTF-8 text (byte 0xE9); save the file as UTF-8");
  CHECK_NOTHROW(limits::check_utf8("name: \xc3\xa9t\xc3\xa9\n", "f.yaml"));
}

TEST_CASE("check_input_file refuses directories, devices and files over the limit") {
  CHECK(message_of([] {
          limits::check_input_file(MOESIM_SOURCE_DIR "/tests");
        }).ends_with("not a regular file (a directory): moesim reads only regular files"));
  CHECK(message_of([] { limits::check_input_file("/dev/null"); }) ==
        "/dev/null: not a regular file (a device, FIFO or socket): moesim reads only regular "
        "files");
  CHECK_NOTHROW(limits::check_input_file("/does/not/exist"));  // the reader says it its way
  const auto path = std::filesystem::temp_directory_path() / "moesim_limits_test.txt";
  {
    std::ofstream out(path);
    out << std::string((2 << 20) + 1, 'x');
  }
  CHECK(message_of([&] { limits::check_input_file(path, 2 << 20); }) ==
        path.string() +
            ": 2097153 bytes, more than the 2 MiB limit of an input file "
            "(sim/engine/limits.hpp)");
  CHECK(limits::read_input_text(path, 4 << 20)->size() == (2u << 20) + 1);
  std::filesystem::remove(path);
  CHECK_FALSE(limits::read_input_text("/does/not/exist"));
}

TEST_CASE("a YAML stream of several documents is refused at the second") {
  CHECK(message_of([] { (void)io::doc::parse("a: 1\n---\nb: 2\n", "s.yaml"); }) ==
        "s.yaml:2:1: a stream of several YAML documents: a file holds one (remove the '---' "
        "separators)");
  CHECK_NOTHROW(io::doc::parse("---\na: 1\n", "s.yaml"));  // one document, marked
}

TEST_CASE("enforce_limit says the estimate, the limit and the flag") {
  CHECK(message_of([] { io::enforce_limit("topo", 1e9, 262144, "devices", "why", false); }) ==
        "topo: 1000000000 devices, more than the limit of 262144 (why); pass --allow-large to "
        "go ahead");
  CHECK_NOTHROW(io::enforce_limit("topo", 1e9, 262144, "devices", "why", true));
  CHECK_NOTHROW(io::enforce_limit("topo", 262144, 262144, "devices", "why", false));
  CHECK(message_of([] { io::enforce_limit("x", 1.5e300, 1, "bytes", "y", false); }) ==
        "x: 1.5e+300 bytes, more than the limit of 1 (y); pass --allow-large to go ahead");
}

TEST_CASE("cluster_devices and all_to_all_flows") {
  topo::cluster_spec torus;
  torus.fabric = topo::fabric_kind::torus;
  torus.shape = {8, 16, 16};
  torus.slices = 2;
  CHECK(io::cluster_devices(torus) == 4096);
  torus.shape = {1000000, 1000000, 1000000};  // no int overflow
  CHECK(io::cluster_devices(torus) == 2e18);
  topo::cluster_spec gpus;
  gpus.fabric = topo::fabric_kind::nvswitch;
  gpus.nodes = 4;
  gpus.gpus_per_node = 8;
  CHECK(io::cluster_devices(gpus) == 32);
  CHECK(io::all_to_all_flows(1024) == 1024.0 * 1023);
  CHECK(io::all_to_all_flows(1) == 0);
}

TEST_CASE("serving estimates: requests from rate x duration, count or trace rows") {
  serve::request_spec r;
  r.rate_per_s = 40;
  r.duration_s = 20;
  r.prompt.shape = serve::length_dist::kind::fixed;
  r.prompt.value = 1000;
  r.output.shape = serve::length_dist::kind::lognormal;
  r.output.mean = 300;
  r.output.max = 200;  // the clamp bounds the mean
  CHECK(io::serve_request_estimate(r) == 800);
  CHECK(io::serve_token_estimate(r) == 800 * 1200);
  r.count = 100;
  CHECK(io::serve_request_estimate(r) == 100);
  r.output.shape = serve::length_dist::kind::uniform;
  r.output.min = 10;
  r.output.max = 30;
  CHECK(io::serve_token_estimate(r) == 100 * 1020);
  r.arrivals = serve::arrival_kind::closed;
  r.count = 0;
  CHECK(io::serve_request_estimate(r) == 0);  // a closed loop without count: no estimate
  r.arrivals = serve::arrival_kind::trace;
  r.trace.resize(3);
  for (auto& q : r.trace) {
    q.prompt_tokens = 10;
    q.output_tokens = 5;
  }
  CHECK(io::serve_request_estimate(r) == 3);
  CHECK(io::serve_token_estimate(r) == 45);
}

TEST_CASE("check_scenario_limits refuses an exchange beyond the flows limit") {
  auto set = io::load_scenario_file(MOESIM_SOURCE_DIR "/scenarios/quickstart.yaml");
  CHECK_NOTHROW(io::check_scenario_limits(set.base, "q", false));
  set.base.parallelism.ep = 4096;
  CHECK(message_of([&] { io::check_scenario_limits(set.base, "q", false); }) ==
        "q: 16773120 flows in one expert all-to-all over ep 4096, more than the limit of "
        "4194304 (each flow takes ~380 bytes and ~16 us to simulate); pass --allow-large to go "
        "ahead");
  CHECK_NOTHROW(io::check_scenario_limits(set.base, "q", true));
}

TEST_CASE("escape_non_utf8 keeps a message quoting bad bytes as text") {
  CHECK(limits::escape_non_utf8("caf\xe9!") == "caf\\xE9!");
  CHECK(limits::escape_non_utf8("\xff\xfe") == "\\xFF\\xFE");
  CHECK(limits::escape_non_utf8("caf\xc3\xa9") == "caf\xc3\xa9");
}

TEST_CASE("a --set value that is not UTF-8 is refused, its origin escaped") {
  // (No golden: CMake's file(STRINGS) cannot pass the byte on a command line.)
  CHECK(message_of([] { (void)io::doc::parse("caf\xe9", "--set name=caf\xe9"); }) ==
        "--set name=caf\\xE9:1:4: not UTF-8 text (byte 0xE9); save the file as UTF-8");
}

TEST_CASE("document markers: one document passes, a second is found") {
  CHECK_NOTHROW(io::doc::parse("# c\n%YAML 1.2\n---\na: 1\n...\n# end\n", "s.yaml"));
  CHECK_NOTHROW(io::doc::parse("a: |\n  ---\n  text\n", "s.yaml"));  // indented: content
  CHECK(
      message_of([] { (void)io::doc::parse("---\n---\n", "s.yaml"); }).starts_with("s.yaml:2:1:"));
  CHECK(message_of([] {
          (void)io::doc::parse("a: 1\n...\nb: 2\n", "s.yaml");
        }).starts_with("s.yaml:3:1:"));
}

TEST_CASE("the loader refuses a cluster over the device limit before building it") {
  // 10^6 devices would take ~2 GiB of graph in check_feasible: the refusal comes first, at the
  // cluster key, and --allow-large (load_options::allow_large) is what lifts it.
  const std::vector<std::string> big{"cluster.shape=100x100x100", "parallelism.dp=15625",
                                     "strategies=[]"};
  const auto load = [&] {
    (void)io::load_scenario_file(MOESIM_SOURCE_DIR "/scenarios/gemini-moe-tpu-v5p.yaml",
                                 {big, {}, false});
  };
  CHECK_THROWS_AS(load(), io::input_error);
  const std::string m = message_of(load);
  CHECK(m.find(":16:10: cluster tpu-v5p 100x100x100: 1000000 devices, more than the limit of "
               "262144") != std::string::npos);
  // A strategy's cluster is checked the same way, and named.
  const std::vector<std::string> strategy{
      "strategies=[{name: huge, cluster: {shape: 100x100x100}, "
      "parallelism: {dp: 15625}}]"};
  const std::string s = message_of([&] {
    (void)io::load_scenario_file(MOESIM_SOURCE_DIR "/scenarios/gemini-moe-tpu-v5p.yaml",
                                 {strategy, {}, false});
  });
  CHECK(s.find("strategy 'huge'") != std::string::npos);
  CHECK(s.find("1000000 devices, more than the limit") != std::string::npos);
}
