#include "models/trace_convert.hpp"

#include <algorithm>
#include <istream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "sim/engine/random.hpp"

namespace moesim::models {
namespace {

using json = nlohmann::json;

// Synthesised traces are capped by default: a window of a busy server holds millions of
// tokens per layer, far more than the replay samples (sampling.tokens_per_step).
constexpr int default_max_tokens = 4096;

struct context {
  std::string origin;
  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw std::invalid_argument(origin + ": " + where + ": " + what);
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument(origin + ": " + what);
  }
};

std::string index_text(const std::vector<std::size_t>& idx) {
  std::string s;
  for (const auto i : idx) s += "[" + std::to_string(i) + "]";
  return s;
}

// A dense integer tensor read from nested JSON lists.
struct tensor {
  std::string name;  // field name, for messages
  std::vector<std::size_t> shape;
  std::vector<std::int64_t> values;  // row-major

  [[nodiscard]] std::int64_t at(std::size_t i, std::size_t j) const {
    return values[i * shape[1] + j];
  }
  [[nodiscard]] std::int64_t at(std::size_t i, std::size_t j, std::size_t k) const {
    return values[(i * shape[1] + j) * shape[2] + k];
  }
  [[nodiscard]] std::string where(std::vector<std::size_t> idx) const {
    return name + index_text(idx);
  }
};

void read_level(const json& j, std::size_t depth, std::size_t rank, std::vector<std::size_t>& idx,
                tensor& t, const std::string& dims, const context& c) {
  if (depth == rank) {
    if (!j.is_number_integer() ||
        (j.is_number_unsigned() &&
         j.get<std::uint64_t>() >
             static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
      c.fail(t.where(idx), "expected an integer, got " + j.dump());
    }
    t.values.push_back(j.get<std::int64_t>());
    return;
  }
  if (!j.is_array()) c.fail(t.where(idx), "expected a list (" + t.name + " is " + dims + ")");
  if (t.shape.size() == depth) {
    t.shape.push_back(j.size());  // the first list at this depth sets the extent
  } else if (j.size() != t.shape[depth]) {
    std::vector<std::size_t> first(idx.size(), 0);
    c.fail(t.where(idx), std::to_string(j.size()) + " entries, but " + t.where(first) + " has " +
                             std::to_string(t.shape[depth]) + " (" + t.name + " is " + dims + ")");
  }
  for (std::size_t i = 0; i < j.size(); ++i) {
    idx.push_back(i);
    read_level(j[i], depth + 1, rank, idx, t, dims, c);
    idx.pop_back();
  }
}

// `dims` names each axis, e.g. "[passes][layers][experts]": its count of '[' is the rank.
tensor read_tensor(const json& j, const std::string& name, const std::string& dims,
                   const context& c) {
  tensor t;
  t.name = name;
  const auto rank = static_cast<std::size_t>(std::count(dims.begin(), dims.end(), '['));
  std::vector<std::size_t> idx;
  read_level(j, 0, rank, idx, t, dims, c);
  t.shape.resize(rank, 0);
  return t;
}

void require_non_negative(const tensor& t, const context& c) {
  for (std::size_t n = 0; n < t.values.size(); ++n) {
    if (t.values[n] >= 0) continue;
    std::vector<std::size_t> idx(t.shape.size());
    std::size_t rest = n;
    for (std::size_t d = t.shape.size(); d-- > 0;) {
      idx[d] = rest % t.shape[d];
      rest /= t.shape[d];
    }
    c.fail(t.where(idx), "count " + std::to_string(t.values[n]) + " is negative");
  }
}

std::string layers_text(const model_spec& spec) {
  std::string s = "the " + std::to_string(spec.layers) + " layers";
  if (spec.mtp_modules > 0) {
    s += " and " + std::to_string(spec.mtp_modules) + " MTP module" +
         (spec.mtp_modules > 1 ? "s" : "");
  }
  return s + " of " + spec.name + " (indices 0 to " +
         std::to_string(spec.layers + spec.mtp_modules - 1) + ")";
}

// SGLang numbers layers as the model does; anything past its layers (and MTP modules) belongs
// to another model.
void check_sglang_layers(const tensor& t, std::size_t layer_axis, const model_spec& spec,
                         const context& c) {
  const auto limit = static_cast<std::size_t>(spec.layers + spec.mtp_modules);
  if (t.shape[layer_axis] <= limit) return;
  std::vector<std::size_t> idx(layer_axis + 1, 0);
  idx[layer_axis] = limit;
  c.fail(t.where(idx), "layer " + std::to_string(limit) + " is beyond " + layers_text(spec));
}

// A physical-to-logical map [layers][physical]: every entry one of the model's experts.
tensor read_map(const json& j, const std::string& name, const model_spec& spec, const context& c) {
  tensor m = read_tensor(j, name, "[layers][physical experts]", c);
  for (std::size_t l = 0; l < m.shape[0]; ++l) {
    for (std::size_t p = 0; p < m.shape[1]; ++p) {
      const std::int64_t e = m.at(l, p);
      if (e < 0 || e >= spec.moe->experts) {
        c.fail(m.where({l, p}), "expert " + std::to_string(e) + " outside the " +
                                    std::to_string(spec.moe->experts) + " experts of " + spec.name);
      }
    }
  }
  return m;
}

void require_same_shape(const tensor& a, const tensor& b, std::size_t axes, const context& c) {
  for (std::size_t d = 0; d < axes; ++d) {
    if (a.shape[a.shape.size() - axes + d] != b.shape[d]) {
      c.fail(a.name + " is [" + std::to_string(a.shape[a.shape.size() - axes]) + " layers][" +
             std::to_string(a.shape.back()) + " physical experts], but " + b.name + " is [" +
             std::to_string(b.shape[0]) + "][" + std::to_string(b.shape[1]) + "]");
    }
  }
}

// Per-layer counts of each logical expert: summed over the leading axis (passes or window),
// physical slots mapped through `map` (nullptr: slot = expert).
std::vector<std::vector<std::int64_t>> logical_counts(const tensor& t, const tensor* map,
                                                      const model_spec& spec, const context& c) {
  const std::size_t passes = t.shape[0];
  const std::size_t layers = t.shape[1];
  const std::size_t slots = t.shape[2];
  const auto experts = static_cast<std::size_t>(spec.moe->experts);
  if (map == nullptr && slots != experts) {
    c.fail(t.name + " has " + std::to_string(slots) + " experts per layer, but " + spec.name +
           " has " + std::to_string(experts) +
           (t.name == "logical_count" ? "" : " (with redundant experts, give the map)"));
  }
  std::vector<std::vector<std::int64_t>> out(layers, std::vector<std::int64_t>(experts, 0));
  for (std::size_t p = 0; p < passes; ++p) {
    for (std::size_t l = 0; l < layers; ++l) {
      for (std::size_t s = 0; s < slots; ++s) {
        const auto e = map != nullptr ? static_cast<std::size_t>(map->at(l, s)) : s;
        out[l][e] += t.at(p, l, s);
      }
    }
  }
  return out;
}

// `tokens` tokens of top_k distinct experts each, expert e taking its exact share of the picks
// (largest remainder, ties to the lower id); experts laid out in a random order, token t taking
// the slots t, t + tokens, ... (so no expert twice), then the tokens shuffled.
routing synthesise(const std::vector<std::int64_t>& counts, int top_k, int tokens_opt, rng gen,
                   const std::string& layer_name, std::int64_t& recorded, const context& c) {
  const std::int64_t picks = std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
  if (picks % top_k != 0) {
    c.fail(layer_name, "the counts sum to " + std::to_string(picks) + ", not a multiple of top_k " +
                           std::to_string(top_k) + " (every token takes top_k experts)");
  }
  recorded = picks / top_k;
  for (std::size_t e = 0; e < counts.size(); ++e) {
    if (counts[e] > recorded) {
      c.fail(layer_name, "expert " + std::to_string(e) + " took " + std::to_string(counts[e]) +
                             " tokens of the " + std::to_string(recorded) +
                             " the layer saw (a token takes an expert at most once)");
    }
  }
  const std::int64_t n =
      tokens_opt > 0 ? tokens_opt : std::min<std::int64_t>(recorded, default_max_tokens);
  const std::int64_t slots = n * top_k;
  std::vector<std::int64_t> share(counts.size());
  std::vector<std::pair<std::uint64_t, std::size_t>> rest;  // (remainder, expert)
  std::int64_t given = 0;
  for (std::size_t e = 0; e < counts.size(); ++e) {
    const auto product = static_cast<__uint128_t>(counts[e]) * static_cast<__uint128_t>(slots);
    share[e] = static_cast<std::int64_t>(product / static_cast<__uint128_t>(picks));
    rest.emplace_back(static_cast<std::uint64_t>(product % static_cast<__uint128_t>(picks)), e);
    given += share[e];
  }
  std::stable_sort(rest.begin(), rest.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::int64_t i = 0; i < slots - given; ++i)
    ++share[rest[static_cast<std::size_t>(i)].second];

  std::vector<std::size_t> order(counts.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
  std::vector<expert_index> lane;
  lane.reserve(static_cast<std::size_t>(slots));
  for (const auto e : order) {
    lane.insert(lane.end(), static_cast<std::size_t>(share[e]), static_cast<expert_index>(e));
  }
  std::vector<std::int64_t> token_order(static_cast<std::size_t>(n));
  std::iota(token_order.begin(), token_order.end(), std::int64_t{0});
  for (std::size_t i = token_order.size(); i > 1; --i) {
    std::swap(token_order[i - 1], token_order[gen.below(i)]);
  }
  routing r;
  r.experts = static_cast<int>(counts.size());
  const float weight = 1.0F / static_cast<float>(top_k);
  for (const auto t : token_order) {
    for (int j = 0; j < top_k; ++j) {
      r.expert_ids.push_back(lane[static_cast<std::size_t>(t + j * n)]);
      r.weights.push_back(weight);
      r.scores.push_back(weight);
    }
    ++r.tokens;
    r.offsets.push_back(static_cast<std::int32_t>(r.expert_ids.size()));
  }
  return r;
}

// Counts per model layer (index = layer id, empty = no tokens) to a trace.
routing_trace from_counts(const std::vector<std::pair<int, std::vector<std::int64_t>>>& layers,
                          const model_spec& spec, const trace_conversion& opt,
                          const std::string& what, const context& c) {
  routing_trace t;
  t.model = spec.name;
  t.experts = spec.moe->experts;
  t.top_k = spec.moe->top_k;
  t.has_weights = false;
  const rng root = rng::stream(opt.seed, "trace.convert");
  std::int64_t recorded = 0;
  for (const auto& [layer, counts] : layers) {
    if (std::all_of(counts.begin(), counts.end(), [](std::int64_t v) { return v == 0; })) {
      continue;  // a dense layer, or one that saw no token
    }
    t.layers.push_back(synthesise(counts, spec.moe->top_k, opt.tokens,
                                  root.fork(static_cast<std::uint64_t>(layer)),
                                  "layer " + std::to_string(layer), recorded, c));
    t.layer_ids.push_back(layer);
  }
  if (t.layers.empty()) c.fail("no layer took any token");
  t.generated_by = "moesim trace convert --from " +
                   std::string(opt.from == dump_source::vllm ? "vllm" : "sglang") + " (" + what +
                   "): " + opt.origin + "; per-expert loads exact, " +
                   std::to_string(t.layers.front().tokens) +
                   " tokens per layer synthesised, experts sharing a token drawn at random (seed " +
                   std::to_string(opt.seed) + ")";
  return t;
}

routing_trace convert_vllm(const json& j, const model_spec& spec, const trace_conversion& opt,
                           const context& c) {
  for (const auto& [key, value] : j.items()) {
    if (key != "expert_load_window" && key != "expert_load_pass" &&
        key != "physical_to_logical_map") {
      c.fail("unknown key '" + key +
             "' (expected expert_load_window or expert_load_pass, and physical_to_logical_map)");
    }
  }
  const bool window = j.contains("expert_load_window");
  if (window == j.contains("expert_load_pass")) {
    c.fail(
        "expected one of expert_load_window [window][moe layers][physical experts] or "
        "expert_load_pass [moe layers][physical experts]");
  }
  tensor load = window ? read_tensor(j["expert_load_window"], "expert_load_window",
                                     "[window][moe layers][physical experts]", c)
                       : read_tensor(j["expert_load_pass"], "expert_load_pass",
                                     "[moe layers][physical experts]", c);
  require_non_negative(load, c);
  if (!window) load.shape.insert(load.shape.begin(), 1);  // a window of one pass
  const std::vector<int> moe = routed_layers(spec, false);
  if (load.shape[1] > moe.size()) {
    std::vector<std::size_t> idx{moe.size()};
    if (window) idx.insert(idx.begin(), 0);
    c.fail(load.where(idx), "MoE layer " + std::to_string(moe.size()) + " is beyond the " +
                                std::to_string(moe.size()) + " MoE layers of " + spec.name +
                                " (ordinals 0 to " + std::to_string(moe.size() - 1) + ")");
  }
  std::optional<tensor> map;
  if (j.contains("physical_to_logical_map")) {
    map = read_map(j["physical_to_logical_map"], "physical_to_logical_map", spec, c);
    require_same_shape(load, *map, 2, c);
  }
  const auto counts = logical_counts(load, map ? &*map : nullptr, spec, c);
  std::vector<std::pair<int, std::vector<std::int64_t>>> layers;
  for (std::size_t i = 0; i < counts.size(); ++i) layers.emplace_back(moe[i], counts[i]);
  const std::string what =
      window ? "expert_load_window of " + std::to_string(load.shape[0]) + " passes"
             : "expert_load_pass";
  return from_counts(layers, spec, opt, what, c);
}

routing_trace sglang_tokens(const json& records, const tensor& map, const model_spec& spec,
                            const trace_conversion& opt, const context& c) {
  routing_trace t;
  t.model = spec.name;
  t.experts = spec.moe->experts;
  t.top_k = spec.moe->top_k;
  t.has_weights = false;
  std::vector<routing> per_layer(map.shape[0]);
  for (auto& r : per_layer) r.experts = spec.moe->experts;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const std::string name = "records[" + std::to_string(i) + "].topk_ids_of_layer";
    const tensor ids = read_tensor(records[i]["topk_ids_of_layer"], name, "[layers][tokens][k]", c);
    if (ids.shape[0] != map.shape[0]) {
      c.fail(name + " has " + std::to_string(ids.shape[0]) +
             " layers, but last_physical_to_logical_map has " + std::to_string(map.shape[0]));
    }
    for (std::size_t l = 0; l < ids.shape[0]; ++l) {
      routing& r = per_layer[l];
      for (std::size_t tok = 0; tok < ids.shape[1]; ++tok) {
        if (opt.tokens > 0 && r.tokens >= opt.tokens) break;
        const auto first = r.expert_ids.size();
        for (std::size_t k = 0; k < ids.shape[2]; ++k) {
          const std::int64_t p = ids.at(l, tok, k);
          if (p == -1) continue;  // no expert in this slot (padding, or k below 8)
          if (p < -1 || p >= static_cast<std::int64_t>(map.shape[1])) {
            c.fail(ids.where({l, tok, k}), "expert slot " + std::to_string(p) + " outside [-1, " +
                                               std::to_string(map.shape[1]) + ")");
          }
          const auto e = static_cast<expert_index>(map.at(l, static_cast<std::size_t>(p)));
          if (std::find(r.expert_ids.begin() + static_cast<std::ptrdiff_t>(first),
                        r.expert_ids.end(), e) != r.expert_ids.end()) {
            c.fail(ids.where({l, tok}), "expert " + std::to_string(e) + " taken twice");
          }
          r.expert_ids.push_back(e);
        }
        const auto taken = r.expert_ids.size() - first;
        if (taken == 0) continue;  // a padded token
        for (std::size_t k = 0; k < taken; ++k) {
          r.weights.push_back(1.0F / static_cast<float>(taken));
          r.scores.push_back(1.0F / static_cast<float>(taken));
        }
        ++r.tokens;
        r.offsets.push_back(static_cast<std::int32_t>(r.expert_ids.size()));
      }
    }
  }
  for (std::size_t l = 0; l < per_layer.size(); ++l) {
    if (per_layer[l].tokens == 0) continue;
    t.layer_ids.push_back(static_cast<int>(l));
    t.layers.push_back(std::move(per_layer[l]));
  }
  if (t.layers.empty()) c.fail("no layer took any token");
  t.generated_by =
      "moesim trace convert --from sglang (per_token records, as recorded): " + opt.origin + ", " +
      std::to_string(records.size()) + " forward passes";
  return t;
}

routing_trace convert_sglang(const json& j, const model_spec& spec, const trace_conversion& opt,
                             const context& c) {
  for (const auto& [key, value] : j.items()) {
    if (key != "logical_count" && key != "rank" && key != "average_utilization_rate_over_window" &&
        key != "records" && key != "last_physical_to_logical_map") {
      c.fail("unknown key '" + key +
             "' (expected logical_count (mode stat), or records and "
             "last_physical_to_logical_map (modes per_pass, per_token))");
    }
  }
  if (j.contains("logical_count") == j.contains("records")) {
    c.fail("expected one of logical_count (mode stat) or records (modes per_pass, per_token)");
  }
  if (j.contains("logical_count")) {
    const tensor count =
        read_tensor(j["logical_count"], "logical_count", "[passes][layers][experts]", c);
    require_non_negative(count, c);
    check_sglang_layers(count, 1, spec, c);
    const auto counts = logical_counts(count, nullptr, spec, c);
    std::vector<std::pair<int, std::vector<std::int64_t>>> layers;
    for (std::size_t l = 0; l < counts.size(); ++l) {
      layers.emplace_back(static_cast<int>(l), counts[l]);
    }
    return from_counts(layers, spec, opt,
                       "stat logical_count of " + std::to_string(count.shape[0]) + " passes", c);
  }
  if (!j.contains("last_physical_to_logical_map")) {
    c.fail("records need last_physical_to_logical_map [layers][physical experts]");
  }
  const tensor map =
      read_map(j["last_physical_to_logical_map"], "last_physical_to_logical_map", spec, c);
  check_sglang_layers(map, 0, spec, c);
  const json& records = j["records"];
  if (!records.is_array() || records.empty()) c.fail("records: expected a non-empty list");
  bool per_token = false;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const json& r = records[i];
    const std::string at = "records[" + std::to_string(i) + "]";
    if (!r.is_object()) c.fail(at, "expected an object");
    const bool tokens = r.contains("topk_ids_of_layer");
    if (!tokens && !r.contains("global_physical_count")) {
      c.fail(at,
             "expected topk_ids_of_layer (mode per_token) or global_physical_count (mode "
             "per_pass)");
    }
    if (i > 0 && tokens != per_token) c.fail(at, "records mix per_token and per_pass entries");
    per_token = tokens;
  }
  if (per_token) return sglang_tokens(records, map, spec, opt, c);
  tensor all;
  all.name = "records[].global_physical_count";
  for (std::size_t i = 0; i < records.size(); ++i) {
    const tensor one = read_tensor(records[i]["global_physical_count"],
                                   "records[" + std::to_string(i) + "].global_physical_count",
                                   "[layers][physical experts]", c);
    require_non_negative(one, c);
    require_same_shape(one, map, 2, c);
    all.values.insert(all.values.end(), one.values.begin(), one.values.end());
    all.shape = {i + 1, one.shape[0], one.shape[1]};
  }
  const auto counts = logical_counts(all, &map, spec, c);
  std::vector<std::pair<int, std::vector<std::int64_t>>> layers;
  for (std::size_t l = 0; l < counts.size(); ++l)
    layers.emplace_back(static_cast<int>(l), counts[l]);
  return from_counts(
      layers, spec, opt,
      "per_pass global_physical_count of " + std::to_string(records.size()) + " passes", c);
}

}  // namespace

routing_trace convert_expert_dump(std::istream& in, const model_spec& spec,
                                  const trace_conversion& opt) {
  const context c{opt.origin};
  if (!spec.moe) c.fail("model " + spec.name + " has no MoE layers");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    c.fail(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) c.fail("the top level must be an object of the dump's fields");
  routing_trace t = opt.from == dump_source::vllm ? convert_vllm(j, spec, opt, c)
                                                  : convert_sglang(j, spec, opt, c);
  check_trace_layers(t, spec, opt.origin);
  return t;
}

}  // namespace moesim::models
