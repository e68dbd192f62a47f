#include "sim/io/doc.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

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

node parse(std::string_view text, std::string origin, const limits& lim) {
  auto shared_origin = std::make_shared<const std::string>(std::move(origin));
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    const source_loc where{shared_origin, e.mark.is_null() ? 0 : e.mark.line + 1,
                           e.mark.is_null() ? 0 : e.mark.column + 1};
    throw input_error(where, "", "YAML syntax error: " + e.msg);
  }
  return converter(shared_origin, lim).convert(root, 0);
}

node parse_file(const std::string& path, const limits& lim) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path + ": cannot open file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw input_error(path + ": cannot read file");
  return parse(text.str(), path, lim);
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
