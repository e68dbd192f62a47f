#pragma once
// Declarative schemas: each configuration struct is described once, as a list of keys bound
// to members with a value spec (type, range, unit, choices) and a doc line. From that one
// description come the strict reader (unknown keys with "did you mean", missing keys, types,
// ranges, units — every error with file:line:col and the key path), the JSON Schema that
// `moesim schema` exports for editors, and the JSON echo of the resolved configuration.
//
// Reading order, so that a typo'd key is reported as a typo rather than as a missing key:
//   1. check_keys over the whole tree (unknown keys anywhere, depth first, document order);
//   2. read: per mapping, missing required keys, then each present key's value, then the
//      object's cross-field checks.
// A value spec S for a C++ type V provides:
//   void read(const doc::node&, V&, const std::string& path) const;   // throws input_error
//   void check_keys(const doc::node&, const std::string& path) const;
//   nlohmann::json schema() const;  nlohmann::json to_json(const V&) const;
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sim/engine/time.hpp"
#include "sim/io/doc.hpp"
#include "sim/io/error.hpp"
#include "sim/io/units.hpp"

namespace moesim::io {

using json = nlohmann::ordered_json;

/// The latest simulated time, in seconds, a scenario key may give: a round bound inside the
/// clock's range (sim::ps_from_seconds refuses 9.2e6 s and beyond), so a time that validates
/// also runs.
inline constexpr double max_simulated_seconds = 9.1e6;

namespace detail {
[[noreturn]] void fail(const doc::node& n, const std::string& path, const std::string& what);
std::string join_path(const std::string& path, std::string_view key);
std::string format_number(double v);
/// [+-]digits: an integer too large (or negative) for the target type is out of range, not
/// of the wrong type.
bool is_integer_literal(std::string_view text);
/// Requires a plain (unquoted) scalar; `expected` names the form for the message.
const std::string& scalar_text(const doc::node& n, const std::string& path,
                               const std::string& expected);
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Scalar specs

/// An integer of type Int in [min, max]. Quoted strings and fractions are refused.
template <class Int>
struct integer_spec {
  Int min = std::numeric_limits<Int>::min();
  Int max = std::numeric_limits<Int>::max();

  [[nodiscard]] std::string expected() const {
    return "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  }
  void read(const doc::node& n, Int& out, const std::string& path) const {
    const std::string& t = detail::scalar_text(n, path, expected());
    std::string_view s = t;
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    Int v{};
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    const bool parsed = ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
    if ((parsed && (v < min || v > max)) || (!parsed && detail::is_integer_literal(t))) {
      detail::fail(n, path, t + " is out of range (expected " + expected() + ")");
    }
    if (!parsed) detail::fail(n, path, "expected " + expected() + ", got " + n.describe());
    out = v;
  }
  void check_keys(const doc::node&, const std::string&) const {}
  [[nodiscard]] json schema() const {
    return {{"type", "integer"}, {"minimum", min}, {"maximum", max}};
  }
  [[nodiscard]] json to_json(const Int& v) const { return v; }
};

/// A finite real number in [min, max] (or (min, max] with min_exclusive).
struct number_spec {
  double min = -std::numeric_limits<double>::max();
  double max = std::numeric_limits<double>::max();
  bool min_exclusive = false;

  [[nodiscard]] std::string expected() const;
  void read(const doc::node& n, double& out, const std::string& path) const;
  void check_keys(const doc::node&, const std::string&) const {}
  [[nodiscard]] json schema() const;
  [[nodiscard]] json to_json(const double& v) const { return v; }
};

struct bool_spec {
  void read(const doc::node& n, bool& out, const std::string& path) const;
  void check_keys(const doc::node&, const std::string&) const {}
  [[nodiscard]] json schema() const { return {{"type", "boolean"}}; }
  [[nodiscard]] json to_json(const bool& v) const { return v; }
};

/// A string (quoted or plain); `non_empty` refuses "".
struct string_spec {
  bool non_empty = true;
  void read(const doc::node& n, std::string& out, const std::string& path) const;
  void check_keys(const doc::node&, const std::string&) const {}
  [[nodiscard]] json schema() const;
  [[nodiscard]] json to_json(const std::string& v) const { return v; }
};

/// A quantity with a unit (see units.hpp), in base units, within [min, max].
/// Always aggregate-initialised with its dimension first (`quantity_spec{dimension::bytes}`).
// NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): dim has no default; every use names it
struct quantity_spec {
  dimension dim;
  double min = 0;
  double max = std::numeric_limits<double>::max();
  bool min_exclusive = false;

