#include "sim/io/doc.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include "sim/engine/limits.hpp"

namespace moesim::io::doc {

node node::make_scalar(std::string text, bool quoted, source_loc where) {
  node n;
  n.kind_ = kind::scalar;
  n.text_ = std::move(text);
  n.quoted_ = quoted;
  n.where_ = std::move(where);
  return n;
}

node node::make_map(source_loc where) {
  node n;
  n.kind_ = kind::map;
  n.where_ = std::move(where);
  return n;
}

node node::make_seq(source_loc where) {
  node n;
  n.kind_ = kind::seq;
  n.where_ = std::move(where);
  return n;
}

node node::make_null(source_loc where) {
  node n;
  n.where_ = std::move(where);
  return n;
}

const node* node::find(std::string_view key) const noexcept {
  for (const auto& e : entries_) {
    if (e.key == key) return &e.value;
  }
  return nullptr;
}

node* node::find(std::string_view key) noexcept {
  for (auto& e : entries_) {
    if (e.key == key) return &e.value;
  }
  return nullptr;
}

node& node::set(std::string key, source_loc key_where, node value) {
  for (auto& e : entries_) {
    if (e.key == key) {
      e.value = std::move(value);
      e.key_where = std::move(key_where);
      return e.value;
    }
  }
  entries_.push_back({std::move(key), std::move(key_where), std::move(value)});
  return entries_.back().value;
}

void node::erase(std::string_view key) {
  std::erase_if(entries_, [&](const entry& e) { return e.key == key; });
}

void node::relocate(const source_loc& where) {
  where_ = where;
  for (auto& e : entries_) {
    e.key_where = where;
    e.value.relocate(where);
  }
  for (auto& i : items_) i.relocate(where);
}

std::string node::describe() const {
  switch (kind_) {
    case kind::null:
      return "nothing (null)";
    case kind::map:
      return "a mapping";
    case kind::seq:
      return "a list";
    case kind::scalar:
      break;
  }
  std::string shown = text_.size() > 40 ? text_.substr(0, 37) + "..." : text_;
  return "'" + shown + "'";
}

namespace {

class converter {
 public:
  converter(std::shared_ptr<const std::string> origin, const limits& lim)
      : origin_(std::move(origin)), limits_(lim) {}

  node convert(const YAML::Node& y, int depth) {
    const source_loc where = loc(y.Mark());
    if (depth > limits_.max_depth) {
      throw input_error(where, "",
                        "nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    if (++count_ > limits_.max_nodes) {
      throw input_error(where, "",
                        "document expands to more than " + std::to_string(limits_.max_nodes) +
                            " nodes (alias expansion is bounded)");
    }
    switch (y.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return node::make_null(where);
      case YAML::NodeType::Scalar:
        // yaml-cpp tags quoted scalars "!" and plain ones "?".
        return node::make_scalar(y.Scalar(), y.Tag() == "!", where);
      case YAML::NodeType::Sequence: {
        node n = node::make_seq(where);
        for (const auto& item : y) n.items().push_back(convert(item, depth + 1));
        return n;
      }
      case YAML::NodeType::Map: {
        node n = node::make_map(where);
        for (const auto& kv : y) {
          const source_loc key_where = loc(kv.first.Mark());
          if (!kv.first.IsScalar()) {
            throw input_error(key_where, "", "mapping keys must be plain names");
          }
          const std::string& key = kv.first.Scalar();
          if (const node* prev = n.find(key)) {
            (void)prev;
            const auto& first = std::find_if(n.entries().begin(), n.entries().end(),
                                             [&](const node::entry& e) { return e.key == key; });
            throw input_error(key_where, key,
                              "duplicate key (first given at line " +
                                  std::to_string(first->key_where.line) + ")");
          }
          n.entries().push_back({key, key_where, convert(kv.second, depth + 1)});
        }
        return n;
      }
    }
    return node::make_null(where);
  }

  source_loc loc(const YAML::Mark& m) const {
    if (m.is_null()) return {origin_, 0, 0};
    return {origin_, m.line + 1, m.column + 1};
  }

 private:
  std::shared_ptr<const std::string> origin_;
  limits limits_;
  std::size_t count_ = 0;
};

}  // namespace

namespace {

/// The 1-based line where a second YAML document starts ('---' after content or after another
/// '---', or content after '...'), or 0 when the text holds at most one. A marker is '---' or
/// '...' at column 0 followed by a blank or the line's end. O(n).
int second_document_line(std::string_view text) {
  bool content = false, marker = false, ended = false;
  int line = 0;
  while (!text.empty()) {
    ++line;
    const std::size_t nl = std::min(text.find('\n'), text.size());
    std::string_view l = text.substr(0, nl);
    text.remove_prefix(std::min(nl + 1, text.size()));
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    const auto is_marker = [&](std::string_view m) {
      return l.starts_with(m) && (l.size() == 3 || l[3] == ' ' || l[3] == '\t');
    };
    const auto has_content = [](std::string_view rest) {
      const auto first = rest.find_first_not_of(" \t");
      return first != std::string_view::npos && rest[first] != '#';
    };
    if (is_marker("---")) {
      if (content || marker || ended) return line;
      marker = true;
      content = has_content(l.substr(3));
    } else if (is_marker("...")) {
      ended = true;
    } else if (has_content(l) && l.front() != '%') {
      if (ended) return line;
      content = true;
    }
  }
  return 0;
}

}  // namespace

node parse(std::string_view text, std::string origin, const limits& lim) {
  auto shared_origin = std::make_shared<const std::string>(std::move(origin));
  try {
    moesim::limits::check_utf8(text, *shared_origin);
  } catch (const std::invalid_argument& e) {
    throw input_error(e.what());
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    const source_loc where{shared_origin, e.mark.is_null() ? 0 : e.mark.line + 1,
                           e.mark.is_null() ? 0 : e.mark.column + 1};
    throw input_error(where, "", "YAML syntax error: " + e.msg);
  }
  // yaml-cpp's Load keeps the first document of a stream and drops the rest unread (and its
  // LoadAll can loop forever on some malformed text), so the markers are checked here.
  if (const int line = second_document_line(text); line > 0) {
    throw input_error(source_loc{shared_origin, line, 1}, "",
                      "a stream of several YAML documents: a file holds one (remove the '---' "
                      "separators)");
  }
  return converter(shared_origin, lim).convert(root, 0);
}

node parse_file(const std::string& path, const limits& lim) {
  std::optional<std::string> text;
  try {
    text = moesim::limits::read_input_text(path, moesim::limits::yaml_file_bytes);
  } catch (const std::invalid_argument& e) {
    throw input_error(e.what());
  }
  if (!text) {
    throw input_error(path + ": cannot open file" +
                      (std::filesystem::exists(path) ? " (not readable)" : " (no such file)"));
  }
  return parse(*text, path, lim);
}

void merge(node& base, const node& over) {
  if (base.is_map() && over.is_map()) {
    for (const auto& e : over.entries()) {
      node* existing = base.find(e.key);
      if (existing != nullptr && existing->is_map() && e.value.is_map()) {
        merge(*existing, e.value);
      } else {
        base.set(e.key, e.key_where, e.value);
      }
    }
    return;
  }
  base = over;
}

}  // namespace moesim::io::doc
