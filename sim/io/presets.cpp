#include "sim/io/presets.hpp"

#include <algorithm>

namespace moesim::io {

std::string_view to_string(preset_kind k) {
  switch (k) {
    case preset_kind::model:
      return "model";
    case preset_kind::chip:
      return "chip";
    case preset_kind::cluster:
      return "cluster";
  }
  return "?";
}

namespace {

bool classify(std::string_view path, preset_kind& kind, std::string& name) {
  const auto slash = path.rfind('/');
  std::string_view dir = path.substr(0, slash);
  std::string_view file = path.substr(slash + 1);
  if (!file.ends_with(".yaml")) return false;
  name = std::string(file.substr(0, file.size() - 5));
  if (dir == "models/presets") {
    kind = preset_kind::model;
  } else if (dir == "topologies/presets/chips") {
    kind = preset_kind::chip;
  } else if (dir == "topologies/presets") {
    kind = preset_kind::cluster;
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::vector<preset_info> list_presets() {
  std::vector<preset_info> out;
  for (const auto& f : detail::embedded_presets()) {
    preset_info p{"", preset_kind::model, std::string(f.path)};
    if (classify(f.path, p.kind, p.name)) out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const preset_info& a, const preset_info& b) {
    return a.kind != b.kind ? a.kind < b.kind : a.name < b.name;
  });
  return out;
}

std::vector<std::string> preset_names(preset_kind kind) {
  std::vector<std::string> names;
  for (const auto& p : list_presets()) {
    if (p.kind == kind) names.push_back(p.name);
  }
  return names;
}

doc::node load_preset(preset_kind kind, const std::string& name, const source_loc& where,
                      const std::string& path) {
  for (const auto& f : detail::embedded_presets()) {
    preset_kind k{};
    std::string n;
    if (classify(f.path, k, n) && k == kind && n == name) {
      return doc::parse(f.content, std::string(f.path));
    }
  }
  const auto names = preset_names(kind);
  const std::string guess = did_you_mean(name, names);
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw input_error(where, path,
                    "unknown " + std::string(to_string(kind)) + " preset '" + name + "'" +
                        (guess.empty() ? "" : "; did you mean '" + guess + "'?") +
                        " (known: " + list + ")");
}

}  // namespace moesim::io
