#include "models/routing_trace.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iomanip>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "models/model_spec.hpp"
#include "models/router.hpp"
#include "models/token_source.hpp"
#include "sim/engine/limits.hpp"

namespace moesim::models {
namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& what) {
  throw std::invalid_argument("routing trace: " + what);
}

/// Appends one token's experts (and weights, or 1/count if none) to `r`, checking them.
void append_token(routing& r, const std::vector<std::int64_t>& ids, const std::vector<double>* w,
                  const std::string& where) {
  if (w != nullptr && w->size() != ids.size()) {
    fail(where + ": " + std::to_string(ids.size()) + " expert ids but " +
         std::to_string(w->size()) + " weights");
  }
  const auto first = r.expert_ids.size();
  for (std::size_t j = 0; j < ids.size(); ++j) {
    const std::int64_t e = ids[j];
    if (e < 0 || e >= r.experts) {
      fail(where + ": expert id " + std::to_string(e) + " outside [0, " +
           std::to_string(r.experts) + ")");
    }
    for (std::size_t i = first; i < r.expert_ids.size(); ++i) {
      if (r.expert_ids[i] == e) fail(where + ": expert id " + std::to_string(e) + " repeated");
    }
    r.expert_ids.push_back(static_cast<expert_index>(e));
    // A weight beyond float's range would not convert (undefined behaviour), and an infinite
    // one poisons every sum it enters.
    if (w != nullptr && !(std::abs((*w)[j]) <= std::numeric_limits<float>::max())) {
      std::ostringstream shown;
      shown << (*w)[j];
      fail(where + ": weight " + shown.str() + " is not a finite float");
    }
    const float weight =
        w != nullptr ? static_cast<float>((*w)[j]) : 1.0f / static_cast<float>(ids.size());
    r.weights.push_back(weight);
    r.scores.push_back(weight);
  }
  ++r.tokens;
  r.offsets.push_back(static_cast<std::int32_t>(r.expert_ids.size()));
}

/// The integer the JSON value `v` holds when it is in [lo, hi]: a JSON integer, or a number with
/// an integral value (3.0); nullopt for anything else (a fraction, a number out of range,
/// a non-number). json's own get<int> casts without a check: a double beyond the integer's
/// range is undefined behaviour and a larger integer wraps.
std::optional<std::int64_t> integer_in(const json& v, std::int64_t lo, std::int64_t hi) {
  if (v.is_number_unsigned()) {
    const std::uint64_t u = v.get<std::uint64_t>();
    if (hi < 0 || u > static_cast<std::uint64_t>(hi)) return std::nullopt;
    const auto i = static_cast<std::int64_t>(u);
    return i >= lo ? std::optional<std::int64_t>(i) : std::nullopt;
  }
  if (v.is_number_integer()) {
    const std::int64_t i = v.get<std::int64_t>();
    return i >= lo && i <= hi ? std::optional<std::int64_t>(i) : std::nullopt;
  }
  if (!v.is_number_float()) return std::nullopt;
  const double d = v.get<double>();  // lo and hi are int-sized here: exact as doubles
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || d != std::trunc(d)) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(d);
}

/// `v` as an int in [lo, INT_MAX], else fails with "`what` must be `expected`, got V".
int int_at_least(const json& v, int lo, const std::string& what, const std::string& expected) {
  const auto i = integer_in(v, lo, std::numeric_limits<int>::max());
  if (!i) fail(what + " must be " + expected + ", got " + v.dump());
  return static_cast<int>(*i);
}

/// A token's expert ids: an array of integers in [0, experts) (append_token checks repeats).
std::vector<std::int64_t> expert_ids_of(const json& ids, int experts, const std::string& where) {
  if (!ids.is_array()) fail(where + ": expert ids must be an array, got " + ids.dump());
  std::vector<std::int64_t> out;
  out.reserve(ids.size());
  for (const json& id : ids) {
    const auto e = integer_in(id, 0, experts - 1);
    if (!e) {
      fail(where + ": expert id " + id.dump() + " outside [0, " + std::to_string(experts) +
           ") or not an integer");
    }
    out.push_back(*e);
  }
  return out;
}

routing empty_routing(int experts) {
  routing r;
  r.experts = experts;
  return r;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

template <class T>
std::vector<T> parse_list(std::string_view field, const std::string& where) {
  std::vector<T> out;
  std::istringstream in{std::string(field)};
  std::string item;
  while (in >> item) {
    T v{};
    const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc{} || ptr != item.data() + item.size()) {
      std::string what = where + ": '";
      what += item;
      what += "' is not a number";
      fail(what);
    }
    out.push_back(v);
  }
  return out;
}

