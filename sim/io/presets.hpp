#pragma once
// The preset library: every YAML file under models/presets/ (kind model),
// topologies/presets/chips/ (kind chip) and topologies/presets/ (kind cluster), compiled into
// the binary. A preset is referenced by its file stem (`preset: mixtral-8x7b`). Parsed presets
// keep their repository path as origin, so errors inside them point at the preset file.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sim/io/doc.hpp"
#include "sim/io/embedded.hpp"

namespace moesim::io {

enum class preset_kind { model, chip, cluster };

std::string_view to_string(preset_kind k);

struct preset_info {
  std::string name;
  preset_kind kind;
  std::string path;
};

/// All presets, sorted by kind then name.
std::vector<preset_info> list_presets();

/// Names of the presets of one kind, sorted.
std::vector<std::string> preset_names(preset_kind kind);

/// The parsed preset `name` of `kind`. Unknown names throw input_error at `where` (the
/// location of the `preset:` value) with a "did you mean" suggestion.
doc::node load_preset(preset_kind kind, const std::string& name, const source_loc& where,
                      const std::string& path);

namespace detail {
std::span<const embedded_file> embedded_presets();
}

}  // namespace moesim::io
