// About 710 lines: the scenario schema's top-level sections (network, parallelism, moe,
// sampling, training, workload, folding) and the loading passes over them (strategies, serving
// layouts, traces, profiles). The split when it grows: the section types (up to
// scenario_type) into scenario_sections.cpp.
#include "sim/io/scenario_loader.hpp"

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "models/routing_trace.hpp"
#include "sim/cluster/profile_table.hpp"
#include "sim/engine/limits.hpp"
#include "sim/io/embedded.hpp"
#include "sim/io/fault_schema.hpp"
#include "sim/io/limits.hpp"
#include "sim/io/offload_schema.hpp"
#include "sim/io/overrides.hpp"
#include "sim/io/placement_schema.hpp"
#include "sim/io/presets.hpp"
#include "sim/io/serve_schema.hpp"
#include "sim/io/spec_loader.hpp"
#include "sim/io/spec_schemas.hpp"
#include "sim/io/strategy_errors.hpp"
#include "sim/io/sweep.hpp"
#include "sim/run/feasibility.hpp"
#include "sim/run/layout.hpp"

namespace moesim::io {

namespace detail {
std::span<const embedded_file> embedded_scenarios();  // generated (sim/io/CMakeLists.txt)
}

namespace {

using namespace sim::run;

const object_type<network_config>& network_type() {
  static const auto t = [] {
    object_type<network_config> o("network", "How network transfers are timed");
    o.optional("model", &network_config::model,
               enum_spec<network_model>{
                   {{"flow", network_model::flow}, {"analytical", network_model::analytical}}},
               "flow: max-min fair sharing of links; analytical: bottleneck link time")
        .optional("resolve_quantum", &network_config::resolve_quantum, number_spec{0, 0.1},
                  "flow model: finishes re-solve at most every q x busy time (0 = exact; 0.01 "
                  "keeps all-to-all makespans within 1%)")
        .check([](const network_config& c, const doc::node& n, const std::string& path) {
          const doc::node* q = n.find("resolve_quantum");
          if (q != nullptr && c.model == network_model::analytical) {
            detail::fail(*q, detail::join_path(path, "resolve_quantum"),
                         "applies to model flow only; the analytical model solves no flows");
          }
        });
    return o;
  }();
  return t;
}

const object_type<parallel_config>& parallel_type() {
  static const auto t = [] {
    const integer_spec<int> degree{1, 1 << 20};
    object_type<parallel_config> o("parallelism",
                                   "Parallel layout: devices = tp * ep * dp * pp; dense layers are "
                                   "data-parallel over ep * dp, experts sharded over ep");
    o.optional("tp", &parallel_config::tp, degree, "tensor-parallel degree")
        .optional("ep", &parallel_config::ep, degree, "expert-parallel degree")
        .optional("dp", &parallel_config::dp, degree, "data-parallel degree (beyond ep)")
        .optional("pp", &parallel_config::pp, degree, "pipeline stages")
        .optional("vp", &parallel_config::vp, integer_spec<int>{1, 128},
                  "virtual stages per device (interleaved 1F1B)")
        .optional("order", &parallel_config::order, string_spec{},
                  "axes innermost first, e.g. tp-ep-dp-pp; auto: by the placement rules");
    return o;
  }();
  return t;
}

const object_type<moe_config>& moe_config_type() {
  static const auto t = [] {
    object_type<moe_config> o("moe", "Expert capacity, dropping and balancing at run time");
    o.optional("capacity_factor", &moe_config::capacity_factor, number_spec{0, 1e6},
               "capacity = ceil(k * tokens / E * CF) per expert; 0 = dropless")
        .optional(
            "drop_policy", &moe_config::drop,
            enum_spec<models::drop_policy>{{{"lowest_score", models::drop_policy::lowest_score},
                                            {"position", models::drop_policy::position}}},
            "which tokens an over-full expert drops")
        .optional("routing", &moe_config::routing,
                  enum_spec<routing_policy>{{{"top_k", routing_policy::top_k},
                                             {"expert_choice", routing_policy::expert_choice},
                                             {"hash", routing_policy::hash}}},
                  "top_k (the model's router), expert_choice or hash")
        .optional(
            "balance", &moe_config::balance,
            enum_spec<balance_mode>{{{"none", balance_mode::none}, {"bias", balance_mode::bias}}},
            "online load balancing of the router")
        .optional("padded", &moe_config::padded, bool_spec{},
                  "static-shape dispatch as on TPUs: every expert gets its full capacity of "
                  "slots from every source, filled or not (needs capacity_factor > 0)")
        .optional("exchange", &moe_config::exchange, exchange_kind_spec(), exchange_kind_doc)
        .optional("placement", &moe_config::placement, placement_spec(), placement_doc);
    return o;
  }();
  return t;
}

const object_type<routing_trace_ref>& trace_ref_type() {
  static const auto t = [] {
    object_type<routing_trace_ref> o(
        "routing_trace", "A routing trace and what replays the routed layers it does not record");
    o.required("file", &routing_trace_ref::file, string_spec{},
               "JSON or CSV trace (README: Routing traces), relative to the scenario")
        .optional(
            "reuse", &routing_trace_ref::reuse,
            enum_spec<trace_reuse>{{{"none", trace_reuse::none}, {"cyclic", trace_reuse::cyclic}}},
            "none: every MoE layer the run routes must be recorded; cyclic: a layer without "
            "a recording replays the recorded layers in turn by MoE ordinal (named in the "
            "metrics' approximations)");
    return o;
  }();
  return t;
}

// sampling.routing_trace: a file, or {file, reuse}; echoed short (as before) when reuse is none.
struct trace_ref_spec {
  void read(const doc::node& n, routing_trace_ref& out, const std::string& path) const {
    if (n.is_map()) {
      out = routing_trace_ref{};
      trace_ref_type().read(n, out, path);
      return;
    }
    if (!n.is_scalar()) {
      detail::fail(n, path, "expected a file name or {file, reuse}, got " + n.describe());
    }
    string_spec{}.read(n, out.file, path);
    out.reuse = trace_reuse::none;
  }
  void check_keys(const doc::node& n, const std::string& path) const {
    trace_ref_type().check_keys(n, path);
  }
  [[nodiscard]] json schema() const {
    return {{"oneOf", json::array({string_spec{}.schema(), trace_ref_type().schema()})}};
  }
  [[nodiscard]] json to_json(const routing_trace_ref& v) const {
    return v.reuse == trace_reuse::none ? json(v.file) : trace_ref_type().to_json(v);
  }
};

const object_type<sampling_config>& sampling_type() {
  static const auto t = [] {
    object_type<sampling_config> o(
        "sampling",
        "Approximation: the router and experts run on sampled tokens at a possibly "
        "reduced hidden size; counts are scaled to the full batch");
    o.optional("tokens_per_step", &sampling_config::tokens_per_step,
               integer_spec<std::uint32_t>{1, 1U << 24}, "sampled tokens per MoE layer and step")
        .optional("math_hidden", &sampling_config::math_hidden,
                  integer_spec<std::uint32_t>{0, 1U << 16},
                  "hidden size of the sampled maths (0 = the model's)")
        .optional("skew", &sampling_config::skew, number_spec{0, 100},
                  "token-source topic skew (0 = uniform random scores)")
        .optional("routing_trace", &sampling_config::routing_trace, trace_ref_spec{},
                  "replay recorded routing instead of the router: a JSON/CSV file (relative to "
                  "the scenario) recording every MoE layer the run routes, or {file, reuse: "
                  "cyclic} to let layers without a recording replay the recorded ones");
    return o;
  }();
  return t;
}

const object_type<sim::run::resilience_config>& resilience_type() {
  using sim::run::resilience_config;
  static const auto t = [] {
    object_type<resilience_config> o(
        "resilience",
        "A long job played over the simulated step time with checkpoints and failures "
        "(faults: device_loss, also at rates with mtbf_h)");
    o.required("run_hours", &resilience_config::run_hours, number_spec{0, 2000, true},
               "the job's wall-clock length in hours: the horizon faults at rates are drawn over")
        .required("checkpoint_interval_s", &resilience_config::checkpoint_interval_s,
                  number_spec{0, 1e7, true},
                  "training seconds between checkpoints (taken at the next step boundary)")
        .optional("checkpoint_write_s", &resilience_config::checkpoint_write_s,
                  optional_spec<double, number_spec>{number_spec{0, 1e6}},
                  "seconds one checkpoint blocks training (or give storage_bytes_per_s)")
        .optional("storage_bytes_per_s", &resilience_config::storage_bytes_per_s,
                  optional_spec<double, number_spec>{number_spec{0, 1e15, true}},
                  "aggregate write bandwidth to storage: a checkpoint (weights + Adam's 12 B "
                  "per parameter) blocks for its bytes over this")
        .required("restart_s", &resilience_config::restart_s, number_spec{0, 1e6},
                  "seconds from a device loss to training again (replace it, reload)")
        .check([](const resilience_config& c, const doc::node& n, const std::string& path) {
          if (c.checkpoint_write_s.has_value() == c.storage_bytes_per_s.has_value()) {
            detail::fail(
                c.checkpoint_write_s ? *n.find("storage_bytes_per_s") : n,
                c.checkpoint_write_s ? detail::join_path(path, "storage_bytes_per_s") : path,
                "give exactly one of checkpoint_write_s and storage_bytes_per_s");
          }
        });
    return o;
  }();
  return t;
}

const object_type<training_config>& training_type() {
  static const auto t = [] {
    object_type<training_config> o(
        "training", "Training-only settings: what the memory accounting keeps per device");
    o.optional("recompute", &training_config::recompute,
               enum_spec<sim::cluster::recompute_mode>{
                   {{"none", sim::cluster::recompute_mode::none},
                    {"selective", sim::cluster::recompute_mode::selective},
                    {"full", sim::cluster::recompute_mode::full}}},
               "activation recomputation (Korthikanti et al. 2022): none keeps all activations, "
               "selective recomputes attention scores, full keeps only each layer's input")
        .optional("zero", &training_config::zero, integer_spec<int>{0, 3},
                  "ZeRO stage: 1 shards optimizer states over data-parallel ranks, 2 also "
                  "gradients, 3 also weights")
        .optional("optimizer", &training_config::optimizer,
                  enum_spec<optimizer_kind>{{{"adam", optimizer_kind::adam}}},
                  "adam: mixed-precision Adam, fp32 master weights + 2 moments (12 B/param)")
        .optional("gradients", &training_config::gradients,
                  enum_spec<models::weight_dtype>{
                      {{"fp32", models::weight_dtype::fp32}, {"bf16", models::weight_dtype::bf16}}},
                  "gradient dtype: fp32 (Megatron main gradients, 4 B/param) or bf16 (2 B/param)")
        .optional(
            "resilience", &training_config::resilience,
            optional_spec<sim::run::resilience_config, object_spec<sim::run::resilience_config>>{
                nested(resilience_type())},
            "a long run with checkpoints, device losses and restarts: effective training "
            "time and goodput");
    return o;
  }();
  return t;
}

const enum_spec<workload_kind>& workload_kinds() {
  static const enum_spec<workload_kind> kinds{{{"decode", workload_kind::decode},
                                               {"prefill", workload_kind::prefill},
                                               {"train", workload_kind::train},
                                               {"serve", workload_kind::serve}}};
  return kinds;
}

const object_type<workload_config>& workload_type() {
  static const auto t = [] {
    const integer_spec<std::uint32_t> positive{1, 1U << 30};
    object_type<workload_config> o("workload", "What the cluster runs");
    o.required("kind", &workload_config::kind, workload_kinds(), "decode, prefill, train or serve")
        .optional("batch_per_device", &workload_config::batch_per_device, positive,
                  "sequences per device (train: micro-batch size of one data-parallel rank)")
        .optional("context", &workload_config::context, integer_spec<std::uint32_t>{0, 1U << 24},
                  "tokens already in the KV cache (decode) or sequence length")
        .optional("steps", &workload_config::steps, integer_spec<std::uint32_t>{1, 1U << 20},
                  "steps to simulate")
        .optional("micro_batches", &workload_config::micro_batches,
                  integer_spec<std::uint32_t>{1, 1U << 16},
                  "micro-batches per step (inference: the per-rank batch is split into them)")
        .optional("overlap", &workload_config::overlap, bool_spec{},
                  "run two tasks of a stage at once so all-to-all hides under compute "
                  "(training: DualPipe-style forward+backward pairs; inference: two micro-batches)")
        .optional(
            "training", &workload_config::training,
            optional_spec<training_config, object_spec<training_config>>{nested(training_type())},
            "kind train only: recomputation, ZeRO stage, optimizer, gradient dtype")
        .optional(
            "serve", &workload_config::serve,
            optional_spec<serve::serve_spec, object_spec<serve::serve_spec>>{nested(serve_type())},
            "kind serve only (and required): request arrivals and lengths, scheduler, SLOs")
        .check([](const workload_config& w, const doc::node& n, const std::string& path) {
          const std::string kind = workload_kinds().to_json(w.kind).get<std::string>();
          const doc::node* training = n.find("training");
          if (training != nullptr && w.training && w.kind != workload_kind::train) {
            detail::fail(*training, detail::join_path(path, "training"),
                         "applies to kind train only; this workload is " + kind);
          }
          check_serve_workload(w, kind, n, path);
        });
    return o;
  }();
  return t;
}

const object_type<folding_config>& folding_type() {
  static const auto t = [] {
    object_type<folding_config> o(
        "folding", "Provably identical work simulated once and replicated (named in metrics)");
    o.optional("dp_replicas", &folding_config::dp_replicas, bool_spec{},
               "simulate data-parallel replica 0 only; gradient collectives still span all")
        .optional("micro_batches", &folding_config::micro_batches,
                  integer_spec<std::uint32_t>{0, 1U << 16},
                  "simulate this many micro-batches per step, the rest at the measured "
                  "steady-state period (0 = all; at least 2 * pp + 2)");
    return o;
  }();
  return t;
}

// The scenario's sections; `strategies` and the top-level scalars are added by scenario_type.
void add_sections(object_type<scenario>& o) {
  o.required("model", &scenario::model, nested(model_type()), "the model")
      .required("cluster", &scenario::cluster, nested(cluster_type()), "the cluster")
      .optional("chip", &scenario::chip, nested(chip_type()),
                "overrides of the chip named by cluster.chip")
      .optional("network", &scenario::network, nested(network_type()), "network timing model")
      .optional("parallelism", &scenario::parallelism, nested(parallel_type()), "parallel layout")
      .optional("moe", &scenario::moe, nested(moe_config_type()), "capacity, drops, balancing")
      .optional("precision", &scenario::precision, nested(precision_type()),
                "run-time number formats (KV cache, attention, dispatch, combine)")
      .optional("sampling", &scenario::sampling, nested(sampling_type()),
                "sampled-token approximation")
      .required("workload", &scenario::workload, nested(workload_type()), "what runs")
      .optional("op_profile", &scenario::op_profile, string_spec{},
                "measured op times replacing the roofline for the ops they cover: CSV "
                "op,dtype,tokens,context,time_us (relative to the scenario)")
      .optional("folding", &scenario::folding, nested(folding_type()),
                "identical work simulated once")
      .optional("offload", &scenario::offload,
                optional_spec<offload_config, object_spec<offload_config>>{nested(offload_type())},
                "expert offloading to host memory (cache, prefetch, host execution)")
      .optional("faults", &scenario::faults,
                list_spec<fault_event, object_spec<fault_event>>{nested(fault_type()), 0, 1024},
                "simulated faults: failed or degraded links, stragglers, lost devices (README "
                "\"Faults\")");
}

// Strategy items are partial scenarios: a name plus any sections. Their keys are checked
// against the section schemas; their values are read after merging over the base document.
struct strategy_item_spec {
  const object_type<scenario>* sections;
  void read(const doc::node&, std::string&, const std::string&) const {}
  void check_keys(const doc::node& n, const std::string& path) const {
    if (!n.is_map())
      detail::fail(n, path, "expected a mapping with a name and sections, got " + n.describe());
    // Keys are named relative to the strategy, which the context names.
    const std::size_t open = path.rfind('[');
    const std::string context = detail::strategy_context(
        n, open == std::string::npos ? 0 : std::stoul(path.substr(open + 1)));
    for (const auto& e : n.entries()) {
      if (e.key == "seed" || e.key == "strategies" || e.key == "description") {
        throw input_error(e.key_where, context, e.key, "a strategy cannot change this key");
      }
    }
    doc::node rest = n;
    rest.erase("name");
    try {
      sections->check_keys(rest, "");
    } catch (const input_error& e) {
      throw input_error(e.where(), context, e.path(), e.detail());
    }
  }
  [[nodiscard]] json schema() const {
    json s = sections->schema();
    s["properties"]["name"] = {{"type", "string"}, {"description", "strategy name"}};
    s.erase("required");
    s["required"] = json::array({"name"});
    return s;
  }
  [[nodiscard]] json to_json(const std::string& v) const { return v; }
};

// A scenario's `strategies:` list: at most 256 (each is a simulation of its own).
list_spec<std::string, strategy_item_spec> strategies_spec(const object_type<scenario>& sections) {
  return {{&sections}, 0, 256};
}

struct scenario_with_strategies {
  scenario base;
  std::vector<std::string> strategy_names;
};

const object_type<scenario>& sections_type() {
  static const auto t = [] {
    object_type<scenario> o("sections", "Scenario sections");
    add_sections(o);
    return o;
  }();
  return t;
}

const object_type<scenario>& scenario_type() {
  static const auto t = [] {
    object_type<scenario> o("moesim scenario",
                            "A moesim scenario: model, cluster, layout and workload to simulate");
    o.required("name", &scenario::name, string_spec{}, "scenario name")
        .optional("description", &scenario::description, string_spec{false},
                  "what the scenario shows")
        .optional("seed", &scenario::seed, integer_spec<std::uint64_t>{},
                  "random seed, 0 to 2^64-1")
        .optional("objective", &scenario::objective,
                  enum_spec<objective_kind>{{{"step_time", objective_kind::step_time},
                                             {"tokens_per_s", objective_kind::tokens_per_s},
                                             {"cost", objective_kind::cost},
                                             {"goodput", objective_kind::goodput}}},
                  "how strategies are ranked: step_time (shortest), tokens_per_s (most), cost "
                  "(lowest USD per million tokens) or goodput (serving: most requests per second "
                  "within the SLO)");
    add_sections(o);
    o.passthrough("strategies", strategies_spec(sections_type()).schema(),
                  "variants compared side by side: a name plus sections that differ");
    return o;
  }();
  return t;
}

// sampling.routing_trace: relative to the scenario's folder; read and checked against the model.
void load_routing_trace(scenario& s, const doc::node& root, const std::filesystem::path& base) {
  const routing_trace_ref& ref = s.sampling.routing_trace;
  if (ref.empty()) return;
  const doc::node* where = root.find("sampling")->find("routing_trace");
  const std::string key = "sampling.routing_trace";
  const std::filesystem::path path = base / ref.file;
  try {
    s.sampling.trace =
        std::make_shared<const models::routing_trace>(models::read_routing_trace(path));
  } catch (const std::invalid_argument& e) {
    detail::fail(*where, key, e.what());
  }
  const models::routing_trace& t = *s.sampling.trace;
  if (!s.model.moe || t.experts != s.model.moe->experts) {
    detail::fail(*where, key,
                 "the trace routes over " + std::to_string(t.experts) + " experts, but model " +
                     s.model.name + " has " +
                     std::to_string(s.model.moe ? s.model.moe->experts : 0));
  }
  if (t.layers.empty()) detail::fail(*where, key, "the trace records no layer");
  // A layer is replayed by scaling its tokens to the batch: one without tokens has nothing to
  // scale (the run would stop at it).
  for (std::size_t i = 0; i < t.layers.size(); ++i) {
    if (t.layers[i].tokens == 0) {
      detail::fail(*where, key,
                   "the trace's layer " + std::to_string(t.layer_ids[i]) +
                       " records no token; record its tokens or leave the layer out");
    }
  }
  const std::string name = "routing trace " + path.string();
  try {
    models::check_trace_layers(t, s.model, name);
  } catch (const std::invalid_argument& e) {
    detail::fail(*where, key, e.what());
  }
  const bool training = s.workload.kind == workload_kind::train;
  const std::vector<int> missing = models::unrecorded_layers(t, s.model, training);
  if (ref.reuse == trace_reuse::none && !missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 8; ++i) {
      list += (i ? ", " : "") + std::to_string(missing[i]);
    }
    if (missing.size() > 8) list += ", and " + std::to_string(missing.size() - 8) + " more";
    const auto routed = models::routed_layers(s.model, training).size();
    detail::fail(*where, key,
                 name + " records " + std::to_string(routed - missing.size()) + " of the " +
                     std::to_string(routed) + " MoE layers this run routes (missing: " + list +
                     "); record them all, or write {file: " + ref.file +
                     ", reuse: cyclic} to replay the recorded layers in turn for the others");
  }
}

// op_profile: relative to the scenario's folder, like sampling.routing_trace. An unreadable
// file is reported at the key's value, a bad row at its own file:line:col in the CSV.
void load_op_profile(scenario& s, const doc::node& root, const std::filesystem::path& base) {
  if (s.op_profile.empty()) return;
  const std::filesystem::path path = base / s.op_profile;
  std::optional<std::string> text;
  try {
    text = limits::read_input_text(path);
  } catch (const std::invalid_argument& e) {
    detail::fail(*root.find("op_profile"), "op_profile", e.what());
  }
  if (!text) detail::fail(*root.find("op_profile"), "op_profile", "cannot open " + path.string());
  try {
    s.profile = std::make_shared<const sim::cluster::profile_table>(
        sim::cluster::parse_profile_csv(*text, path.string()));
  } catch (const std::invalid_argument& e) {
    throw input_error(e.what());
  }
}

scenario read_resolved(doc::node root, const std::filesystem::path& base, bool allow_large) {
  expand_preset(root, "model", preset_kind::model);
  expand_preset(root, "cluster", preset_kind::cluster);
  expand_chip(root);
  const doc::node* strategies = root.find("strategies");
  doc::node without = root;
  without.erase("strategies");
  scenario_type().check_keys(without, "");
  if (strategies != nullptr) {
    const auto spec = strategies_spec(sections_type());
    spec.check_keys(*strategies, "strategies");
    std::vector<std::string> count_only;  // items are read after merging; this checks the count
    spec.read(*strategies, count_only, "strategies");
  }
  scenario s;
  scenario_type().read(without, s, "");
  if (s.parallelism.order == "auto") {
    const bool multislice = s.cluster.fabric == topo::fabric_kind::torus && s.cluster.slices > 1;
    std::tie(s.parallelism.order, s.parallelism.order_rule) = sim::run::auto_order(multislice);
  }
  // A dense model routes nothing: the moe section's keys would have no effect (placement is
  // refused by check_feasible, with the model named).
  if (const doc::node* moe = without.find("moe"); moe != nullptr && !s.model.moe && moe->is_map()) {
    for (const auto& e : moe->entries()) {
      if (e.key == "placement") continue;
      detail::fail(e.value, "moe." + e.key,
                   "applies to MoE models only; model " + s.model.name + " is dense");
    }
  }
  load_routing_trace(s, without, base);
  load_op_profile(s, without, base);
  load_request_trace(s, without, base);
  resolve_disaggregation(s, without);
  resolve_speculative(s, without);
  resolve_offload(s, without);
  resolve_faults(s, without);
  // check_feasible builds the cluster's graph (~2.2 KB a device): refuse a cluster over the
  // device limit first, at its key, rather than allocate gigabytes and then refuse it.
  try {
    check_cluster_limits(s.cluster, allow_large);
  } catch (const input_error& e) {
    const doc::node* cluster = without.find("cluster");
    throw input_error(cluster != nullptr ? cluster->where() : root.where(), "", e.what());
  }
  try {
    check_feasible(s);
  } catch (const std::invalid_argument& e) {
    // "key.path: what": point at the key the message names (or the deepest of its sections
    // the file has), else at the layout. The key is the error's path, so a strategy's refusal
    // can be anchored at its own key.
    const std::string what = e.what();
    const std::size_t colon = what.find(": ");
    const std::string section = colon == std::string::npos ? "" : what.substr(0, colon);
    const bool named = !section.empty() && section.find(' ') == std::string::npos;
    const doc::node* where = nullptr;
    for (std::size_t from = 0; named && from <= section.size();) {
      const std::size_t dot = std::min(section.find('.', from), section.size());
      const doc::node* parent = where == nullptr ? &root : where;
      const doc::node* next =
          parent->is_map() ? parent->find(section.substr(from, dot - from)) : nullptr;
      if (next == nullptr) break;
      where = next;
      from = dot + 1;
    }
    if (where == nullptr) where = root.find("parallelism");
    throw infeasible_error(input_error(where ? where->where() : root.where(), named ? section : "",
                                       named ? what.substr(colon + 2) : what));
  }
  return s;
}

/// workload.serve.disaggregation of a scenario tree, or nullptr.
doc::node* disaggregation_of(doc::node& root) {
  doc::node* w = root.find("workload");
  doc::node* serve = w != nullptr && w->is_map() ? w->find("serve") : nullptr;
  return serve != nullptr && serve->is_map() ? serve->find("disaggregation") : nullptr;
}

/// A serving strategy is aggregated or disaggregated whatever the scenario as written is: one
/// that gives `parallelism` runs it as one aggregated instance (the base's
/// workload.serve.disaggregation is dropped), one that gives workload.serve.disaggregation
/// runs those roles (the base's parallelism is dropped; the roles merge key by key over the
/// base's). Giving both contradicts: refused at the strategy's disaggregation key.
void choose_serving_layout(doc::node& variant, doc::node& changes) {
  doc::node* given = disaggregation_of(changes);
  const bool disaggregated = given != nullptr && !given->is_null();
  if (changes.find("parallelism") != nullptr) {
    if (disaggregated) {
      detail::fail(*given, "workload.serve.disaggregation",
                   "a strategy is aggregated (its parallelism) or disaggregated (its "
                   "workload.serve.disaggregation, each role with its own parallelism), not "
                   "both: remove one");
    }
    if (disaggregation_of(variant) != nullptr) {
      variant.find("workload")->find("serve")->erase("disaggregation");
    }
  }
  if (disaggregated) variant.erase("parallelism");
}

sim::run::scenario_set load(doc::node root, const load_options& opt,
                            const std::filesystem::path& base) {
  if (!root.is_map()) {
    detail::fail(root, "", "expected a scenario (a mapping of sections), got " + root.describe());
  }
  root.erase("sweep");  // the axes of `moesim sweep`; the file loads as its base scenario
  for (const auto& o : opt.overrides) apply_override(root, o);
  if (opt.seed) apply_override(root, "seed=" + std::to_string(*opt.seed));

  scenario_set out;
  doc::node base_doc = root;
  base_doc.erase("strategies");
  // Check the whole tree's keys first (strategies included) so a typo anywhere is reported
  // before anything is read.
  out.base = read_resolved(root, base, opt.allow_large);
  if (const doc::node* strategies = root.find("strategies")) {
    if (!strategies->is_seq()) {
      detail::fail(*strategies, "strategies", "expected a list, got " + strategies->describe());
    }
    for (std::size_t i = 0; i < strategies->items().size(); ++i) {
      const doc::node& item = strategies->items()[i];
      const std::string path = "strategies[" + std::to_string(i) + "]";
      const doc::node* name = item.find("name");
      if (name == nullptr) detail::fail(item, path, "missing required key 'name' (strategy name)");
      std::string strategy_name;
      string_spec{}.read(*name, strategy_name, path + ".name");
      // Names pick a strategy (--trace-strategy, the metrics' rows): one name, one strategy.
      for (std::size_t j = 0; j < i; ++j) {
        if (out.strategies[j].variant == strategy_name) {
          detail::fail(*name, path + ".name",
                       "strategy '" + strategy_name + "' is already the name of strategies[" +
                           std::to_string(j) + "]; strategy names must be unique");
        }
      }
      doc::node variant = base_doc;
      doc::node changes = item;
      changes.erase("name");
      // The base read cleanly, so whatever fails now stems from this strategy's changes.
      try {
        choose_serving_layout(variant, changes);
        doc::merge(variant, changes);
        scenario s = read_resolved(std::move(variant), base, opt.allow_large);
        s.variant = strategy_name;
        out.strategies.push_back(std::move(s));
      } catch (const input_error& e) {
        try {
          detail::rethrow_for_strategy(e, item, detail::strategy_context(item, i));
        } catch (const input_error& named) {
          if (dynamic_cast<const infeasible_error*>(&e) != nullptr) throw infeasible_error(named);
          throw;
        }
      }
    }
  }
  return out;
}

}  // namespace