int parse_int(const std::string& text, const std::string& where) {
  const auto v = parse_list<std::int64_t>(text, where);
  if (v.size() != 1 || v[0] < 0 || v[0] > 1'000'000'000) {
    fail(where + ": expected one non-negative integer, got '" + text + "'");
  }
  return static_cast<int>(v[0]);
}

}  // namespace

routing_trace read_routing_trace_json(std::istream& in) {
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    fail(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail("the top level must be an object");
  static const std::vector<std::string> known{"format",  "version", "generated_by", "model",
                                              "experts", "top_k",   "layers"};
  for (const auto& [key, value] : j.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      fail("unknown key '" + key +
           "' (expected format, version, generated_by, model, experts, "
           "top_k, layers)");
    }
  }
  // Checked for a string first: json's value() throws type_error at any other type (an array
  // here escaped the reader as an internal error: fuzz finding format-not-a-string.json).
  if (!j.contains("format") || !j["format"].is_string() ||
      j["format"].get<std::string>() != "moesim.routing_trace") {
    fail("\"format\" must be \"moesim.routing_trace\"");
  }
  if (!j.contains("version") || j["version"] != 1) fail("\"version\" must be 1");
  routing_trace t;
  try {
    t.generated_by = j.value("generated_by", std::string{});
    t.model = j.value("model", std::string{});
    if (!j.contains("experts") || !j["experts"].is_number_integer() ||
        !integer_in(j["experts"], 1, std::numeric_limits<int>::max())) {
      fail("\"experts\" must be a positive integer");
    }
    t.experts = static_cast<int>(j["experts"].get<std::int64_t>());
    if (j.contains("top_k")) {
      t.top_k = int_at_least(j["top_k"], 0, "\"top_k\"", "a non-negative integer");
    }
    if (!j.contains("layers") || !j["layers"].is_array()) fail("\"layers\" must be an array");
    bool any_weights = false;
    bool all_weights = true;
    for (std::size_t li = 0; li < j["layers"].size(); ++li) {
      const json& layer = j["layers"][li];
      const std::string at = "layers[" + std::to_string(li) + "]";
      if (!layer.is_object() || !layer.contains("layer") || !layer.contains("topk_ids")) {
        fail(at + " must be an object with \"layer\" and \"topk_ids\"");
      }
      for (const auto& [key, value] : layer.items()) {
        if (key != "layer" && key != "topk_ids" && key != "topk_weights") {
          std::string what = at + ": unknown key '";
          what += key;
          what += "' (expected layer, topk_ids, topk_weights)";
          fail(what);
        }
      }
      const json& ids = layer["topk_ids"];
      const bool has_w = layer.contains("topk_weights");
      if (!ids.is_array() || (has_w && (!layer["topk_weights"].is_array() ||
                                        layer["topk_weights"].size() != ids.size()))) {
        fail(at +
             ": topk_ids must be an array of per-token arrays, and topk_weights (if any) of "
             "the same length");
      }
      any_weights = any_weights || has_w;
      all_weights = all_weights && has_w;
      routing r = empty_routing(t.experts);
      for (std::size_t tok = 0; tok < ids.size(); ++tok) {
        const std::string where = at + " token " + std::to_string(tok);
        const auto e = expert_ids_of(ids[tok], t.experts, where);
        if (has_w) {
          const auto w = layer["topk_weights"][tok].get<std::vector<double>>();
          append_token(r, e, &w, where);
        } else {
          append_token(r, e, nullptr, where);
        }
      }
      t.layer_ids.push_back(int_at_least(layer["layer"], std::numeric_limits<int>::min(),
                                         at + ".layer", "an integer"));
      t.layers.push_back(std::move(r));
    }
    if (any_weights && !all_weights) fail("either every layer has topk_weights or none has");
    t.has_weights = all_weights && !t.layers.empty();
  } catch (const json::exception& e) {
    fail(std::string("wrong type: ") + e.what());
  }
  return t;
}

