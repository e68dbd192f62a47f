#include "sim/io/spec_loader.hpp"

#include <filesystem>

#include "sim/io/overrides.hpp"
#include "sim/io/spec_schemas.hpp"

namespace moesim::io {

void expand_preset(doc::node& root, const std::string& section, preset_kind kind) {
  doc::node* s = root.find(section);
  if (s == nullptr || !s->is_map()) return;
  const doc::node* preset = s->find("preset");
  if (preset == nullptr) return;
  if (!preset->is_scalar()) {
    detail::fail(*preset, section + ".preset", "expected a preset name, got " + preset->describe());
  }
  doc::node expanded = load_preset(kind, preset->text(), preset->where(), section + ".preset");
  doc::node overrides = *s;
  overrides.erase("preset");
  doc::merge(expanded, overrides);
  // The section as a whole is where the scenario wrote it; its keys keep their own files.
  expanded.set_where(s->where());
  *s = std::move(expanded);
}

void expand_chip(doc::node& root) {
  const doc::node* cluster = root.find("cluster");
  if (cluster == nullptr || !cluster->is_map()) return;
  const doc::node* chip_name = cluster->find("chip");
  if (chip_name == nullptr || !chip_name->is_scalar()) return;
  doc::node chip =
      load_preset(preset_kind::chip, chip_name->text(), chip_name->where(), "cluster.chip");
  if (const doc::node* over = root.find("chip")) {
    if (!over->is_map()) detail::fail(*over, "chip", "expected a mapping, got " + over->describe());
    doc::node o = *over;
    o.erase("preset");
    doc::merge(chip, o);
  }
  root.set("chip", chip.where(), std::move(chip));
}

namespace {

// {section: {preset: NAME}} for a preset name, {section: <file contents>} for a file.
doc::node section_root(const std::string& name_or_file, const std::string& section,
                       const std::vector<std::string>& overrides) {
  const auto origin = std::make_shared<const std::string>("command line");
  doc::node root = doc::node::make_map({origin, 0, 0});
  if (std::filesystem::exists(name_or_file)) {
    root.set(section, {origin, 0, 0}, doc::parse_file(name_or_file));
  } else {
    doc::node s = doc::node::make_map({origin, 0, 0});
    s.set("preset", {origin, 0, 0}, doc::node::make_scalar(name_or_file, true, {origin, 0, 0}));
    root.set(section, {origin, 0, 0}, std::move(s));
  }
  for (const auto& o : overrides) apply_override(root, section + "." + o);
  return root;
}

}  // namespace

resolved_cluster load_cluster(const std::string& name_or_file,
                              const std::vector<std::string>& overrides) {
  doc::node root = section_root(name_or_file, "cluster", overrides);
  expand_preset(root, "cluster", preset_kind::cluster);
  expand_chip(root);
  resolved_cluster out;
  cluster_type().read(*root.find("cluster"), out.cluster, "cluster");
  if (const doc::node* chip = root.find("chip")) chip_type().read(*chip, out.chip, "chip");
  return out;
}

models::model_spec load_model(const std::string& name_or_file,
                              const std::vector<std::string>& overrides) {
  doc::node root = section_root(name_or_file, "model", overrides);
  expand_preset(root, "model", preset_kind::model);
  models::model_spec m;
  model_type().read(*root.find("model"), m, "model");
  return m;
}

}  // namespace moesim::io