sim::run::scenario_set load_scenario_file(const std::string& path, const load_options& opt) {
  return load(doc::parse_file(path), opt, std::filesystem::path(path).parent_path());
}

sim::run::scenario_set load_scenario_tree(doc::node root, const std::string& base_dir,
                                          const load_options& opt) {
  return load(std::move(root), opt, std::filesystem::path(base_dir));
}

sim::run::scenario_set load_scenario_text(std::string_view yaml, const std::string& origin,
                                          const load_options& opt) {
  return load(doc::parse(yaml, origin), opt, std::filesystem::current_path());
}

json scenario_json_schema() {
  json s = scenario_type().schema();
  json out{{"$schema", "https://json-schema.org/draft/2020-12/schema"},
           {"$id", "https://moesim.dev/schema/scenario-1.json"}};
  for (auto& [k, v] : s.items()) out[k] = v;
  // Sections that accept `preset:` list the known names so editors can complete them.
  out["properties"]["model"]["properties"]["preset"]["enum"] = preset_names(preset_kind::model);
  out["properties"]["cluster"]["properties"]["preset"]["enum"] = preset_names(preset_kind::cluster);
  // With a preset, the preset supplies the required keys.
  for (const char* section : {"model", "cluster"}) {
    json& sec = out["properties"][section];
    json required = sec["required"];
    sec.erase("required");
    sec["anyOf"] =
        json::array({json{{"required", json::array({"preset"})}}, json{{"required", required}}});
  }
  out["properties"]["chip"].erase("required");
  out["properties"]["sweep"] = sweep_json_schema();
  return out;
}

