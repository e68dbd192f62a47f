// workload.serve.speculative: its keys, ranges and cross-field checks (speculative_type), and
// its resolution once the model is known: the drafter's own model (a draft_model preset, the
// target's MTP module, or an EAGLE head shaped on the target), refused at the key where it
// cannot serve.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sim/io/presets.hpp"
#include "sim/io/serve_schema.hpp"
#include "sim/io/spec_loader.hpp"
#include "sim/run/expert_placement.hpp"
#include "sim/run/speculation.hpp"
#include "sim/serve/draft_tree.hpp"

namespace moesim::io {

namespace {

const object_type<serve::draft_tree_spec>& draft_tree_type() {
  static const auto t = [] {
    using serve::draft_tree_spec;
    object_type<draft_tree_spec> o(
        "tree",
        "A draft tree as SGLang configures EAGLE (--speculative-num-steps, "
        "--speculative-eagle-topk, --speculative-num-draft-tokens)");
    o.required("steps", &draft_tree_spec::steps, integer_spec<std::uint32_t>{1, 64},
               "draft passes, the tree's depth (SGLang --speculative-num-steps)")
        .required("top_k", &draft_tree_spec::top_k, integer_spec<std::uint32_t>{1, 16},
                  "candidates a node keeps per pass (SGLang --speculative-eagle-topk)")
        .required("draft_tokens", &draft_tree_spec::draft_tokens,
                  integer_spec<std::uint32_t>{2, 1024},
                  "tokens verified per sequence, the last verified token included (SGLang "
                  "--speculative-num-draft-tokens): at most top_k + (steps - 1) top_k^2 + 1")
        .optional("rank_acceptance", &draft_tree_spec::rank_acceptance,
                  list_spec<double, number_spec>{number_spec{0, 1}, 1, 64},
                  "per rank r >= 1: the probability a node's rank-r candidate is accepted given "
                  "ranks 0..r-1 were rejected (Sequoia's positional acceptance); at least "
                  "top_k - 1 entries")
        .check([](const draft_tree_spec& x, const doc::node& n, const std::string& path) {
          const std::uint64_t capacity = serve::tree_capacity(x.steps, x.top_k);
          if (x.draft_tokens - 1 > capacity) {
            detail::fail(
                *n.find("draft_tokens"), detail::join_path(path, "draft_tokens"),
                fmt::format("{} tokens verified: {} drafts, and steps {} with top_k {} "
                            "propose at most top_k + (steps - 1) top_k^2 = {}",
                            x.draft_tokens, x.draft_tokens - 1, x.steps, x.top_k, capacity));
          }
          if (x.rank_acceptance.size() + 1 < x.top_k) {
            const doc::node* r = n.find("rank_acceptance");
            detail::fail(r != nullptr ? *r : n,
                         r != nullptr ? detail::join_path(path, "rank_acceptance") : path,
                         fmt::format("top_k {} needs the acceptance of ranks 1 to {} "
                                     "(rank_acceptance, {} given)",
                                     x.top_k, x.top_k - 1, x.rank_acceptance.size()));
          }
        });
    return o;
  }();
  return t;
}

const object_type<serve::expert_replica>& replica_type() {
  static const auto t = [] {
    using serve::expert_replica;
    object_type<expert_replica> o(
        "replica", "extra copies of one routed expert on other EP ranks (policy divided)");
    o.required("expert", &expert_replica::expert, integer_spec<int>{0, 1 << 20},
               "the routed expert copied (its home stays on rank expert / (experts / ep))")
        .required("ranks", &expert_replica::ranks,
                  list_spec<int, integer_spec<int>>{integer_spec<int>{0, 1 << 20}, 1, 1024},
                  "EP ranks holding an extra copy, each once, not the expert's home")
        .optional("layers", &expert_replica::layers,
                  list_spec<int, integer_spec<int>>{integer_spec<int>{0, 1 << 20}, 1, 1024},
                  "MoE layers the copies are made in (absent: every MoE layer)");
    return o;
  }();
  return t;
}

/// The policies' names, for `policy` and the grid's `policies` alike.
enum_spec<serve::speculation_policy> policy_spec() {
  using serve::speculation_policy;
  return enum_spec<speculation_policy>{{{"none", speculation_policy::none},
                                        {"naive", speculation_policy::naive},
                                        {"grouped", speculation_policy::grouped},
                                        {"deferral", speculation_policy::deferral},
                                        {"blockwise", speculation_policy::blockwise},
                                        {"divided", speculation_policy::divided},
                                        {"prefetch", speculation_policy::prefetch}}};
}

/// Whether the scenario runs `p`, as its policy or in its grid.
bool runs(const serve::speculative_spec& sp, serve::speculation_policy p) {
  return serve::runs_policy(sp, p);
}

}  // namespace

const object_type<serve::speculative_spec>& speculative_type() {
  static const auto t = [] {
    using serve::acceptance_reading;
    using serve::drafter_kind;
    using serve::speculation_policy;
    using serve::speculative_spec;
    object_type<speculative_spec> o(
        "speculative",
        "Speculative decoding: a drafter proposes k tokens per decoding sequence, the target "
        "verifies them in its next pass (README: Speculative decoding)");
    o.required("drafter", &speculative_spec::drafter,
               enum_spec<drafter_kind>{{{"draft_model", drafter_kind::draft_model},
                                        {"mtp", drafter_kind::mtp},
                                        {"eagle", drafter_kind::eagle},
                                        {"ngram", drafter_kind::ngram}}},
               "draft_model (a small model preset, draft_model key), mtp (the target's "
               "multi-token-prediction modules), eagle (a one-layer draft head) or ngram "
               "(prompt lookup, no draft compute)")
        .optional("draft_model", &speculative_spec::draft_model,
                  unset_if_zero<std::string>(string_spec{}),
                  "drafter draft_model: the draft model's preset (e.g. draft-1b)")
        .required("k", &speculative_spec::k, integer_spec<std::uint32_t>{1, 64},
                  "draft tokens per chain, verified together with the last token (with a tree: "
                  "its depth, tree.steps)")
        .optional("tree", &speculative_spec::tree,
                  optional_spec<serve::draft_tree_spec, object_spec<serve::draft_tree_spec>>{
                      nested(draft_tree_type())},
                  "a draft tree instead of a chain (steps, top_k, draft_tokens, "
                  "rank_acceptance)")
        .required("acceptance", &speculative_spec::acceptance,
                  list_spec<double, number_spec>{number_spec{0, 1}, 1, 64},
                  "per-position acceptance rates, at most k (later positions repeat the last)")
        .required("reading", &speculative_spec::reading,
                  enum_spec<acceptance_reading>{{{"conditional", acceptance_reading::conditional},
                                                 {"marginal", acceptance_reading::marginal}}},
                  "conditional: entry i given positions before it accepted; marginal: the share "
                  "of chains accepting position i (vLLM's per-position acceptance rate)")
        .required("acceptance_source", &speculative_spec::acceptance_source, string_spec{},
                  "where the acceptance rates were measured (a citation)")
        .optional("topic_spread", &speculative_spec::topic_spread, number_spec{0, 1},
                  "how far a sequence's topic moves its acceptance around the rates (0: every "
                  "sequence alike, 1: the widest spread keeping rates in [0, 1])")
        .optional("policy", &speculative_spec::policy, policy_spec(),
                  "none (plain decoding), naive (verify k drafts every step), grouped (k per "
                  "iteration by measured utility), deferral (stop drafting below a confidence "
                  "threshold) blockwise (k proposal heads on the target, no drafter passes), "
                  "divided (naive with the replicated experts' tokens split over their copies) "
                  "or prefetch (naive with the verification's predicted experts loaded into the "
                  "HBM expert cache while the drafter runs; needs offload:)")
        .optional("test_iterations", &speculative_spec::test_iterations,
                  integer_spec<std::uint32_t>{1, 1000},
                  "grouped: iterations each candidate k (0 to k) runs in a test phase")
        .optional("set_iterations", &speculative_spec::set_iterations,
                  integer_spec<std::uint32_t>{1, 100000},
                  "grouped: iterations the best k runs before the next test phase")
        .optional("threshold", &speculative_spec::threshold, number_spec{0, 1},
                  "deferral (required): drafting stops at the first draft whose confidence is "
                  "below it; a sequence whose first draft is below it does not speculate")
        .optional("confidence_concentration", &speculative_spec::confidence_concentration,
                  number_spec{0, 1e6, true},
                  "deferral: concentration of the Beta distribution of draft confidence around "
                  "each position's acceptance rate (higher: confidences closer to the rate)")
        .optional("batch_sizes", &speculative_spec::batch_sizes,
                  list_spec<std::uint32_t, integer_spec<std::uint32_t>>{
                      integer_spec<std::uint32_t>{1, 1U << 16}, 1, 64},
                  "grid: batch sizes, each a closed loop of that many requests decoding")
        .optional("draft_lengths", &speculative_spec::draft_lengths,
                  list_spec<std::uint32_t, integer_spec<std::uint32_t>>{
                      integer_spec<std::uint32_t>{1, 64}, 1, 64},
                  "grid: draft lengths k each policy but none runs at (the acceptance vector "
                  "serves them all: at most the longest)")
        .optional("policies", &speculative_spec::policies,
                  list_spec<speculation_policy, enum_spec<speculation_policy>>{policy_spec(), 1, 8},
                  "grid: policies compared at every point (none: plain decoding, the baseline "
                  "of speedup)")
        .optional("replicas", &speculative_spec::replicas,
                  list_spec<serve::expert_replica, object_spec<serve::expert_replica>>{
                      nested(replica_type()), 1, 1 << 16},
                  "policy divided: extra copies of hot experts on other EP ranks (their weights "
                  "join each device's memory); with moe.placement, divided uses its copies "
                  "instead and this list is refused")
        .optional("prefetch_from", &speculative_spec::prefetch_from,
                  enum_spec<serve::prefetch_source>{{{"draft", serve::prefetch_source::draft},
                                                     {"prompt", serve::prefetch_source::prompt}}},
                  "prefetch: predict the verification's experts from the draft's own routing "
                  "(draft) or from the experts the context routed to most (prompt)")
        .optional("prefetch_accuracy", &speculative_spec::prefetch_accuracy, number_spec{0, 1},
                  "prefetch from draft (required): probability each expert the verification "
                  "uses is predicted (else a wrong expert of its device is)")
        .check([](const speculative_spec& sp, const doc::node& n, const std::string& path) {
          if (sp.tree &&
              (runs(sp, speculation_policy::grouped) || runs(sp, speculation_policy::deferral) ||
               runs(sp, speculation_policy::blockwise))) {
            detail::fail(*n.find("tree"), detail::join_path(path, "tree"),
                         "a draft tree runs with policies none, naive and divided (grouped, "
                         "deferral and blockwise draft chains)");
          }
          if (sp.tree && sp.k != sp.tree->steps) {
            detail::fail(*n.find("k"), detail::join_path(path, "k"),
                         fmt::format("k {} with a tree of {} steps: a tree's chain is its depth, "
                                     "k = tree.steps",
                                     sp.k, sp.tree->steps));
          }
          // A tree's grid runs the tree at every point: no draft lengths.
          const doc::node* lengths = n.find("draft_lengths");
          if (sp.tree && lengths != nullptr) {
            detail::fail(*lengths, detail::join_path(path, "draft_lengths"),
                         "a grid with a tree runs the tree at every batch size: no draft_lengths");
          }
          const char* grid[] = {"batch_sizes", "draft_lengths", "policies"};
          const int needed = sp.tree ? 2 : 3;
          const int given = static_cast<int>(std::count_if(
              std::begin(grid), std::end(grid), [&](const char* k) { return n.find(k); }));
          if (given != 0 && given != needed) {
            detail::fail(n, path,
                         sp.tree ? "a grid needs batch_sizes and policies together"
                                 : "a grid needs batch_sizes, draft_lengths and policies together");
          }
          if (given == needed) {
            if (std::find(sp.policies.begin(), sp.policies.end(), speculation_policy::none) ==
                sp.policies.end()) {
              detail::fail(*n.find("policies"), detail::join_path(path, "policies"),
                           "the grid needs policy none: speedup is measured against it");
            }
            const std::uint32_t longest =
                sp.tree ? sp.k
                        : *std::max_element(sp.draft_lengths.begin(), sp.draft_lengths.end());
            if (sp.acceptance.size() > longest) {
              detail::fail(*n.find("acceptance"), detail::join_path(path, "acceptance"),
                           fmt::format("{} acceptance entries for draft lengths of at most {} "
                                       "(the longest of draft_lengths): entries beyond it are "
                                       "never used",
                                       sp.acceptance.size(), longest));
            }
          }
          if (runs(sp, speculation_policy::deferral) && n.find("threshold") == nullptr) {
            detail::fail(n, path, "missing required key 'threshold' for policy deferral");
          }
          if (runs(sp, speculation_policy::prefetch) &&
              sp.prefetch_from == serve::prefetch_source::draft &&
              n.find("prefetch_accuracy") == nullptr) {
            detail::fail(n, path,
                         "missing required key 'prefetch_accuracy' for policy prefetch from the "
                         "draft's routing (prefetch_from draft, the default)");
          }
          if (const doc::node* a = n.find("prefetch_accuracy");
              a != nullptr && sp.prefetch_from != serve::prefetch_source::draft) {
            detail::fail(*a, detail::join_path(path, "prefetch_accuracy"),
                         "applies to prefetch_from draft only (prompt predicts from the "
                         "context's routing)");
          }
          const std::pair<const char*, speculation_policy> owned[] = {
              {"prefetch_from", speculation_policy::prefetch},
              {"prefetch_accuracy", speculation_policy::prefetch},
              {"threshold", speculation_policy::deferral},
              {"confidence_concentration", speculation_policy::deferral},
              {"test_iterations", speculation_policy::grouped},
              {"set_iterations", speculation_policy::grouped}};
          for (const auto& [key, policy] : owned) {
            if (const doc::node* k = n.find(key); k != nullptr && !runs(sp, policy)) {
              detail::fail(*k, detail::join_path(path, key),
                           fmt::format("applies to policy {} only", serve::to_string(policy)));
            }
          }
          const doc::node* model = n.find("draft_model");
          if (sp.drafter == drafter_kind::draft_model && model == nullptr) {
            detail::fail(n, path,
                         "missing required key 'draft_model' for drafter draft_model "
                         "(a model preset, e.g. draft-1b)");
          }
          if (sp.drafter != drafter_kind::draft_model && model != nullptr) {
            detail::fail(*model, detail::join_path(path, "draft_model"),
                         "applies to drafter draft_model only");
          }
          try {
            speculative_spec longest = sp;
            for (const std::uint32_t k : sp.draft_lengths) longest.k = std::max(longest.k, k);
            (void)serve::conditional_acceptance(longest);
          } catch (const std::invalid_argument& e) {
            const std::string what = e.what();
            const std::string_view prefix = "speculative: ";
            detail::fail(*n.find("acceptance"), detail::join_path(path, "acceptance"),
                         what.starts_with(prefix) ? what.substr(prefix.size()) : what);
          }
        });
    return o;
  }();
  return t;
}

namespace {

/// Policy divided's replicas against the model and the layout: an MoE target, per_copy
/// exchange without padding, experts, ranks and MoE layers in range, no rank holding a copy
/// twice, a policy that uses them, and no moe.placement (whose copies divided then uses).
void check_replicas(const sim::run::scenario& s, const doc::node& node, const std::string& path) {
  const auto& sp = *s.workload.serve->speculative;
  const doc::node* list = node.find("replicas");
  if (list == nullptr) return;
  const std::string at = path + ".replicas";
  using serve::speculation_policy;
  const bool divided = sp.policy == speculation_policy::divided ||
                       std::find(sp.policies.begin(), sp.policies.end(),
                                 speculation_policy::divided) != sp.policies.end();
  if (!divided) {
    detail::fail(*list, at,
                 "replicas serve policy divided, which neither policy nor policies "
                 "names");
  }
  if (!s.model.moe) detail::fail(*list, at, s.model.name + " has no routed experts to copy");
  if (s.moe.placement) {
    detail::fail(*list, at,
                 "moe.placement places the experts, so policy divided splits tokens over its "
                 "copies; give the copies there (moe.placement.redundant_experts with load_aware, "
                 "eplb or topology_aware) or here, not both");
  }
  if (s.moe.exchange != sim::run::exchange_kind::per_copy || s.moe.padded) {
    detail::fail(*list, at,
                 "replicas need moe.exchange per_copy without padding (the per-rank and "
                 "hierarchical exchanges' token counts assume the contiguous split)");
  }
  const int experts = s.model.moe->experts;
  const int ep = s.parallelism.ep;
  for (std::size_t i = 0; i < sp.replicas.size(); ++i) {
    const auto& r = sp.replicas[i];
    const doc::node& item = list->items()[i];
    const std::string here = fmt::format("{}[{}]", at, i);
    if (r.expert >= experts) {
      detail::fail(*item.find("expert"), here + ".expert",
                   fmt::format("expert {} outside [0, {}) ({})", r.expert, experts, s.model.name));
    }
    const int home = r.expert / (experts / ep);
    for (std::size_t j = 0; j < r.ranks.size(); ++j) {
      const int rank = r.ranks[j];
      const doc::node& where = item.find("ranks")->items()[j];
      const std::string key = fmt::format("{}.ranks[{}]", here, j);
      if (rank >= ep) {
        detail::fail(where, key, fmt::format("rank {} outside [0, {}) (parallelism.ep)", rank, ep));
      }
      if (rank == home) {
        detail::fail(where, key,
                     fmt::format("rank {} is expert {}'s home (experts {} per rank)", rank,
                                 r.expert, experts / ep));
      }
      if (std::find(r.ranks.begin(), r.ranks.begin() + static_cast<std::ptrdiff_t>(j), rank) !=
          r.ranks.begin() + static_cast<std::ptrdiff_t>(j)) {
        detail::fail(where, key, fmt::format("rank {} listed twice", rank));
      }
    }
    for (std::size_t j = 0; j < r.layers.size(); ++j) {
      const int layer = r.layers[j];
      if (layer >= s.model.layers || !models::is_moe_layer(s.model, layer)) {
        detail::fail(item.find("layers")->items()[j], fmt::format("{}.layers[{}]", here, j),
                     fmt::format("layer {} is not an MoE layer of {} ({} layers)", layer,
                                 s.model.name, s.model.layers));
      }
    }
  }
  try {
    (void)sim::run::expert_placement(experts, ep, s.model.layers, sp.replicas);
  } catch (const std::invalid_argument& e) {
    // Two entries copying one expert to one rank in a layer.
    detail::fail(*list, at,
                 std::string(e.what()).substr(std::string_view("expert_placement: ").size()) +
                     " (two entries copy it there)");
  }
}

}  // namespace

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
  check_replicas(s, node, path);
  if (runs(sp, serve::speculation_policy::prefetch) && !s.offload) {
    const doc::node* at = node.find("policies");
    if (sp.policy == serve::speculation_policy::prefetch || at == nullptr) at = node.find("policy");
    detail::fail(at != nullptr ? *at : node,
                 path + (sp.policy == serve::speculation_policy::prefetch ? ".policy" : ".policies"),
                 fmt::format("policy prefetch loads experts from host memory into the HBM expert "
                             "cache, but the scenario has no `offload:` (every expert of {} "
                             "stays in HBM: nothing to pre-load)",
                             s.model.name));
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
