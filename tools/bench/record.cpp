// Recording benchmark runs with the machine they ran on (record.hpp).
#include "tools/bench/record.hpp"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "sim/io/error.hpp"
#include "sim/io/metrics.hpp"

namespace moesim::bench {

namespace {

// Wall times mean little without the machine and its load at the time: both go in the record.
// The first line of `path` that starts with `key`, after the key and any ':' / '=' / blanks.
std::string field_of(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    auto v = line.substr(key.size());
    const auto start = v.find_first_not_of(" \t:=\"");
    if (start == std::string::npos) return "";
    v = v.substr(start);
    while (!v.empty() && (v.back() == '"' || v.back() == ' ')) v.pop_back();
    return v;
  }
  return "";
}

io::json machine() {
  double mem_kib = 0;
  std::istringstream(field_of("/proc/meminfo", "MemTotal")) >> mem_kib;
  double load = 0;
  std::ifstream("/proc/loadavg") >> load;
  return {{"cpu", field_of("/proc/cpuinfo", "model name")},
          {"cores", std::thread::hardware_concurrency()},
          {"memory_bytes", mem_kib * 1024},
          {"os", field_of("/etc/os-release", "PRETTY_NAME")},
          {"load_average", load},
#ifdef NDEBUG
          {"build", "optimised (NDEBUG)"}};
#else
          {"build", "debug (assertions on)"}};
#endif
}

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

int record(const std::string& name, bench_fn fn, options opt, const std::string& file,
           std::ostream& log) {
  io::json doc{{"benchmark", name},
               {"command", "moesim bench " + name + " --json"},
               {"runs", io::json::array()}};
  if (std::filesystem::exists(file)) {
    std::ifstream in(file);
    try {
      doc = io::json::parse(in);
    } catch (const io::json::exception& e) {  // parse errors, numbers out of range
      throw io::input_error(file + ": not JSON: " + e.what());
    }
    if (!doc.contains("benchmark") || doc["benchmark"] != name || !doc.contains("runs")) {
      throw io::input_error(file + ": not a record of benchmark " + name);
    }
  }
  io::json run{{"date", utc_now()}, {"machine", machine()}};
  opt.json = true;
  std::ostringstream out;
  const int rc = fn(opt, out);
  if (rc != 0) return rc;
  run["result"] = io::json::parse(out.str());
  doc["runs"].push_back(std::move(run));
  std::ofstream(file) << io::dump(doc);
  log << out.str() << "recorded in " << file << " (" << doc["runs"].size() << " runs)\n";
  return 0;
}

}  // namespace moesim::bench
