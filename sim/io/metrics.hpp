#pragma once
// Metrics output: JSON ("schema": "moesim.metrics/1") for scripts and plots, and a console
// summary table for people. The JSON holds only simulated quantities, so the same scenario
// and seed give byte-identical files; wall-clock figures go to the console only.
//
// Stable keys (scripts rely on them): schema, scenario, seed, summary.{simulated_time_s,
// step_time_s, tokens_per_s, tokens_per_s_per_device, tokens_per_step}, breakdown_s.{...},
// routing.{...}, devices[], memory[] (per pipeline stage: device, stage, hbm_bytes,
// total_bytes, items.{name: bytes}), experts[], approximations[], config.
#include <ostream>
#include <vector>

#include "sim/io/schema.hpp"
#include "sim/run/result.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::io {

inline constexpr const char* metrics_schema = "moesim.metrics/1";

json metrics_json(const sim::run::run_result& r, const sim::run::scenario& s);

/// Metrics of a scenario with strategies: the base result plus a `comparison` array with one
/// row per variant, ranked by the scenario's objective (ties keep the listed order).
json metrics_json(const std::vector<sim::run::run_result>& results,
                  const std::vector<const sim::run::scenario*>& scenarios);

/// Adds each MoE layer's loads of `r` (the run the top-level figures are of) to its metrics:
/// routing.layers[i].expert_tokens (per expert) and rank_tokens (per EP rank), (token, expert)
/// copies per routing pass (`moesim run --layer-loads`; tools/plot.py draws them as heatmaps).
/// O(layers x experts).
void add_layer_loads(json& metrics, const sim::run::run_result& r);

/// JSON text with a trailing newline; doubles printed shortest-round-trip, so identical
/// values give identical bytes.
std::string dump(const json& j);

void print_summary(const sim::run::run_result& r, std::ostream& out);
void print_comparison(const std::vector<sim::run::run_result>& results,
                      sim::run::objective_kind objective, std::ostream& out);

/// Indices of `results` best first by `objective`; ties keep the given order.
std::vector<std::size_t> rank(const std::vector<sim::run::run_result>& results,
                              sim::run::objective_kind objective);

}  // namespace moesim::io
