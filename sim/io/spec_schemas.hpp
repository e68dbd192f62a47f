#pragma once
// Schemas of the pure layers' specs (models/, topologies/): the YAML keys of a model, a chip
// and a cluster, bound to their structs. The structs and their own validate() live with the
// maths and graphs; the keys, ranges and docs live here, in the one strict reader.
#include "models/model_spec.hpp"
#include "sim/io/schema.hpp"
#include "topologies/chip_spec.hpp"
#include "topologies/cluster_spec.hpp"

namespace moesim::io {

const object_type<models::model_spec>& model_type();
const object_type<topo::chip_spec>& chip_type();
const object_type<topo::cluster_spec>& cluster_type();

/// Wraps a pure layer's validate() (std::invalid_argument) into an input_error at `n`.
template <class T>
typename object_type<T>::checker validated_by(void (*validate)(const T&)) {
  return [validate](const T& v, const doc::node& n, const std::string& path) {
    try {
      validate(v);
    } catch (const std::invalid_argument& e) {
      detail::fail(n, path, e.what());
    }
  };
}

/// A value written as text and parsed by a pure layer's function (e.g. "8x16x16").
template <class V>
struct text_spec {
  V (*parse)(std::string_view);
  std::string (*format)(const V&);
  std::string expected;
  void read(const doc::node& n, V& out, const std::string& path) const {
    if (!n.is_scalar()) detail::fail(n, path, "expected " + expected + ", got " + n.describe());
    try {
      out = parse(n.text());
    } catch (const std::invalid_argument& e) {
      detail::fail(n, path,
                   "expected " + expected + ", got " + n.describe() + " (" + e.what() + ")");
    }
  }
  void check_keys(const doc::node&, const std::string&) const {}
  [[nodiscard]] json schema() const { return {{"type", "string"}, {"description", expected}}; }
  [[nodiscard]] json to_json(const V& v) const { return format(v); }
};

}  // namespace moesim::io
