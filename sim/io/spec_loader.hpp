#pragma once
// Loading a model or a cluster on its own (for the `model`, `route`, `topo` and benchmark
// verbs), with the same preset expansion and strict checks as inside a scenario.
//
// `name_or_file` is a preset name (`moesim presets`) or a YAML file holding the section's keys
// (which may itself start from `preset:`). `overrides` are "key=value" assignments relative to
// the section ("nodes=4", "shape=8x16x16", "moe.top_k=1").
#include <string>
#include <vector>

#include "models/model_spec.hpp"
#include "sim/io/doc.hpp"
#include "sim/io/presets.hpp"
#include "topologies/chip_spec.hpp"
#include "topologies/cluster_spec.hpp"

namespace moesim::io {

struct resolved_cluster {
  topo::cluster_spec cluster;
  topo::chip_spec chip;
};

resolved_cluster load_cluster(const std::string& name_or_file,
                              const std::vector<std::string>& overrides = {});

models::model_spec load_model(const std::string& name_or_file,
                              const std::vector<std::string>& overrides = {});

/// In a document root: `section: {preset: NAME, ...}` becomes the preset's tree with the
/// section's other keys merged over it (each key keeps its own source for messages).
void expand_preset(doc::node& root, const std::string& section, preset_kind kind);

/// In a document root: sets `chip` to the chip preset named by cluster.chip, with the root's
/// own `chip:` keys (if any) merged over it.
void expand_chip(doc::node& root);

}  // namespace moesim::io
