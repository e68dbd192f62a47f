// Resolving workload.serve.speculative once the model is known: the drafter's own model (a
// draft_model preset, the target's MTP module, or an EAGLE head shaped on the target), refused
// at the key where it cannot serve. The block's schema is in serve_schema.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "sim/io/presets.hpp"
#include "sim/io/serve_schema.hpp"
#include "sim/io/spec_loader.hpp"
#include "sim/run/speculation.hpp"

namespace moesim::io {

void resolve_speculative(sim::run::scenario& s, const doc::node& root) {
  if (!s.workload.serve || !s.workload.serve->speculative) return;
  const doc::node& node = *root.find("workload")->find("serve")->find("speculative");
  const std::string path = "workload.serve.speculative";
  auto& sp = *s.workload.serve->speculative;
  if (s.workload.serve->disaggregation) {
    detail::fail(node, path,
                 "speculative decoding runs on aggregated serving only (disaggregated decode "
                 "instances do not speculate yet)");
  }
  using serve::drafter_kind;
  switch (sp.drafter) {
    case drafter_kind::draft_model: {
      const doc::node& where = *node.find("draft_model");
      const std::vector<std::string> names = preset_names(preset_kind::model);
      if (std::find(names.begin(), names.end(), sp.draft_model) == names.end()) {
        std::string list;
        for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
        detail::fail(where, path + ".draft_model",
                     fmt::format("no model preset '{}' (presets: {})", sp.draft_model, list));
      }
      models::model_spec d = load_model(sp.draft_model);
      if (d.moe) {
        detail::fail(where, path + ".draft_model",
                     fmt::format("{} is an MoE model; a draft model is dense here", d.name));
      }
      sp.draft = std::make_shared<const models::model_spec>(std::move(d));
      break;
    }
    case drafter_kind::mtp:
      if (s.model.mtp_modules < 1 || !s.model.moe) {
        detail::fail(*node.find("drafter"), path + ".drafter",
                     fmt::format("drafter mtp needs the target's multi-token-prediction modules, "
                                 "and {} has none (model.mtp_modules {})",
                                 s.model.name, s.model.mtp_modules));
      }
      sp.draft = std::make_shared<const models::model_spec>(sim::run::mtp_module_model(s.model));
      break;
    case drafter_kind::eagle:
      sp.draft = std::make_shared<const models::model_spec>(sim::run::eagle_head_model(s.model));
      break;
    case drafter_kind::ngram:
      break;
  }
}

}  // namespace moesim::io