  void read(const doc::node& n, double& out, const std::string& path) const;
  void check_keys(const doc::node&, const std::string&) const {}
  [[nodiscard]] json schema() const;
  [[nodiscard]] json to_json(const double& v) const { return v; }
};

/// A duration with a unit, stored as integer picoseconds.
struct duration_spec {
  sim::time_ps min = 0;
  sim::time_ps max = sim::time_max;
  void read(const doc::node& n, sim::time_ps& out, const std::string& path) const;
  void check_keys(const doc::node&, const std::string&) const {}
  [[nodiscard]] json schema() const;
  /// Echoed as integer picoseconds, the unit its `_ps` key names (and a valid bare input).
  [[nodiscard]] json to_json(const sim::time_ps& v) const { return v; }
};

/// One of a fixed set of names, mapped to values of E (an enum, or anything comparable).
template <class E>
struct enum_spec {
  std::vector<std::pair<std::string, E>> choices;

  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> v;
    for (const auto& c : choices) v.push_back(c.first);
    return v;
  }
  [[nodiscard]] std::string name_list() const {
    std::string s;
    for (const auto& c : choices) s += (s.empty() ? "" : ", ") + c.first;
    return s;
  }
  void read(const doc::node& n, E& out, const std::string& path) const {
    const std::string& t = detail::scalar_text(n, path, "one of: " + name_list());
    for (const auto& [name, value] : choices) {
      if (name == t) {
        out = value;
        return;
      }
    }
    const std::string guess = did_you_mean(t, names());
    detail::fail(n, path,
                 "unknown value '" + t + "'" +
                     (guess.empty() ? "" : "; did you mean '" + guess + "'?") +
                     " (expected one of: " + name_list() + ")");
  }
  void check_keys(const doc::node&, const std::string&) const {}
  [[nodiscard]] json schema() const { return {{"type", "string"}, {"enum", names()}}; }
  [[nodiscard]] json to_json(const E& v) const {
    for (const auto& [name, value] : choices) {
      if (value == v) return name;
    }
    return nullptr;
  }
};

// ---------------------------------------------------------------------------------------------
// Composite specs

/// A value whose zero means "not given" (an unbounded count, an unused field): echoed as null
/// and without a default in the JSON Schema, where zero would be out of the key's range.
template <class V, class Inner>
struct zero_unset {
  Inner inner;
  void read(const doc::node& n, V& out, const std::string& path) const { inner.read(n, out, path); }
  void check_keys(const doc::node&, const std::string&) const {}
  [[nodiscard]] json schema() const { return inner.schema(); }
  [[nodiscard]] json to_json(const V& v) const {
    return v == V{} ? json(nullptr) : inner.to_json(v);
  }
};

template <class V, class Inner>
zero_unset<V, Inner> unset_if_zero(Inner inner) {
  return {std::move(inner)};
}

/// `null` or absent-in-a-list values map to std::nullopt; anything else is read by Inner.
template <class V, class Inner>
struct optional_spec {
  Inner inner;
  void read(const doc::node& n, std::optional<V>& out, const std::string& path) const {
    if (n.is_null()) {
      out.reset();
      return;
    }
    V v = out.value_or(V{});
    inner.read(n, v, path);
    out = std::move(v);
  }
  void check_keys(const doc::node& n, const std::string& path) const {
    if (!n.is_null()) inner.check_keys(n, path);
  }
  [[nodiscard]] json schema() const {
    return {{"oneOf", json::array({inner.schema(), json{{"type", "null"}}})}};
  }
  [[nodiscard]] json to_json(const std::optional<V>& v) const {
    return v ? inner.to_json(*v) : json(nullptr);
  }
};

/// A list of V, each read by Item, with a bounded length.
template <class V, class Item>
struct list_spec {
  Item item;
  std::size_t min_items = 0;
  std::size_t max_items = 100'000;

