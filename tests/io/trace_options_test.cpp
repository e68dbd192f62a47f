// The command line's trace selection: device lists and time windows, and their errors.
#include "sim/io/trace_options.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

using moesim::io::parse_device_list;
using moesim::io::parse_time_window;
namespace sim = moesim::sim;

namespace {
std::string error_of(void (*f)(const char*), const char* text) {
  try {
    f(text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}
void devices(const char* t) {
  (void)parse_device_list(t);
}
void window(const char* t) {
  (void)parse_time_window(t);
}
}  // namespace

TEST_CASE("device lists: ids and ranges, sorted without repeats") {
  using v = std::vector<moesim::topo::device_id>;
  CHECK(parse_device_list("3") == v{3});
  CHECK(parse_device_list("0-3,64,128-130") == v{0, 1, 2, 3, 64, 128, 129, 130});
  CHECK(parse_device_list("5,1-2, 2 ,0") == v{0, 1, 2, 5});
  CHECK(parse_device_list("7-7") == v{7});
}

TEST_CASE("device lists: what is wrong and what was given") {
  CHECK(error_of(devices, "0-7,x") ==
        "expected device ids and ranges such as 0-7,64,128-135, got '0-7,x' ('x' is not a "
        "device id)");
  CHECK(error_of(devices, "") ==
        "expected device ids and ranges such as 0-7,64,128-135, got '' (a device id is missing)");
  CHECK(error_of(devices, "1,,2").find("a device id is missing") != std::string::npos);
  CHECK(error_of(devices, "-3").find("a device id is missing") != std::string::npos);
  CHECK(error_of(devices, "1.5").find("'1.5' is not a device id") != std::string::npos);
  CHECK(error_of(devices, "9-2") == "range 9-2 ends before it starts (in '9-2')");
  CHECK(error_of(devices, "99999999999").find("is not a device id") != std::string::npos);
}

TEST_CASE("time windows: units, a bare 0, open ends") {
  using w = std::pair<sim::time_ps, sim::time_ps>;
  CHECK(parse_time_window("0:5ms") == w{0, 5 * sim::ps_per_ms});
  CHECK(parse_time_window("2s:3s") == w{2 * sim::ps_per_s, 3 * sim::ps_per_s});
  CHECK(parse_time_window("1.5 us:") == w{1'500'000, sim::time_max});
  CHECK(parse_time_window(":10ms") == w{0, 10 * sim::ps_per_ms});
  CHECK(parse_time_window(":") == w{0, sim::time_max});
  CHECK(parse_time_window("3ms:3ms") == w{3 * sim::ps_per_ms, 3 * sim::ps_per_ms});
}

TEST_CASE("time windows: what is wrong and what was given") {
  CHECK(error_of(window, "5ms") ==
        "expected START:END in simulated time with units, e.g. 0:5ms, 2s:3s or 1ms: (open ends "
        "allowed), got '5ms'");
  CHECK(error_of(window, "1:2:3").find("expected START:END") == 0);
  CHECK(error_of(window, "5ms:1ms") == "window '5ms:1ms' ends before it starts");
  CHECK(error_of(window, "0:5").find("'5' in '0:5': ") == 0);
  CHECK(error_of(window, "0:5 parsecs").find("'5 parsecs' in '0:5 parsecs': ") == 0);
}
