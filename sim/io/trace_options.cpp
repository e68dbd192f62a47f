#include "sim/io/trace_options.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <string>

#include "sim/engine/csv_text.hpp"
#include "sim/io/units.hpp"

namespace moesim::io {

namespace {

constexpr topo::device_id max_device_id = 1 << 24;

constexpr const char* device_list_form = "device ids and ranges such as 0-7,64,128-135";

topo::device_id device_id_of(std::string_view item, std::string_view whole) {
  const std::string_view t = sim::csv::trim(item);
  topo::device_id d = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
  if (t.empty() || ec != std::errc{} || end != t.data() + t.size()) {
    throw std::invalid_argument(fmt::format(
        "expected {}, got '{}' ({})", device_list_form, whole,
        t.empty() ? "a device id is missing" : fmt::format("'{}' is not a device id", t)));
  }
  // Bounds the list (a range is expanded id by id): far beyond the devices limit
  // (sim/engine/limits.hpp), which --allow-large lifts.
  if (d >= max_device_id) {
    throw std::invalid_argument(
        fmt::format("device {} in '{}' is beyond any cluster moesim simulates (ids below {})", d,
                    whole, max_device_id));
  }
  return d;
}

}  // namespace

std::vector<topo::device_id> parse_device_list(std::string_view text) {
  std::vector<topo::device_id> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view item = text.substr(start, comma - start);
    const std::size_t dash = item.find('-');
    if (dash == std::string_view::npos) {
      out.push_back(device_id_of(item, text));
    } else {
      const topo::device_id first = device_id_of(item.substr(0, dash), text);
      const topo::device_id last = device_id_of(item.substr(dash + 1), text);
      if (last < first) {
        throw std::invalid_argument(
            fmt::format("range {}-{} ends before it starts (in '{}')", first, last, text));
      }
      for (topo::device_id d = first; d <= last; ++d) out.push_back(d);
    }
    start = comma + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::pair<sim::time_ps, sim::time_ps> parse_time_window(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos) {
    throw std::invalid_argument(fmt::format(
        "expected START:END in simulated time with units, e.g. 0:5ms, 2s:3s or 1ms: (open "
        "ends allowed), got '{}'",
        text));
  }
  const auto at = [&](std::string_view side, sim::time_ps open) {
    side = sim::csv::trim(side);
    if (side.empty()) return open;
    if (side == "0") return sim::time_ps{0};
    try {
      return sim::ps_from_seconds(parse_quantity(side, dimension::seconds));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(fmt::format("'{}' in '{}': {}", side, text, e.what()));
    }
  };
  const sim::time_ps from = at(text.substr(0, colon), 0);
  const sim::time_ps to = at(text.substr(colon + 1), sim::time_max);
  if (to < from) {
    throw std::invalid_argument(fmt::format("window '{}' ends before it starts", text));
  }
  return {from, to};
}

}  // namespace moesim::io