json scenario_to_json(const sim::run::scenario& s) {
  json j = scenario_type().to_json(s);
  j.erase("strategies");
  if (s.op_profile.empty()) j.erase("op_profile");  // absent, as before the key existed
  if (!s.moe.placement) j["moe"].erase("placement");
  const auto& sv = s.workload.serve;  // likewise serve, its optional blocks, a chain's tree
  if (!sv) j["workload"].erase("serve");
  if (sv && !sv->disaggregation) j["workload"]["serve"].erase("disaggregation");
  if (sv && !sv->speculative) j["workload"]["serve"].erase("speculative");
  if (sv && sv->speculative && !sv->speculative->tree)
    j["workload"]["serve"]["speculative"].erase("tree");
  if (sv && sv->speculative &&  // policy prefetch's keys only where it runs
      !serve::runs_policy(*sv->speculative, serve::speculation_policy::prefetch))
    for (const char* k : {"prefetch_from", "prefetch_accuracy"})
      j["workload"]["serve"]["speculative"].erase(k);
  // Offloading's keys, likewise absent when unset (precision's stored formats, the host CPU).
  if (!s.offload) j.erase("offload");
  if (s.faults.empty()) j.erase("faults");  // absent, as before the key existed
  if (j.contains("faults")) {
    for (json& f : j["faults"]) {
      f.erase(f["mtbf_h"].is_null() ? "mtbf_h" : "at_s");  // a fault at a time, or at a rate
    }
  }
  if (s.workload.training && !s.workload.training->resilience) {
    j["workload"]["training"].erase("resilience");
  }
  if (!s.cluster.host) j["cluster"].erase("host");
  for (const char* k : {"expert_weights", "attention_weights", "expert_quant", "attention_quant"})
    if (j["precision"][k].is_null()) j["precision"].erase(k);
  if (!(s.chip.host_link.copy_bytes_per_s > 0)) j["chip"]["host_link"].erase("copy_bytes_per_s");
  if (!s.variant.empty()) j["strategy"] = s.variant;
  return j;
}

sim::run::scenario_set load_shipped_scenario(const std::string& name, const load_options& opt) {
  const std::string path = "scenarios/" + name + ".yaml";
  std::string names;
  for (const auto& f : detail::embedded_scenarios()) {
    if (f.path == path) return load_scenario_text(f.content, path, opt);
    names += (names.empty() ? "" : ", ") + std::string(f.path);
  }
  throw std::invalid_argument("no shipped scenario '" + name + "' (shipped: " + names + ")");
}

}  // namespace moesim::io
