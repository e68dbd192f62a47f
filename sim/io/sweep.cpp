#include "sim/io/sweep.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "sim/io/overrides.hpp"

namespace moesim::io {

namespace {

std::vector<sweep_axis> read_axes(const doc::node& part, const std::string& name) {
  if (!part.is_map()) {
    throw input_error(part.where(), "sweep." + name,
                      "expected a mapping of key paths to lists of values, got " + part.describe());
  }
  std::vector<sweep_axis> out;
  for (const auto& e : part.entries()) {
    const std::string path = "sweep." + name + "." + e.key;
    if (!e.value.is_seq()) {
      throw input_error(e.value.where(), path,
                        "expected a list of values, got " + e.value.describe());
    }
    if (e.value.items().empty()) {
      throw input_error(e.key_where, path, "empty axis: give at least one value");
    }
    out.push_back({e.key, e.key_where, e.value.items()});
  }
  if (out.empty()) throw input_error(part.where(), "sweep." + name, "no axes");
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_number(const json& v) {
  if (v.is_null()) return "";
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());
  return v.dump();
}

}  // namespace

std::size_t sweep_spec::points() const {
  std::size_t n = 1;
  for (const auto& a : grid) {
    if (n > std::numeric_limits<std::size_t>::max() / a.values.size()) {
      return std::numeric_limits<std::size_t>::max();
    }
    n *= a.values.size();
  }
  return zip.empty() ? n : n * zip.front().values.size();
}

std::vector<std::string> sweep_spec::axis_names() const {
  std::vector<std::string> out;
  for (const auto& a : grid) out.push_back(a.path);
  for (const auto& a : zip) out.push_back(a.path);
  return out;
}

std::vector<const doc::node*> sweep_spec::point(std::size_t i) const {
  std::vector<const doc::node*> out(grid.size() + zip.size());
  if (!zip.empty()) {
    const std::size_t n = zip.front().values.size();
    for (std::size_t z = 0; z < zip.size(); ++z) out[grid.size() + z] = &zip[z].values[i % n];
    i /= n;
  }
  for (std::size_t g = grid.size(); g-- > 0;) {
    const std::size_t n = grid[g].values.size();
    out[g] = &grid[g].values[i % n];
    i /= n;
  }
  return out;
}

sweep_spec read_sweep(const doc::node& sweep) {
  if (!sweep.is_map()) {
    throw input_error(sweep.where(), "sweep",
                      "expected a mapping with grid: and/or zip:, got " + sweep.describe());
  }
  sweep_spec s;
  s.where = sweep.where();
  for (const auto& e : sweep.entries()) {
    if (e.key == "grid") {
      s.grid = read_axes(e.value, "grid");
    } else if (e.key == "zip") {
      s.zip = read_axes(e.value, "zip");
    } else {
      const std::string near = did_you_mean(e.key, {"grid", "zip"});
      throw input_error(e.key_where, "sweep." + e.key,
                        "unknown key" + (near.empty() ? std::string("; expected grid or zip")
                                                      : "; did you mean '" + near + "'?"));
    }
  }
  if (s.grid.empty() && s.zip.empty()) {
    throw input_error(sweep.where(), "sweep", "no axes: give grid: and/or zip:");
  }
  std::vector<std::string> seen;
  for (const auto& a : s.zip) {
    if (a.values.size() != s.zip.front().values.size()) {
      throw input_error(
          a.key_where, "sweep.zip." + a.path,
          fmt::format("zipped lists differ in length: this one has {}, '{}' has {}",
                      a.values.size(), s.zip.front().path, s.zip.front().values.size()));
    }
  }
  for (const auto* part : {&s.grid, &s.zip}) {
    for (const auto& a : *part) {
      for (const auto& p : seen) {
        if (p == a.path) throw input_error(a.key_where, a.path, "axis given twice");
      }
      seen.push_back(a.path);
    }
  }
  return s;
}

json sweep_json_schema() {
  auto axes = [](const char* what) {
    return json{{"type", "object"},
                {"description", what},
                {"minProperties", 1},
                {"additionalProperties",
                 {{"type", "array"},
                  {"minItems", 1},
                  {"description", "Values of this key path (as for --set), any YAML each"}}}};
  };
  return {{"type", "object"},
          {"description",
           "Axes of `moesim sweep` (README \"Sweeps\"): key paths to lists of values; "
           "`moesim run` and `validate` ignore it"},
          {"minProperties", 1},
          {"additionalProperties", false},
          {"properties",
           {{"grid", axes("Cartesian product of the axes; the first varies slowest")},
            {"zip", axes("Lists of equal length taken side by side, as one axis varying "
                         "fastest")}}}};
}

void apply_point(doc::node& root, const sweep_spec& spec, std::size_t i) {
  const auto values = spec.point(i);
  std::size_t k = 0;
  for (const auto* part : {&spec.grid, &spec.zip}) {
    for (const auto& a : *part) apply_override(root, a.path, *values[k++], a.key_where);
  }
}

std::string value_text(const doc::node& v) {
  if (v.is_scalar()) return v.quoted() ? "\"" + v.text() + "\"" : v.text();
  if (v.is_null()) return "null";
  std::string out = v.is_seq() ? "[" : "{";
  bool first = true;
  if (v.is_seq()) {
    for (const auto& item : v.items()) out += (first ? "" : ", ") + value_text(item), first = false;
  } else {
    for (const auto& e : v.entries()) {
      out += (first ? "" : ", ") + e.key + ": " + value_text(e.value);
      first = false;
    }
  }
  return out + (v.is_seq() ? "]" : "}");
}

double student_t975(std::size_t df) {
  // t_{0.975, df}, df = 1..30 (standard tables, e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2).
  static constexpr double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                     2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                     2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                     2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  if (df >= 1 && df <= 30) return table[df - 1];
  // Cornish-Fisher expansion around the normal quantile (Abramowitz & Stegun 26.7.5).
  const double z = 1.959963984540054;
  const double n = static_cast<double>(df);
  return z + (z * z * z + z) / (4 * n) +
         (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * n * n);
}

mean_ci mean_ci95(const std::vector<double>& samples) {
  mean_ci out;
  if (samples.empty()) return out;
  for (double x : samples) out.mean += x;
  const double n = static_cast<double>(samples.size());
  out.mean /= n;
  if (samples.size() < 2) return out;
  double ss = 0;
  for (double x : samples) ss += (x - out.mean) * (x - out.mean);
  out.ci95 = student_t975(samples.size() - 1) * std::sqrt(ss / (n - 1) / n);
  return out;
}

const std::vector<std::string>& sweep_metric_names() {
  static const std::vector<std::string> names{"step_time_s",    "tokens_per_s",
                                              "drop_rate",      "dispatch_bytes_per_step",
                                              "peak_hbm_bytes", "capacity_buffer_bytes",
                                              "ttft_p50_s",     "ttft_p99_s",
                                              "tpot_p50_s",     "tpot_p99_s"};
  return names;
}

std::vector<double> sweep_metrics(const sim::run::run_result& r) {
  const double none = std::numeric_limits<double>::quiet_NaN();
  const auto& s = r.serving;
  // The memory plan's item for the all-to-all's send and receive buffers at capacity
  // (sim/cluster/memory.cpp), largest over the pipeline stages; 0 without expert parallelism.
  double buffers = 0;
  for (const auto& stage : r.memory) {
    for (const auto& [name, bytes] : stage.items) {
      if (name == "dispatch/combine buffers")
        buffers = std::max(buffers, static_cast<double>(bytes));
    }
  }
  return {r.step_time_s,
          r.tokens_per_s,
          r.drop_rate,
          r.dispatch_bytes_per_step,
          r.peak_hbm_bytes,
          buffers,
          s ? s->ttft_s.p50 : none,
          s ? s->ttft_s.p99 : none,
          s ? s->tpot_s.p50 : none,
          s ? s->tpot_s.p99 : none};
}

const std::vector<std::string>& optional_sweep_metric_names() {
  static const std::vector<std::string> names{"training_goodput", "effective_training_s"};
  return names;
}

std::vector<double> optional_sweep_metrics(const sim::run::run_result& r) {
  if (!r.resilience) return {};
  return {r.resilience->goodput, r.resilience->useful_s};
}

json point_json(const sweep_spec& spec, std::size_t i, const std::vector<std::string>& strategies,
                const std::vector<std::vector<sim::run::run_result>>& runs,
                const std::string& reason) {
  json values = json::object();
  const auto names = spec.axis_names();
  const auto point = spec.point(i);
  for (std::size_t a = 0; a < names.size(); ++a) values[names[a]] = value_text(*point[a]);
  json rows = json::array();
  if (!reason.empty()) {
    rows.push_back({{"strategy", "base"}, {"feasible", false}, {"reason", reason}});
  } else {
    for (std::size_t s = 0; s < strategies.size(); ++s) {
      json metrics = json::object();
      const auto& metric_names = sweep_metric_names();
      for (std::size_t m = 0; m < metric_names.size(); ++m) {
        std::vector<double> samples;
        for (const auto& seed_runs : runs) {
          const double v = sweep_metrics(seed_runs[s])[m];
          if (!std::isnan(v)) samples.push_back(v);
        }
        if (samples.empty()) {
          metrics[metric_names[m]] = nullptr;
          continue;
        }
        const mean_ci c = mean_ci95(samples);
        metrics[metric_names[m]] =
            runs.size() > 1 ? json{{"mean", c.mean}, {"ci95", c.ci95}} : json(c.mean);
      }
      const auto& optional_names = optional_sweep_metric_names();
      for (std::size_t m = 0; m < optional_names.size(); ++m) {
        std::vector<double> samples;
        for (const auto& seed_runs : runs) {
          const std::vector<double> v = optional_sweep_metrics(seed_runs[s]);
          if (m < v.size()) samples.push_back(v[m]);
        }
        if (samples.empty()) continue;  // the column only where runs have it
        const mean_ci c = mean_ci95(samples);
        metrics[optional_names[m]] =
            runs.size() > 1 ? json{{"mean", c.mean}, {"ci95", c.ci95}} : json(c.mean);
      }
      rows.push_back(
          {{"strategy", strategies[s]}, {"feasible", true}, {"reason", ""}, {"metrics", metrics}});
    }
  }
  return {{"point", i}, {"values", values}, {"rows", rows}};
}

std::string sweep_csv(const json& doc) {
  const bool ci = doc.at("seeds").get<std::size_t>() > 1;
  std::string out = "point";
  for (const auto& a : doc.at("axes")) out += "," + csv_field(a.get<std::string>());
  out += ",strategy,feasible,reason";
  std::vector<std::string> names = sweep_metric_names();
  for (const auto& m : optional_sweep_metric_names()) {
    bool any = false;
    for (const auto& p : doc.at("points")) {
      for (const auto& row : p.at("rows"))
        any = any || row.value("metrics", json::object()).contains(m);
    }
    if (any) names.push_back(m);
  }
  for (const auto& m : names) out += "," + m + (ci ? "," + m + "_ci95" : "");
  out += "\n";
  for (const auto& p : doc.at("points")) {
    for (const auto& row : p.at("rows")) {
      out += std::to_string(p.at("point").get<std::size_t>());
      for (const auto& a : doc.at("axes")) {
        out += "," + csv_field(p.at("values").at(a.get<std::string>()).get<std::string>());
      }
      out += "," + csv_field(row.at("strategy").get<std::string>()) + "," +
             (row.at("feasible").get<bool>() ? "true" : "false") + "," +
             csv_field(row.at("reason").get<std::string>());
      for (const auto& m : names) {
        const json v = row.contains("metrics") && row.at("metrics").contains(m)
                           ? row.at("metrics").at(m)
                           : json(nullptr);
        if (ci) {
          out += "," + csv_number(v.is_null() ? v : v.at("mean")) + "," +
                 csv_number(v.is_null() ? v : v.at("ci95"));
        } else {
          out += "," + csv_number(v);
        }
      }
      out += "\n";
    }
  }
  return out;
}

std::vector<json> resumable_points(const json& old, const sweep_spec& spec, std::size_t seeds,
                                   std::size_t points, const std::string& origin) {
  std::vector<json> out(points);
  const auto names = spec.axis_names();
  try {
    if (old.at("schema") != sweep_schema || old.at("axes") != json(names) ||
        old.at("seeds").get<std::size_t>() != seeds) {
      throw input_error(origin +
                        ": --resume: the file is of another sweep (its schema, axes or "
                        "--seeds differ); remove it or choose another --out");
    }
    for (const auto& p : old.at("points")) {
      const auto i = p.at("point").get<std::size_t>();
      if (i >= points) continue;
      json values = json::object();
      const auto point = spec.point(i);
      for (std::size_t a = 0; a < names.size(); ++a) values[names[a]] = value_text(*point[a]);
      if (p.at("values") == values) out[i] = p;
    }
  } catch (const json::exception& e) {
    throw input_error(origin + ": --resume: not a sweep output file (" + e.what() + ")");
  }
  return out;
}

}  // namespace moesim::io
