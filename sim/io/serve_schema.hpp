#pragma once
// `workload.serve`: the keys, ranges and docs of a serving workload (the request stream, the
// scheduler and the SLOs), and the request trace it may name. See the declarative schema in
// schema.hpp; the keys are documented in `moesim schema` and the README.
#include <filesystem>
#include <string>
#include <string_view>

#include "sim/io/schema.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::io {

/// The names of the expert exchange's kinds (moe.exchange and a serving role's exchange).
enum_spec<sim::run::exchange_kind> exchange_kind_spec();
inline constexpr const char* exchange_kind_doc =
    "per_copy: one copy per (token, expert) each way (all-to-all dispatchers); per_rank: one per "
    "(token, destination EP rank); hierarchical: per_rank in a node, once per (token, node) "
    "across nodes then forwarded (DeepEP)";

/// The `speculative:` mapping of `serve:` (speculative_schema.cpp).
const object_type<serve::speculative_spec>& speculative_type();

/// The `serve:` mapping, read into a serve_spec.
const object_type<serve::serve_spec>& serve_type();

/// The workload's cross-field checks that involve kind serve: `serve:` is required with kind
/// serve and refused with any other kind; batch_per_device, context and steps are refused
/// with kind serve (named at the key, with what serve uses instead). `kind_name` is w.kind as
/// written, `n` the workload mapping, `path` its key path.
void check_serve_workload(const sim::run::workload_config& w, std::string_view kind_name,
                          const doc::node& n, const std::string& path);

/// With workload.serve.disaggregation: merges each role's scheduler keys over
/// workload.serve.scheduler, then checks the instances' placement and each role's layout
/// (check_feasible of its instance scenario), failing at the disaggregation or role key.
void resolve_disaggregation(sim::run::scenario& s, const doc::node& root);

/// With workload.serve.speculative: resolves the drafter's model (a draft_model preset, the
/// EAGLE head or the MTP module of the target) into its `draft`; an unknown or MoE draft
/// preset, a target without MTP modules for drafter mtp, or disaggregated serving fail at the
/// key. Memory (the draft's weights and KV beside the target's) is check_feasible's.
void resolve_speculative(sim::run::scenario& s, const doc::node& root);

/// With arrivals from a trace: reads workload.serve.arrivals.file, relative to `base` (the
/// scenario's folder), into the spec's trace rows. An unreadable file or bad extension is an
/// input_error at the key's value; a bad row one at the trace's own file:line:col.
void load_request_trace(sim::run::scenario& s, const doc::node& root,
                        const std::filesystem::path& base);

}  // namespace moesim::io
