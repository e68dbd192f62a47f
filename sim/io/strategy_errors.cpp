#include "sim/io/strategy_errors.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>
#include <tuple>
#include <vector>

namespace moesim::io::detail {

namespace {

using loc_key = std::tuple<std::string, int, int>;

loc_key key_of(const source_loc& l) {
  return {l.origin ? *l.origin : std::string(), l.line, l.column};
}

void collect_locations(const doc::node& n, std::vector<loc_key>& out) {
  out.push_back(key_of(n.where()));
  if (n.is_map()) {
    for (const auto& e : n.entries()) {
      out.push_back(key_of(e.key_where));
      collect_locations(e.value, out);
    }
  } else if (n.is_seq()) {
    for (const auto& i : n.items()) collect_locations(i, out);
  }
}

// Leaf keys (keys whose value is not a mapping) of the item, `name` excepted.
void collect_leaves(const doc::node& n, std::vector<const source_loc*>& out, bool top) {
  if (!n.is_map()) return;
  for (const auto& e : n.entries()) {
    if (top && e.key == "name") continue;
    if (e.value.is_map() && !e.value.entries().empty()) {
      collect_leaves(e.value, out, false);
    } else {
      out.push_back(&e.key_where);
    }
  }
}

struct path_match {
  const source_loc* deepest = nullptr;  // the item's key furthest along the path
  bool exact = false;                   // every segment of the path was found
};

// Follows "a.b[2].c" through the item's mappings (and lists, by index).
path_match follow(const doc::node& item, std::string_view path) {
  path_match m;
  if (path.empty()) return m;
  const doc::node* cur = &item;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t dot = path.find('.', start);
    std::string_view seg = path.substr(start, dot == std::string_view::npos ? dot : dot - start);
    std::optional<std::size_t> index;
    if (const auto bracket = seg.find('['); bracket != std::string_view::npos) {
      std::size_t i = 0;
      for (const char c : seg.substr(bracket + 1)) {
        if (c < '0' || c > '9') break;
        i = i * 10 + static_cast<std::size_t>(c - '0');
      }
      index = i;
      seg = seg.substr(0, bracket);
    }
    if (!cur->is_map()) return m;
    const doc::node::entry* found = nullptr;
    for (const auto& e : cur->entries()) {
      if (e.key == seg) found = &e;
    }
    if (found == nullptr) return m;
    m.deepest = &found->key_where;
    cur = &found->value;
    if (index) {
      if (!cur->is_seq() || *index >= cur->items().size()) return m;
      cur = &cur->items()[*index];
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  m.exact = true;
  return m;
}

// A feasibility refusal reads "section: key ..." (its path is the section, its text starts
// with the key that disagrees): the key path it is about is section.key.
std::string refusal_key_path(const input_error& e) {
  const std::string& p = e.path();
  if (p.empty() || p.find('.') != std::string::npos || p.find('[') != std::string::npos) return p;
  const std::string& d = e.detail();
  const auto end = std::find_if(d.begin(), d.end(), [](char c) {
    return !(std::islower(static_cast<unsigned char>(c)) != 0 || c == '_' ||
             std::isdigit(static_cast<unsigned char>(c)) != 0);
  });
  if (end == d.begin()) return p;
  return p + "." + std::string(d.begin(), end);
}

}  // namespace

std::string strategy_context(const doc::node& item, std::size_t index) {
  const doc::node* name = item.is_map() ? item.find("name") : nullptr;
  if (name != nullptr && name->is_scalar() && !name->text().empty()) {
    return "strategy '" + name->text() + "'";
  }
  return "strategies[" + std::to_string(index) + "]";
}

void rethrow_for_strategy(const input_error& e, const doc::node& item, const std::string& context) {
  if (!e.located()) throw input_error(context + ": " + e.what());
  const std::string& path = e.path();
  std::vector<loc_key> own;
  collect_locations(item, own);
  if (std::find(own.begin(), own.end(), key_of(e.where())) != own.end()) {
    throw input_error(e.where(), context, path, e.detail());
  }
  const path_match key = follow(item, refusal_key_path(e));
  if (key.exact) throw input_error(*key.deepest, context, path, e.detail());
  std::vector<const source_loc*> leaves;
  collect_leaves(item, leaves, true);
  if (leaves.size() == 1) throw input_error(*leaves.front(), context, path, e.detail());
  const path_match section = follow(item, path);
  if (section.deepest != nullptr) throw input_error(*section.deepest, context, path, e.detail());
  if (key.deepest != nullptr) throw input_error(*key.deepest, context, path, e.detail());
  throw input_error(item.where(), context, path, e.detail());
}

}  // namespace moesim::io::detail
