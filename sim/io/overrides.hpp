#pragma once
// Command-line overrides: `--set key.path=value` edits the scenario's document tree before it
// is read, so an override is checked exactly like the file (same keys, types, ranges), and
// errors name the override ("--set model.layers=x: model.layers: expected ...").
//
// Path syntax: dot-separated keys, list items by index: `strategies[1].parallelism.ep=4`.
// The value is YAML: `4`, `"1.6 Tbps"`, `{tp: 2, ep: 4}`, `[a, b]`.
#include <string_view>

#include "sim/io/doc.hpp"

namespace moesim::io {

/// Applies one `path=value` assignment to `root` (a mapping). Missing intermediate mappings
/// are created. Throws input_error for a malformed assignment, a path through a non-mapping,
/// or a list index out of range.
void apply_override(doc::node& root, std::string_view assignment);

}  // namespace moesim::io