  void read(const doc::node& n, std::vector<V>& out, const std::string& path) const {
    if (!n.is_seq()) detail::fail(n, path, "expected a list, got " + n.describe());
    const auto& items = n.items();
    if (items.size() < min_items || items.size() > max_items) {
      detail::fail(n, path,
                   "expected " + std::to_string(min_items) + " to " + std::to_string(max_items) +
                       " items, got " + std::to_string(items.size()));
    }
    out.clear();
    out.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      V v{};
      item.read(items[i], v, path + "[" + std::to_string(i) + "]");
      out.push_back(std::move(v));
    }
  }
  void check_keys(const doc::node& n, const std::string& path) const {
    if (!n.is_seq()) return;
    for (std::size_t i = 0; i < n.items().size(); ++i) {
      item.check_keys(n.items()[i], path + "[" + std::to_string(i) + "]");
    }
  }
  [[nodiscard]] json schema() const {
    return {{"type", "array"},
            {"items", item.schema()},
            {"minItems", min_items},
            {"maxItems", max_items}};
  }
  [[nodiscard]] json to_json(const std::vector<V>& v) const {
    json a = json::array();
    for (const auto& x : v) a.push_back(item.to_json(x));
    return a;
  }
};

/// A mapping read into struct T: the keys, their specs and docs.
template <class T>
class object_type {
 public:
  using checker = std::function<void(const T&, const doc::node&, const std::string& path)>;

  object_type(std::string title, std::string description)
      : title_(std::move(title)), description_(std::move(description)) {}

  template <class V, class S>
  object_type& required(std::string key, V T::*member, S spec, std::string doc) {
    return add(std::move(key), member, std::move(spec), std::move(doc), true);
  }
  template <class V, class S>
  object_type& optional(std::string key, V T::*member, S spec, std::string doc) {
    return add(std::move(key), member, std::move(spec), std::move(doc), false);
  }
  /// A key accepted by the schema but consumed before reading (e.g. `preset`, expanded by the
  /// loader): check_keys allows it, read ignores it.
  /// key and doc are moved into the field (clang-tidy 14 misses moves into a member of a class
  /// template's dependent type, hence the NOLINT).
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  object_type& passthrough(std::string key, json schema, std::string doc) {
    field f;
    f.key = std::move(key);
    f.doc = std::move(doc);
    f.schema = [s = std::move(schema)] { return s; };
    f.passthrough = true;
    fields_.push_back(std::move(f));
    return *this;
  }
  /// A cross-field check run after every key is read (throw with detail::fail).
  object_type& check(checker c) {
    checks_.push_back(std::move(c));
    return *this;
  }

  [[nodiscard]] std::vector<std::string> keys() const {
    std::vector<std::string> v;
    for (const auto& f : fields_) v.push_back(f.key);
    return v;
  }
  [[nodiscard]] const std::string& title() const noexcept { return title_; }

  void check_keys(const doc::node& n, const std::string& path) const {
    if (!n.is_map()) return;  // the type error is reported by read()
    for (const auto& e : n.entries()) {
      const field* f = find(e.key);
      if (f == nullptr) unknown_key(e, path);
      if (f->check_keys) f->check_keys(e.value, detail::join_path(path, e.key));
    }
  }