routing_trace read_routing_trace_csv(std::istream& in) {
  routing_trace t;
  std::string line;
  int line_no = 0;
  bool header = false;
  bool any_scores = false;
  bool all_scores = true;
  int expected_token = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string where = "line " + std::to_string(line_no);
    const std::string text = trim(line);
    if (text.empty()) continue;
    if (!header) {
      if (text[0] == '#') {
        const auto colon = text.find(':');
        if (colon == std::string::npos) fail(where + ": expected '# key: value'");
        const std::string key = trim(std::string_view(text).substr(1, colon - 1));
        const std::string value = trim(std::string_view(text).substr(colon + 1));
        if (key == "generated_by")
          t.generated_by = value;
        else if (key == "model")
          t.model = value;
        else if (key == "experts")
          t.experts = parse_int(value, where);
        else if (key == "top_k")
          t.top_k = parse_int(value, where);
        else {
          std::string what = where + ": unknown key '";
          what += key;
          what += "' (expected generated_by, model, experts, top_k)";
          fail(what);
        }
        continue;
      }
      if (text != "layer,token,expert_ids,scores") {
        fail(where + ": expected the header 'layer,token,expert_ids,scores'");
      }
      if (t.experts <= 0) fail(where + ": a '# experts: N' line must come before the header");
      header = true;
      continue;
    }
    std::vector<std::string> fields;
    std::string::size_type start = 0;
    for (;;) {
      const auto comma = text.find(',', start);
      fields.push_back(text.substr(start, comma == std::string::npos ? comma : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (fields.size() != 4) {
      fail(where + ": expected 4 fields layer,token,expert_ids,scores, got " +
           std::to_string(fields.size()));
    }
    const int layer = parse_int(trim(fields[0]), where + " layer");
    const int token = parse_int(trim(fields[1]), where + " token");
    if (t.layer_ids.empty() || t.layer_ids.back() != layer) {
      for (int seen : t.layer_ids) {
        if (seen == layer)
          fail(where + ": rows of layer " + std::to_string(layer) + " are not contiguous");
      }
      t.layer_ids.push_back(layer);
      t.layers.push_back(empty_routing(t.experts));
      expected_token = 0;
    }
    if (token != expected_token) {
      fail(where + ": layer " + std::to_string(layer) + " expected token " +
           std::to_string(expected_token) + ", got " + std::to_string(token));
    }
    ++expected_token;
    const auto ids = parse_list<std::int64_t>(fields[2], where + " expert_ids");
    const std::string score_text = trim(fields[3]);
    if (score_text.empty()) {
      all_scores = false;
      append_token(t.layers.back(), ids, nullptr, where);
    } else {
      any_scores = true;
      const auto w = parse_list<double>(score_text, where + " scores");
      append_token(t.layers.back(), ids, &w, where);
    }
  }
  if (!header) fail("no header line 'layer,token,expert_ids,scores'");
  if (any_scores && !all_scores) fail("either every row has scores or none has");
  t.has_weights = any_scores;
  return t;
}

routing_trace read_routing_trace(const std::filesystem::path& path) {
  const std::optional<std::string> text = limits::read_input_text(path);
  if (!text) fail("cannot open " + path.string());
  std::istringstream in(*text);
  const auto ext = path.extension().string();
  try {
    if (ext == ".json") return read_routing_trace_json(in);
    if (ext == ".csv") return read_routing_trace_csv(in);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path.string() + ": " + e.what());
  }
  fail(path.string() + ": extension must be .json or .csv");
}

void write_routing_trace_json(const routing_trace& trace, std::ostream& out) {
  // Written by hand (not json::dump) to keep one token per line: small diffs, readable files.
  auto quoted = [](const std::string& s) { return json(s).dump(); };
  out << "{\n  \"format\": \"moesim.routing_trace\",\n  \"version\": 1,\n";
  if (!trace.generated_by.empty())
    out << "  \"generated_by\": " << quoted(trace.generated_by) << ",\n";
  if (!trace.model.empty()) out << "  \"model\": " << quoted(trace.model) << ",\n";
  out << "  \"experts\": " << trace.experts << ",\n  \"top_k\": " << trace.top_k
      << ",\n  \"layers\": [";
  const auto old_precision = out.precision(6);
  for (std::size_t l = 0; l < trace.layers.size(); ++l) {
    const routing& r = trace.layers[l];
    out << (l ? ",\n" : "\n") << "    {\"layer\": " << trace.layer_ids[l]
        << ",\n     \"topk_ids\": [";
    for (int t = 0; t < r.tokens; ++t) {
      out << (t ? ",\n       [" : "\n       [");
      const auto b = static_cast<std::size_t>(r.offsets[static_cast<std::size_t>(t)]);
      for (int j = 0; j < r.count(t); ++j)
        out << (j ? ", " : "") << r.expert_ids[b + static_cast<std::size_t>(j)];
      out << "]";
    }
    out << "]";
    if (trace.has_weights) {
      out << ",\n     \"topk_weights\": [";
      for (int t = 0; t < r.tokens; ++t) {
        out << (t ? ",\n       [" : "\n       [");
        const auto b = static_cast<std::size_t>(r.offsets[static_cast<std::size_t>(t)]);
        for (int j = 0; j < r.count(t); ++j)
          out << (j ? ", " : "") << r.weights[b + static_cast<std::size_t>(j)];
        out << "]";
      }
      out << "]";
    }
    out << "}";
  }
  out << "\n  ]\n}\n";
  out.precision(old_precision);
}

void write_routing_trace_csv(const routing_trace& trace, std::ostream& out) {
  if (!trace.generated_by.empty()) out << "# generated_by: " << trace.generated_by << "\n";
  if (!trace.model.empty()) out << "# model: " << trace.model << "\n";
  out << "# experts: " << trace.experts << "\n# top_k: " << trace.top_k << "\n";
  out << "layer,token,expert_ids,scores\n";
  const auto old_precision = out.precision(6);
  for (std::size_t l = 0; l < trace.layers.size(); ++l) {
    const routing& r = trace.layers[l];
    for (int t = 0; t < r.tokens; ++t) {
      const auto b = static_cast<std::size_t>(r.offsets[static_cast<std::size_t>(t)]);
      out << trace.layer_ids[l] << ',' << t << ',';
      for (int j = 0; j < r.count(t); ++j)
        out << (j ? " " : "") << r.expert_ids[b + static_cast<std::size_t>(j)];
      out << ',';
      if (trace.has_weights) {
        for (int j = 0; j < r.count(t); ++j)
          out << (j ? " " : "") << r.weights[b + static_cast<std::size_t>(j)];
      }
      out << '\n';
    }
  }
  out.precision(old_precision);
}

std::vector<int> routed_layers(const model_spec& spec, bool with_mtp) {
  std::vector<int> out;
  if (!spec.moe) return out;
  for (int l = 0; l < spec.layers; ++l) {
    if (is_moe_layer(spec, l)) out.push_back(l);
  }
  for (int i = 0; with_mtp && i < spec.mtp_modules; ++i) out.push_back(spec.layers + i);
  return out;
}

void check_trace_layers(const routing_trace& trace, const model_spec& spec,
                        const std::string& name) {
  const int indices = spec.layers + spec.mtp_modules;
  const std::vector<int> moe = routed_layers(spec, false);
  for (const int l : trace.layer_ids) {
    if (l < 0 || l >= indices) {
      std::string has = std::to_string(spec.layers) + " layers";
      if (spec.mtp_modules > 0) {
        has += " and " + std::to_string(spec.mtp_modules) + " MTP module" +
               (spec.mtp_modules > 1 ? "s" : "");
      }
      std::string what = name + " records layer " + std::to_string(l) + ", but model ";
      what += spec.name;
      what += " has ";
      what += has;
      what += " (layer indices 0 to " + std::to_string(indices - 1) + ")";
      throw std::invalid_argument(what);
    }
    if (l < spec.layers && !is_moe_layer(spec, l)) {
      std::string which = "none";
      if (moe.size() > 4) {
        which = std::to_string(moe[0]) + ", " + std::to_string(moe[1]) + ", ..., " +
                std::to_string(moe.back());
      } else if (!moe.empty()) {
        which.clear();
        for (const int m : moe) which += (which.empty() ? "" : ", ") + std::to_string(m);
      }
      std::string what = name + " records layer " + std::to_string(l) + ", a dense layer of ";
      what += spec.name;
      what += " (its MoE layers: ";
      what += which;
      what += ")";
      throw std::invalid_argument(what);
    }
  }
}

std::vector<int> unrecorded_layers(const routing_trace& trace, const model_spec& spec,
                                   bool with_mtp) {
  std::vector<int> out;
  for (const int l : routed_layers(spec, with_mtp)) {
    if (std::find(trace.layer_ids.begin(), trace.layer_ids.end(), l) == trace.layer_ids.end()) {
      out.push_back(l);
    }
  }
  return out;
}

routing_trace generate_routing_trace(const model_spec& spec, const trace_generation& g) {
  if (!spec.moe) fail("model '" + spec.name + "' has no MoE layers to trace");
  const router_config cfg = router_config_for(*spec.moe);
  const token_source source(g.source, g.seed);
  rng token_gen = rng::stream(g.seed, "trace.tokens");
  const row_matrix hidden = source.generate(g.sequences, g.tokens_per_sequence, token_gen);
  const rng gate_root = rng::stream(g.seed, "trace.gate");
  routing_trace t;
  std::ostringstream who;
  who << "moesim token_source + router (synthetic, not a recording): model " << spec.name
      << ", math_hidden " << g.source.hidden << ", topics " << g.source.topics << ", zipf "
      << g.source.zipf_exponent << ", skew " << g.source.skew << ", sequence_correlation "
      << g.source.sequence_correlation << ", " << g.sequences << " sequences x "
      << g.tokens_per_sequence << " tokens, seed " << g.seed;
  t.generated_by = who.str();
  t.model = spec.name;
  t.experts = cfg.experts;
  t.top_k = cfg.top_k;
  for (int layer : g.layers) {
    if (!is_moe_layer(spec, layer)) {
      fail("layer " + std::to_string(layer) + " of model '" + spec.name + "' is not an MoE layer");
    }
    rng gate_gen = gate_root.fork(static_cast<std::uint64_t>(layer));
    const row_matrix gate = make_gate_weights(g.source.hidden, cfg.experts, gate_gen);
    t.layer_ids.push_back(layer);
    t.layers.push_back(route(hidden, gate, cfg).decisions);
  }
  return t;
}

}  // namespace moesim::models
