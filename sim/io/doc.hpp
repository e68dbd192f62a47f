#pragma once
// A YAML document as a tree that remembers where every node came from. yaml-cpp nodes carry
// a line and column but not a file name, and presets, scenarios and --set overrides are merged
// into one tree before it is read, so each node here holds its own source_loc.
//
// Reading is bounded: nesting deeper than `limits.max_depth` and alias expansion beyond
// `limits.max_nodes` are input errors (a "billion laughs" file cannot exhaust memory), and a
// duplicate key in a mapping is an input error (yaml-cpp would silently keep both).
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/io/error.hpp"

namespace moesim::io::doc {

struct limits {
  int max_depth = 64;
  std::size_t max_nodes = 200'000;
};

struct map_entry;

class node {
 public:
  enum class kind { null, scalar, map, seq };

  node() = default;
  static node make_scalar(std::string text, bool quoted, source_loc where);
  static node make_map(source_loc where);
  static node make_seq(source_loc where);
  static node make_null(source_loc where);

  [[nodiscard]] kind type() const noexcept { return kind_; }
  [[nodiscard]] bool is_null() const noexcept { return kind_ == kind::null; }
  [[nodiscard]] bool is_scalar() const noexcept { return kind_ == kind::scalar; }
  [[nodiscard]] bool is_map() const noexcept { return kind_ == kind::map; }
  [[nodiscard]] bool is_seq() const noexcept { return kind_ == kind::seq; }
  [[nodiscard]] const source_loc& where() const noexcept { return where_; }

  /// Scalar text (as written, without quotes). Precondition: is_scalar().
  [[nodiscard]] const std::string& text() const noexcept { return text_; }
  /// True for '...' or "..." scalars: never read as numbers or booleans' keywords.
  [[nodiscard]] bool quoted() const noexcept { return quoted_; }

  using entry = map_entry;
  /// Map entries in document order. Precondition: is_map().
  [[nodiscard]] const std::vector<entry>& entries() const noexcept { return entries_; }
  [[nodiscard]] std::vector<entry>& entries() noexcept { return entries_; }
  /// The value under `key`, or nullptr. O(entries).
  [[nodiscard]] const node* find(std::string_view key) const noexcept;
  [[nodiscard]] node* find(std::string_view key) noexcept;
  /// Sets `key` to `value` (replacing an existing entry in place, else appending).
  node& set(std::string key, source_loc key_where, node value);
  /// Removes `key` if present.
  void erase(std::string_view key);

  /// Sequence items. Precondition: is_seq().
  [[nodiscard]] const std::vector<node>& items() const noexcept { return items_; }
  [[nodiscard]] std::vector<node>& items() noexcept { return items_; }

  /// Sets the source of this node, its keys and all descendants (for values that come from
  /// somewhere other than a file, such as a --set override).
  void relocate(const source_loc& where);
  /// Sets the source of this node only (children keep theirs).
  void set_where(source_loc where) { where_ = std::move(where); }

  /// A short description for error messages: "a mapping", "a list", "the string 'abc'".
  [[nodiscard]] std::string describe() const;

 private:
  kind kind_ = kind::null;
  source_loc where_;
  std::string text_;
  bool quoted_ = false;
  std::vector<entry> entries_;
  std::vector<node> items_;
};

/// Parses YAML text. `origin` names it in messages (a path, or e.g. "--set a.b=c").
/// Throws input_error on syntax errors (with yaml-cpp's message and position), duplicate keys,
/// non-scalar keys, and the limits above.
/// One key of a mapping, with where the key itself was written.
struct map_entry {
  std::string key;
  source_loc key_where;
  node value;
};

node parse(std::string_view text, std::string origin, const limits& lim = {});

/// Reads and parses a file; a missing or unreadable file is an input_error naming the path.
node parse_file(const std::string& path, const limits& lim = {});

/// Overlays `over` onto `base`: maps merge key by key (recursively), anything else replaces.
/// Every node keeps its own source, so errors point into whichever file supplied the value.
void merge(node& base, const node& over);

}  // namespace moesim::io::doc