  void read(const doc::node& n, T& out, const std::string& path) const {
    if (!n.is_map()) {
      detail::fail(n, path, "expected a mapping (" + title_ + "), got " + n.describe());
    }
    check_keys(n, path);
    for (const auto& f : fields_) {
      if (f.required && n.find(f.key) == nullptr) {
        detail::fail(n, path, "missing required key '" + f.key + "' (" + f.doc + ")");
      }
    }
    for (const auto& e : n.entries()) {
      const field* f = find(e.key);
      if (!f->passthrough) f->read(e.value, out, detail::join_path(path, e.key));
    }
    for (const auto& c : checks_) c(out, n, path);
  }

  [[nodiscard]] json schema() const {
    json props = json::object();
    json req = json::array();
    const T defaults{};
    for (const auto& f : fields_) {
      json s = f.schema();
      // The value's own description (e.g. its unit) follows the key's doc.
      s["description"] =
          s.contains("description") ? f.doc + "; " + s["description"].get<std::string>() : f.doc;
      if (!f.required && !f.passthrough && f.to_json) {
        json d = f.to_json(defaults);
        if (!d.is_null()) s["default"] = d;
      }
      props[f.key] = s;
      if (f.required) req.push_back(f.key);
    }
    json o{{"type", "object"},
           {"title", title_},
           {"description", description_},
           {"additionalProperties", false},
           {"properties", props}};
    if (!req.empty()) o["required"] = req;
    return o;
  }

  [[nodiscard]] json to_json(const T& v) const {
    json o = json::object();
    for (const auto& f : fields_) {
      if (f.to_json) o[f.key] = f.to_json(v);
    }
    return o;
  }

 private:
  struct field {
    std::string key;
    std::string doc;
    bool required = false;
    bool passthrough = false;
    std::function<void(const doc::node&, T&, const std::string&)> read;
    std::function<void(const doc::node&, const std::string&)> check_keys;
    std::function<json()> schema;
    std::function<json(const T&)> to_json;
  };

  // key and doc are moved into the field (see passthrough for the NOLINT).
  template <class V, class S>
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  object_type& add(std::string key, V T::*member, S spec, std::string doc, bool required) {
    field f;
    f.key = std::move(key);
    f.doc = std::move(doc);
    f.required = required;
    f.read = [member, spec](const doc::node& n, T& obj, const std::string& p) {
      spec.read(n, obj.*member, p);
    };
    f.check_keys = [spec](const doc::node& n, const std::string& p) { spec.check_keys(n, p); };
    f.schema = [spec] { return spec.schema(); };
    f.to_json = [member, spec](const T& obj) { return spec.to_json(obj.*member); };
    fields_.push_back(std::move(f));
    return *this;
  }

  const field* find(std::string_view key) const noexcept {
    for (const auto& f : fields_) {
      if (f.key == key) return &f;
    }
    return nullptr;
  }

  [[noreturn]] void unknown_key(const doc::node::entry& e, const std::string& path) const {
    const std::string guess = did_you_mean(e.key, keys());
    std::string what = "unknown key";
    if (!guess.empty()) {
      what += "; did you mean '" + guess + "'?";
    } else {
      std::string list;
      for (const auto& k : keys()) list += (list.empty() ? "" : ", ") + k;
      what += " (expected one of: " + list + ")";
    }
    throw input_error(e.key_where, detail::join_path(path, e.key), what);
  }

  std::string title_;
  std::string description_;
  std::vector<field> fields_;
  std::vector<checker> checks_;
};

/// Spec adaptor so an object_type can be a field (nested mapping) or a list item.
template <class T>
struct object_spec {
  const object_type<T>* type;
  void read(const doc::node& n, T& out, const std::string& path) const { type->read(n, out, path); }
  void check_keys(const doc::node& n, const std::string& path) const { type->check_keys(n, path); }
  [[nodiscard]] json schema() const { return type->schema(); }
  [[nodiscard]] json to_json(const T& v) const { return type->to_json(v); }
};

template <class T>
object_spec<T> nested(const object_type<T>& t) {
  return {&t};
}

}  // namespace moesim::io
