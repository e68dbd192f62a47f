#pragma once
// Comma-separated text as the measured-data readers take it (op profiles, request traces):
// lines with their 1-based numbers and fields with their 1-based columns, so a bad value is
// reported where the user has to fix it. No quoting: fields never hold commas. Header-only and
// dependent on nothing else in the project, so any layer may use it.
#include <algorithm>
#include <string_view>
#include <vector>

namespace moesim::sim::csv {

struct field {
  std::string_view text;  ///< trimmed of spaces and tabs
  int column = 1;         ///< 1-based column of its first non-blank character
};

inline std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

/// The comma-separated fields of one line (at least one, maybe empty). O(line).
inline std::vector<field> split_fields(std::string_view line) {
  std::vector<field> out;
  std::size_t start = 0;
  for (;;) {
    const auto comma = line.find(',', start);
    const std::size_t end = comma == std::string_view::npos ? line.size() : comma;
    const std::string_view raw = line.substr(start, end - start);
    const auto lead = std::min(raw.find_first_not_of(" \t"), raw.size());
    out.push_back({trim(raw), static_cast<int>(start + lead + 1)});
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

/// Calls f(line, number) for every line of `text` (without its "\n" or "\r\n") that is neither
/// blank nor a '#' comment; returns how many lines the text has. O(text).
template <class F>
int for_each_content_line(std::string_view text, F f) {
  int number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto newline = text.find('\n', pos);
    std::string_view line = text.substr(
        pos, newline == std::string_view::npos ? std::string_view::npos : newline - pos);
    pos = newline == std::string_view::npos ? text.size() : newline + 1;
    ++number;
    if (line.ends_with('\r')) line.remove_suffix(1);
    const std::string_view content = trim(line);
    if (content.empty() || content.front() == '#') continue;
    f(line, number);
  }
  return number;
}

}  // namespace moesim::sim::csv
