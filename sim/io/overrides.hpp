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

/// As above for a value already parsed (a sweep axis's value, sim/io/sweep.hpp): `path` is
/// set to `value`, which keeps its own source; `key_where` is where the path was written
/// (errors about the path, and unknown keys, point there).
void apply_override(doc::node& root, std::string_view path, const doc::node& value,
                    const source_loc& key_where);

}  // namespace moesim::io
