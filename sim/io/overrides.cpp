#include "sim/io/overrides.hpp"

#include <charconv>
#include <memory>
#include <string>

namespace moesim::io {

namespace {

struct segment {
  std::string key;
  bool has_index = false;
  std::size_t index = 0;
};

std::vector<segment> split_path(std::string_view path, const source_loc& where) {
  std::vector<segment> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t dot = path.find('.', start);
    std::string_view part =
        path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    segment s;
    const std::size_t bracket = part.find('[');
    if (bracket != std::string_view::npos) {
      const std::size_t close = part.find(']', bracket);
      const std::string_view digits = part.substr(bracket + 1, close - bracket - 1);
      std::size_t index = 0;
      const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (close != part.size() - 1 || digits.empty() || ec != std::errc() ||
          ptr != digits.data() + digits.size()) {
        throw input_error(where, std::string(path), "malformed list index in key path");
      }
      s.has_index = true;
      s.index = index;
      part = part.substr(0, bracket);
    }
    if (part.empty()) throw input_error(where, std::string(path), "empty key in key path");
    s.key = std::string(part);
    out.push_back(std::move(s));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

}  // namespace

void apply_override(doc::node& root, std::string_view assignment) {
  const std::string origin = "--set " + std::string(assignment);
  const source_loc where{std::make_shared<const std::string>(origin), 0, 0};
  const std::size_t eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw input_error(where, "", "expected key.path=value");
  }
  const std::string_view path = assignment.substr(0, eq);
  doc::node value = doc::parse(assignment.substr(eq + 1), origin);
  value.relocate(where);
  if (value.is_null() && assignment.substr(eq + 1).empty()) {
    throw input_error(where, std::string(path), "missing value after '='");
  }
  apply_override(root, path, value, where);
}

void apply_override(doc::node& root, std::string_view path, const doc::node& value,
                    const source_loc& where) {
  const auto segments = split_path(path, where);
  doc::node* cur = &root;
  std::string walked;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const segment& s = segments[i];
    if (cur->is_null()) *cur = doc::node::make_map(where);
    if (!cur->is_map()) {
      throw input_error(where, walked, "cannot set a key inside " + cur->describe());
    }
    walked += (walked.empty() ? "" : ".") + s.key;
    const bool last = i + 1 == segments.size();
    doc::node* next = cur->find(s.key);
    if (next == nullptr) {
      if (s.has_index) {
        throw input_error(where, walked, "no list here to index");
      }
      next = &cur->set(s.key, where, last ? value : doc::node::make_map(where));
      if (last) return;
    }
    if (s.has_index) {
      walked += "[" + std::to_string(s.index) + "]";
      if (!next->is_seq() || s.index >= next->items().size()) {
        throw input_error(where, walked,
                          next->is_seq() ? "list index out of range (the list has " +
                                               std::to_string(next->items().size()) + " items)"
                                         : "not a list");
      }
      next = &next->items()[s.index];
    }
    if (last) {
      *next = value;
      return;
    }
    cur = next;
  }
}

}  // namespace moesim::io
