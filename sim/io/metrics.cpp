// About 620 lines: the metrics JSON (result_json and the report objects it nests) and the
// terminal text of the same reports (print_summary and friends), kept side by side so a figure
// added to one is added to the other. The split when it grows: the text half (from `dump` on)
// into metrics_text.cpp.
#include "sim/io/metrics.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <numeric>

#include "sim/io/fault_metrics.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/io/units.hpp"

namespace moesim::io {

namespace {

const char* objective_key(sim::run::objective_kind o) {
  switch (o) {
    case sim::run::objective_kind::tokens_per_s:
      return "tokens_per_s";
    case sim::run::objective_kind::cost:
      return "cost_usd_per_million_tokens";
    case sim::run::objective_kind::goodput:
      return "goodput_requests_per_s";
    default:
      return "step_time_s";
  }
}

json summary_json(const moesim::serve::summary& x) {
  return {{"mean", x.mean}, {"p50", x.p50}, {"p90", x.p90}, {"p99", x.p99}, {"count", x.count}};
}

/// The serving object: key names are relied on by scripts (issue 12).
json serving_json(const moesim::serve::serving_report& x, int devices) {
  return {{"requests", x.requests},
          {"ttft_s", summary_json(x.ttft_s)},
          {"tpot_s", summary_json(x.tpot_s)},
          {"itl_s", summary_json(x.itl_s)},
          {"e2e_s", summary_json(x.e2e_s)},
          {"window_s", x.window_s},
          {"input_tokens_per_s", x.input_tokens_per_s},
          {"output_tokens_per_s", x.output_tokens_per_s},
          {"input_tokens_per_s_per_device", x.input_tokens_per_s / devices},
          {"output_tokens_per_s_per_device", x.output_tokens_per_s / devices},
          {"requests_per_s", x.requests_per_s},
          {"goodput_requests_per_s", x.goodput_requests_per_s},
          {"preemptions", x.preemptions},
          {"kv_utilisation", {{"mean", x.kv_utilisation_mean}, {"max", x.kv_utilisation_max}}},
          {"batch_sequences", {{"mean", x.batch_seqs_mean}, {"max", x.batch_seqs_max}}},
          {"batch_tokens", {{"mean", x.batch_tokens_mean}, {"max", x.batch_tokens_max}}},
          {"queue_length", {{"mean", x.queue_length_mean}, {"max", x.queue_length_max}}},
          {"iterations", x.iterations}};
}

/// A mitigation policy's own figures, keyed by the policy (an empty object for none/naive).
json mechanism_json(const std::string& policy, const sim::run::policy_figures& f) {
  if (policy == "grouped") {
    return {
        {"grouped",
         {{"k_iterations", f.k_iterations}, {"mean_k", f.mean_k}, {"test_share", f.test_share}}}};
  }
  if (policy == "deferral") {
    const double chances = static_cast<double>(std::max<std::int64_t>(f.draft_chances, 1));
    return {{"deferral",
             {{"draft_chances", f.draft_chances},
              {"deferred", f.deferred},
              {"deferred_share", static_cast<double>(f.deferred) / chances},
              {"cut_by_confidence", f.cut},
              {"drafts_per_verification", f.drafts_per_verification}}}};
  }
  if (policy == "blockwise") {
    return {{"blockwise", {{"block_sizes", f.block_sizes}, {"mean_block", f.mean_block}}}};
  }
  if (policy == "prefetch") {
    return {{"prefetch",
             {{"from", f.prefetch_from},
              {"iterations", f.prefetch_iterations},
              {"predicted_experts", f.prefetch_predicted},
              {"hit_rate", f.prefetch_hit_rate},
              {"coverage", f.prefetch_coverage},
              {"fetched_bytes", f.prefetch_fetched_bytes},
              {"wasted_bytes", f.prefetch_wasted_bytes}}}};
  }
  return json::object();
}

/// The placement object (issue 14, moe.placement): where the experts lived and how evenly
/// they were loaded; rebalancing figures when the scenario rebalances.
json placement_json(const sim::run::placement_report& x) {
  json j{{"strategy", x.strategy},
         {"physical_experts", x.physical_experts},
         {"warmup_passes", x.warmup_passes},
         {"load_max_over_mean", x.load_max_over_mean},
         {"load_max_over_mean_p50", x.load_max_over_mean_p50},
         {"load_max_over_mean_p90", x.load_max_over_mean_p90},
         {"load_max_over_mean_max", x.load_max_over_mean_max},
         {"dispatch_bytes_per_step", x.dispatch_bytes_per_step},
         {"cross_node_bytes_per_step", x.cross_node_bytes_per_step}};
  if (x.rebalances > 0) {
    j["rebalance"] = {{"rebalances", x.rebalances},
                      {"bytes_moved", x.bytes_moved},
                      {"stall_s", x.stall_s},
                      {"load_max_over_mean_before", x.load_max_over_mean_before},
                      {"load_max_over_mean_after", x.load_max_over_mean_after}};
  }
  return j;
}

/// The speculative object (issue 13): key names are relied on by scripts.
json speculative_json(const sim::run::speculative_report& x) {
  const double plain = x.unique_experts_plain;
  json points = json::array();
  for (const auto& p : x.points) {
    points.push_back({{"batch", p.batch},
                      {"k", p.k},
                      {"policy", p.policy},
                      {"acceptance", p.acceptance},
                      {"speedup", p.speedup},
                      {"verify_over_decode_time", p.verify_over_decode_time},
                      {"unique_experts_verify_over_decode", p.unique_experts_verify_over_decode},
                      {"mean_accepted_tokens", p.mean_accepted_tokens},
                      {"tpot_s", p.tpot_s},
                      {"draft_time_share", p.draft_share},
                      {"unique_experts_verify", p.unique_experts_verify},
                      {"unique_experts_plain", p.unique_experts_plain},
                      {"device_expert_tokens_max_over_mean", p.rank_tokens_max_over_mean},
                      {"device_unique_experts_max_over_mean", p.rank_unique_max_over_mean}});
    if (p.offloaded) {
      points.back()["expert_hit_rate"] = p.expert_hit_rate;
      points.back()["fetched_bytes_per_token"] = p.fetched_bytes_per_token;
    }
    const json m = mechanism_json(p.policy, p.mechanism);
    if (!m.empty()) points.back()["mechanism"] = m;
  }
  json out = {{"drafter", x.drafter},
              {"policy", x.policy},
              {"k", x.k},
              {"acceptance", x.acceptance},
              {"acceptance_source", x.acceptance_source},
              {"verifications", x.verifications},
              {"verify_iterations", x.verify_iterations},
              {"mean_accepted_drafts", x.mean_accepted_drafts},
              {"mean_accepted_tokens", x.mean_accepted_tokens},
              {"acceptance_observed",
               {{"conditional", x.observed_conditional}, {"marginal", x.observed_marginal}}},
              {"unique_experts_per_layer",
               {{"verify", x.unique_experts_verify},
                {"plain_decode", plain},
                {"verify_over_plain", plain > 0 ? x.unique_experts_verify / plain : 0.0}}},
              {"device_load_verify",
               {{"expert_tokens_max_over_mean", x.rank_tokens_max_over_mean},
                {"unique_experts_max_over_mean", x.rank_unique_max_over_mean},
                {"without_replicas",
                 {{"expert_tokens_max_over_mean", x.rank_tokens_max_over_mean_contiguous},
                  {"unique_experts_max_over_mean", x.rank_unique_max_over_mean_contiguous}}}}},
              {"verify_pass_s", x.verify_pass_s},
              {"draft_s", x.draft_s},
              {"draft_acceptance", x.draft_acceptance},
              {"draft_time_share", x.draft_share},
              {"full_batch",
               {{"iterations", x.full_batch_iterations},
                {"tokens_per_s", x.full_batch_tokens_per_s},
                {"verify_pass_s", x.full_batch_verify_pass_s}}},
              {"points", points}};
  if (x.offloaded) {
    out["full_batch"]["expert_hit_rate"] = x.full_batch_expert_hit_rate;
    out["full_batch"]["fetched_bytes_per_token"] = x.full_batch_fetched_bytes_per_token;
  }
  if (x.tree_steps > 0) {
    out["tree"] = {{"steps", x.tree_steps},
                   {"top_k", x.tree_top_k},
                   {"draft_tokens", x.tree_draft_tokens},
                   {"depth", x.tree_depth},
                   {"expected_accepted_drafts", x.tree_expected_accepted}};
  }
  const json m = mechanism_json(x.policy, x.mechanism);
  if (!m.empty()) out["mechanism"] = m;
  return out;
}

/// Tokens the role computed per second of the run's window, per device of the role (prompt
/// tokens in prefill, output tokens in decode).
double role_tokens_per_s_per_device(const sim::run::disaggregation_report::role& x,
                                    double window_s) {
  return window_s > 0 && x.devices() > 0 ? x.iterations.batch_tokens_total / window_s / x.devices()
                                         : 0.0;
}

json serving_role_json(const sim::run::disaggregation_report::role& x, double window_s) {
  const moesim::serve::serving_report& i = x.iterations;
  return {{"instances", x.instances},
          {"devices_per_instance", x.devices_per_instance},
          {"tokens", i.batch_tokens_total},
          {"tokens_per_s_per_device", role_tokens_per_s_per_device(x, window_s)},
          {"busy_s", i.busy_s},
          {"busy_tokens_per_s_per_device", x.busy_tokens_per_s_per_device()},
          {"kv_utilisation", {{"mean", i.kv_utilisation_mean}, {"max", i.kv_utilisation_max}}},
          {"batch_sequences", {{"mean", i.batch_seqs_mean}, {"max", i.batch_seqs_max}}},
          {"batch_tokens", {{"mean", i.batch_tokens_mean}, {"max", i.batch_tokens_max}}},
          {"queue_length", {{"mean", i.queue_length_mean}, {"max", i.queue_length_max}}},
          {"iterations", i.iterations}};
}

json disaggregation_json(const sim::run::disaggregation_report& x, double window_s) {
  return {{"prefill", serving_role_json(x.prefill, window_s)},
          {"decode", serving_role_json(x.decode, window_s)},
          {"kv_transfer",
           {{"transfers", x.transfers},
            {"bytes", summary_json(x.transfer_bytes)},
            {"time_s", summary_json(x.transfer_s)}}}};
}

json offload_json(const sim::run::offload_report& x) {
  json j{{"hit_rate", x.hit_rate},
         {"bytes_fetched", x.bytes_fetched},
         {"stall_s", x.stall_s},
         {"tokens_per_s", x.tokens_per_s},
         {"per_layer", x.per_layer},
         {"cached_experts", x.cached_experts},
         {"expert_bytes", x.expert_bytes},
         {"policy", x.policy},
         {"miss", x.miss},
         {"prefetch", x.prefetch}};
  if (x.prefetch != "none") {
    j["prefetched"] = x.prefetched;
    j["prefetch_accuracy"] = x.prefetch_accuracy;
    j["prefetch_wasted_bytes"] = x.prefetch_wasted_bytes;
  }
  if (x.miss == "cpu") {
    j["cpu_share"] = x.cpu_share;
    j["cpu_busy_s"] = x.cpu_busy_s;
  }
  return j;
}

json result_json(const sim::run::run_result& r) {
  json summary{{"simulated_time_s", r.simulated_time_s},
               {"step_time_s", r.step_time_s},
               {"steps", r.steps},
               {"devices", r.devices},
               {"tokens_per_step", r.tokens_per_step},
               {"tokens_per_s", r.tokens_per_s},
               {"tokens_per_s_per_device", r.tokens_per_s_per_device},
               {"peak_hbm_bytes", r.peak_hbm_bytes},
               {"model_tflops_per_device", r.model_tflops_per_device},
               {"mfu", r.mfu},
               {"cost_usd_per_million_tokens", r.cost_usd_per_million_tokens}};
  json breakdown = json::object();
  for (const auto& [k, v] : r.breakdown_s) breakdown[k] = v;
  json routing{{"load_max_over_mean", r.load_max_over_mean},
               {"unique_experts", r.unique_experts},
               {"drop_rate", r.drop_rate},
               {"dispatch_bytes_per_step", r.dispatch_bytes_per_step}};
  json devices = json::array();
  for (std::size_t d = 0; d < r.per_device.size(); ++d) {
    const auto& u = r.per_device[d];
    devices.push_back({{"device", d},
                       {"compute_busy_s", u.compute_busy_s},
                       {"hbm_busy_s", u.hbm_busy_s},
                       {"network_busy_s", u.network_busy_s},
                       {"tokens_routed_in", u.tokens_routed_in},
                       {"memory_bytes", u.memory_bytes}});
  }
  json layers = json::array();
  for (const auto& l : r.layers) {
    layers.push_back({{"layer", l.layer},
                      {"drop_rate", l.drop_rate},
                      {"unique_experts", l.unique_experts},
                      {"load_max_over_mean", l.load_max_over_mean}});
  }
  routing["layers"] = layers;
  json memory = json::array();
  for (const auto& m : r.memory) {
    json items = json::object();
    for (const auto& [name, bytes] : m.items) items[name] = bytes;
    memory.push_back({{"device", m.device},
                      {"stage", m.stage},
                      {"hbm_bytes", m.hbm_bytes},
                      {"total_bytes", m.total_bytes},
                      {"items", items}});
  }
  json experts = json::array();
  for (std::size_t e = 0; e < r.experts.size(); ++e) {
    experts.push_back(
        {{"expert", e}, {"tokens", r.experts[e].tokens}, {"dropped", r.experts[e].dropped}});
  }
  json out{{"workload", r.workload}, {"network_model", r.network_model},
           {"summary", summary},     {"breakdown_s", breakdown},
           {"routing", routing},     {"devices", devices},
           {"memory", memory},       {"experts", experts},
           {"layout", r.layout},     {"approximations", r.approximations}};
  if (r.serving) out["serving"] = serving_json(*r.serving, r.devices);
  if (r.serving && r.disaggregation) {
    out["serving"]["disaggregation"] = disaggregation_json(*r.disaggregation, r.serving->window_s);
  }
  if (r.serving && r.speculative) out["serving"]["speculative"] = speculative_json(*r.speculative);
  if (r.placement) out["placement"] = placement_json(*r.placement);
  if (r.offload) out["offload"] = offload_json(*r.offload);
  if (r.faults) out["faults"] = faults_json(*r.faults);
  if (r.resilience) out["resilience"] = resilience_json(*r.resilience);
  return out;
}

}  // namespace

json metrics_json(const sim::run::run_result& r, const sim::run::scenario& s) {
  json j{{"schema", metrics_schema}, {"scenario", r.scenario}, {"seed", r.seed}};
  if (!r.variant.empty()) j["strategy"] = r.variant;
  const json body = result_json(r);
  for (const auto& [k, v] : body.items()) j[k] = v;
  j["config"] = scenario_to_json(s);
  return j;
}

json metrics_json(const std::vector<sim::run::run_result>& results,
                  const std::vector<const sim::run::scenario*>& scenarios) {
  json j = metrics_json(results.front(), *scenarios.front());
  if (results.size() == 1) return j;
  const auto objective = scenarios.front()->objective;
  const std::vector<std::size_t> order = rank(results, objective);
  json rows = json::array();
  int rank = 1;
  for (std::size_t i : order) {
    json row = result_json(results[i]);
    row.erase("devices");
    row.erase("experts");
    json r{{"rank", rank++},
           {"strategy", results[i].variant.empty() ? "as written" : results[i].variant}};
    for (auto& [k, v] : row.items()) r[k] = v;
    r["config"] = scenario_to_json(*scenarios[i]);
    rows.push_back(r);
  }
  j["comparison"] = {{"objective", objective_key(objective)}, {"ranked", rows}};
  return j;
}

void add_layer_loads(json& metrics, const sim::run::run_result& r) {
  json& layers = metrics.at("routing").at("layers");
  for (std::size_t i = 0; i < r.layers.size(); ++i) {
    layers.at(i)["expert_tokens"] = r.layers[i].expert_tokens;
    layers.at(i)["rank_tokens"] = r.layers[i].rank_tokens;
  }
}

std::string dump(const json& j) {
  return j.dump(2) + "\n";
}

namespace {

/// `iterations`: whether x's iteration fields are the run's (aggregated serving); a
/// disaggregated run has them per role (print_disaggregation).
void print_serving(const moesim::serve::serving_report& x, bool iterations, std::ostream& out) {
  if (iterations) {
    fmt::print(out, "  serving: {} requests finished in {} ({} iterations)\n", x.requests,
               format_seconds(x.window_s), x.iterations);
  } else {
    fmt::print(out, "  serving: {} requests finished in {}\n", x.requests,
               format_seconds(x.window_s));
  }
  fmt::print(out, "    {:<26} {:>12} {:>12} {:>12} {:>12}\n", "latency", "mean", "p50", "p90",
             "p99");
  const auto row = [&](const char* name, const moesim::serve::summary& v) {
    fmt::print(out, "    {:<26} {:>12} {:>12} {:>12} {:>12}\n", name, format_seconds(v.mean),
               format_seconds(v.p50), format_seconds(v.p90), format_seconds(v.p99));
  };
  row("TTFT", x.ttft_s);
  row("TPOT", x.tpot_s);
  row("ITL", x.itl_s);
  row("end to end", x.e2e_s);
  fmt::print(out, "    {:<26} {:>12.4g}\n", "input tokens/s", x.input_tokens_per_s);
  fmt::print(out, "    {:<26} {:>12.4g}\n", "output tokens/s", x.output_tokens_per_s);
  fmt::print(out, "    {:<26} {:>12.4g}\n", "requests/s", x.requests_per_s);
  fmt::print(out, "    {:<26} {:>12.4g}\n", "goodput (requests/s in SLO)",
             x.goodput_requests_per_s);
  fmt::print(out, "    {:<26} {:>12}\n", "preemptions", x.preemptions);
  if (!iterations) return;
  fmt::print(out, "    {:<26} {:>12.4g} {:>12.4g}\n", "batch sequences mean, max",
             x.batch_seqs_mean, x.batch_seqs_max);
  fmt::print(out, "    {:<26} {:>12.4g} {:>12.4g}\n", "batch tokens mean, max", x.batch_tokens_mean,
             x.batch_tokens_max);
  fmt::print(out, "    {:<26} {:>11.1f}% {:>11.1f}%\n", "KV cache used mean, max",
             100 * x.kv_utilisation_mean, 100 * x.kv_utilisation_max);
  fmt::print(out, "    {:<26} {:>12.4g} {:>12.4g}\n", "queue mean, max", x.queue_length_mean,
             x.queue_length_max);
}

/// A mitigation policy's figures in a few words (empty for none/naive).
std::string mechanism_text(const std::string& policy, const sim::run::policy_figures& f) {
  if (policy == "grouped") {
    return fmt::format("mean K {:.2f}, {:.1f}% testing", f.mean_k, 100 * f.test_share);
  }
  if (policy == "deferral") {
    const double chances = static_cast<double>(std::max<std::int64_t>(f.draft_chances, 1));
    return fmt::format("{:.1f}% deferred, {:.1f}% cut, {:.2f} drafts per verification",
                       100 * static_cast<double>(f.deferred) / chances,
                       100 * static_cast<double>(f.cut) / chances, f.drafts_per_verification);
  }
  if (policy == "blockwise") return fmt::format("mean block {:.2f}", f.mean_block);
  return "";
}

/// Speculative decoding: drafter, k, accepted tokens per verification, acceptance per
/// position (observed against the rates drawn from), unique experts of verification against
/// plain decoding, and where the iteration's time went.
void print_speculative(const sim::run::speculative_report& x, std::ostream& out) {
  fmt::print(out, "  speculative decoding: {} drafts k {} ({}), {} verifications\n", x.drafter, x.k,
             x.policy, x.verifications);
  fmt::print(out, "    {:<26} {:>12.3f}\n", "accepted tokens per step", x.mean_accepted_tokens);
  std::string rates;
  std::string observed;
  for (std::size_t i = 0; i < x.acceptance.size(); ++i) {
    rates += fmt::format("{}{:.3f}", i ? " " : "", x.acceptance[i]);
    observed += fmt::format("{}{:.3f}", i ? " " : "", x.observed_conditional[i]);
  }
  fmt::print(out, "    {:<26} {}\n", "acceptance (conditional)", rates);
  fmt::print(out, "    {:<26} {}\n", "  observed", observed);
  fmt::print(out, "    {:<26} {:>12.2f} {:>12.2f}\n", "unique experts verify, plain",
             x.unique_experts_verify, x.unique_experts_plain);
  fmt::print(out, "    {:<26} tokens {:.3f}, experts {:.3f} (without replicas {:.3f}, {:.3f})\n",
             "device load max/mean", x.rank_tokens_max_over_mean, x.rank_unique_max_over_mean,
             x.rank_tokens_max_over_mean_contiguous, x.rank_unique_max_over_mean_contiguous);
  fmt::print(out, "    {:<26} {:>12} {:>12}\n", "verify pass, drafting",
             format_seconds(x.verify_pass_s), format_seconds(x.draft_s));
  fmt::print(out, "    {:<26} {:>11.1f}%\n", "drafting share", 100 * x.draft_share);
  if (const std::string m = mechanism_text(x.policy, x.mechanism); !m.empty()) {
    fmt::print(out, "    {:<26} {}\n", x.policy, m);
  }
  if (x.points.empty()) return;
  fmt::print(out,
             "    grid: {:>5} {:>3} {:>9} {:>10} {:>8} {:>13} {:>13} {:>9} {:>10} {:>12}  {}\n",
             "batch", "k", "policy", "acceptance", "speedup", "verify/decode", "experts v/d",
             "tokens", "TPOT", "device load", "mechanism");
  for (const auto& p : x.points) {
    fmt::print(out,
               "          {:>5} {:>3} {:>9} {:>10.3f} {:>8.3f} {:>13.3f} {:>13.3f} {:>9.3f} {:>10} "
               "{:>12.3f}  {}\n",
               p.batch, p.k, p.policy, p.acceptance, p.speedup, p.verify_over_decode_time,
               p.unique_experts_verify_over_decode, p.mean_accepted_tokens,
               format_seconds(p.tpot_s), p.rank_tokens_max_over_mean,
               mechanism_text(p.policy, p.mechanism));
  }
}

/// Per role: instances, devices, the role's tokens per device (over the window and while
/// busy), its batches, and the latency it decides (TTFT ends in prefill, TPOT is decode's);
/// then the KV transfers between them.
void print_disaggregation(const sim::run::disaggregation_report& d,
                          const moesim::serve::serving_report& s, std::ostream& out) {
  fmt::print(out, "  disaggregation:              {:>20} {:>20}\n", "prefill", "decode");
  const auto row = [&](const char* name, const std::string& p, const std::string& q) {
    fmt::print(out, "    {:<26} {:>20} {:>20}\n", name, p, q);
  };
  const auto num = [](double v) { return fmt::format("{:.4g}", v); };
  const auto pair = [](double a, double b) { return fmt::format("{:.4g}, {:.4g}", a, b); };
  const auto& p = d.prefill;
  const auto& q = d.decode;
  row("instances x devices", fmt::format("{} x {}", p.instances, p.devices_per_instance),
      fmt::format("{} x {}", q.instances, q.devices_per_instance));
  row("tokens/s per device", num(role_tokens_per_s_per_device(p, s.window_s)),
      num(role_tokens_per_s_per_device(q, s.window_s)));
  row("  while busy", num(p.busy_tokens_per_s_per_device()), num(q.busy_tokens_per_s_per_device()));
  row("busy (of the window)",
      fmt::format("{:.1f}%",
                  s.window_s > 0 ? 100 * p.iterations.busy_s / p.instances / s.window_s : 0.0),
      fmt::format("{:.1f}%",
                  s.window_s > 0 ? 100 * q.iterations.busy_s / q.instances / s.window_s : 0.0));
  row("iterations", num(static_cast<double>(p.iterations.iterations)),
      num(static_cast<double>(q.iterations.iterations)));
  row("batch sequences mean, max", pair(p.iterations.batch_seqs_mean, p.iterations.batch_seqs_max),
      pair(q.iterations.batch_seqs_mean, q.iterations.batch_seqs_max));
  row("batch tokens mean, max", pair(p.iterations.batch_tokens_mean, p.iterations.batch_tokens_max),
      pair(q.iterations.batch_tokens_mean, q.iterations.batch_tokens_max));
  row("KV cache used mean, max",
      fmt::format("{:.1f}%, {:.1f}%", 100 * p.iterations.kv_utilisation_mean,
                  100 * p.iterations.kv_utilisation_max),
      fmt::format("{:.1f}%, {:.1f}%", 100 * q.iterations.kv_utilisation_mean,
                  100 * q.iterations.kv_utilisation_max));
  row("queue mean, max", pair(p.iterations.queue_length_mean, p.iterations.queue_length_max),
      pair(q.iterations.queue_length_mean, q.iterations.queue_length_max));
  // TTFT ends with the prefill's iteration; TPOT is the decode instances' pace.
  row("TTFT p50, p99", format_seconds(s.ttft_s.p50) + ", " + format_seconds(s.ttft_s.p99), "");
  row("TPOT p50, p99", "", format_seconds(s.tpot_s.p50) + ", " + format_seconds(s.tpot_s.p99));
  fmt::print(out, "    KV transfers {}: {} each (mean), time mean {}, p99 {}\n", d.transfers,
             format_bytes(d.transfer_bytes.mean), format_seconds(d.transfer_s.mean),
             format_seconds(d.transfer_s.p99));
}

}  // namespace

void print_summary(const sim::run::run_result& r, std::ostream& out) {
  fmt::print(out, "moesim: {}{}  (seed {}, {} devices, {}, network {})\n", r.scenario,
             r.variant.empty() ? "" : " / " + r.variant, r.seed, r.devices, r.workload,
             r.network_model);
  const bool serving = r.serving.has_value();
  fmt::print(out, "  {:<28} {:>14}\n", serving ? "iteration time (mean)" : "step time",
             format_seconds(r.step_time_s));
  fmt::print(out, "  {:<28} {:>14}\n", serving ? "iterations" : "steps simulated", r.steps);
  fmt::print(out, "  {:<28} {:>14.4g}\n", "tokens per step", r.tokens_per_step);
  fmt::print(out, "  {:<28} {:>14.4g}\n", "tokens/s", r.tokens_per_s);
  fmt::print(out, "  {:<28} {:>14.4g}\n", "tokens/s per device", r.tokens_per_s_per_device);
  fmt::print(out, "  {:<28} {:>14.4g}\n", "model TFLOP/s per device", r.model_tflops_per_device);
  fmt::print(out, "  {:<28} {:>13.1f}%\n", "MFU", 100 * r.mfu);
  if (r.cost_usd_per_million_tokens > 0) {
    fmt::print(out, "  {:<28} {:>14.4g}\n", "USD per million tokens",
               r.cost_usd_per_million_tokens);
  }
  fmt::print(out, "  {:<28} {:>14}\n", "peak HBM per device", format_bytes(r.peak_hbm_bytes));
  if (!r.memory.empty()) {
    // The fullest stage's device (every device of a stage holds the same), largest items first.
    const auto& m = *std::max_element(
        r.memory.begin(), r.memory.end(),
        [](const auto& x, const auto& y) { return x.total_bytes < y.total_bytes; });
    auto items = m.items;
    std::stable_sort(items.begin(), items.end(),
                     [](const auto& x, const auto& y) { return x.second > y.second; });
    constexpr std::size_t shown = 5;
    std::string text;
    std::int64_t rest = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i < shown) {
        text += fmt::format("{}{} {}", i ? ", " : "", items[i].first,
                            format_bytes(static_cast<double>(items[i].second)));
      } else {
        rest += items[i].second;
      }
    }
    if (items.size() > shown) {
      text += fmt::format(", {} more {}", items.size() - shown,
                          format_bytes(static_cast<double>(rest)));
    }
    fmt::print(out, "  memory of device {}{}: {} (of {} HBM)\n", m.device,
               r.memory.size() > 1 && !r.disaggregation ? fmt::format(" (stage {})", m.stage) : "",
               text, format_bytes(static_cast<double>(m.hbm_bytes)));
  }
  if (r.serving) print_serving(*r.serving, !r.disaggregation, out);
  if (r.serving && r.disaggregation) print_disaggregation(*r.disaggregation, *r.serving, out);
  if (r.speculative) print_speculative(*r.speculative, out);
  if (r.faults) print_faults(*r.faults, out);
  if (r.resilience) print_resilience(*r.resilience, out);
  fmt::print(out, "  {:<28} {:>14.3f}\n", "device load max/mean", r.load_max_over_mean);
  fmt::print(out, "  {:<28} {:>14.1f}\n", "experts touched per layer", r.unique_experts);
  fmt::print(out, "  {:<28} {:>13.2f}%\n", "tokens dropped", 100 * r.drop_rate);
  fmt::print(out, "  critical path per step:\n");
  for (const auto& [k, v] : r.breakdown_s) {
    const double share = r.step_time_s > 0 ? 100 * v / r.step_time_s : 0;
    fmt::print(out, "    {:<26} {:>14} {:>6.1f}%\n", k, format_seconds(v), share);
  }
  for (const auto& l : r.layout) fmt::print(out, "  layout: {}\n", l);
  for (const auto& a : r.approximations) fmt::print(out, "  approximation: {}\n", a);
}

std::vector<std::size_t> rank(const std::vector<sim::run::run_result>& results,
                              sim::run::objective_kind objective) {
  std::vector<std::size_t> order(results.size());
  std::iota(order.begin(), order.end(), 0);
  const auto key = [&](std::size_t i) {
    const auto& r = results[i];
    switch (objective) {
      case sim::run::objective_kind::tokens_per_s:
        return -r.tokens_per_s;
      case sim::run::objective_kind::cost:
        return r.cost_usd_per_million_tokens;
      case sim::run::objective_kind::goodput:
        return r.serving ? -r.serving->goodput_requests_per_s : 0.0;
      default:
        return r.step_time_s;
    }
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
  return order;
}

void print_comparison(const std::vector<sim::run::run_result>& results,
                      sim::run::objective_kind objective, std::ostream& out) {
  if (results.size() < 2) return;
  const std::vector<std::size_t> order = rank(results, objective);
  // Columns: the breakdown categories that are non-zero in at least one strategy.
  std::vector<std::size_t> cols;
  for (std::size_t c = 0; c < results.front().breakdown_s.size(); ++c) {
    for (const auto& r : results) {
      if (r.breakdown_s[c].second > 0) {
        cols.push_back(c);
        break;
      }
    }
  }
  fmt::print(out, "\nstrategies ranked by {} (critical path per step):\n",
             objective_key(objective));
  const bool serving = results.front().serving.has_value();
  fmt::print(out, "  {:>4} {:<20} {:>10} {:>10} {:>7}", "rank", "strategy", "step", "tokens/s",
             "dropped");
  if (serving) {
    fmt::print(out, " {:>10} {:>10} {:>10}", "goodput", "TTFT p99", "TPOT p99");
  }
  for (std::size_t c : cols) {
    const std::string& k = results.front().breakdown_s[c].first;
    fmt::print(out, " {:>10}", k.size() > 10 ? k.substr(0, 10) : k);
  }
  fmt::print(out, "\n");
  int rank = 1;
  for (std::size_t i : order) {
    const auto& r = results[i];
    fmt::print(out, "  {:>4} {:<20} {:>10} {:>10.4g} {:>6.2f}%", rank++,
               r.variant.empty() ? "as written" : r.variant, format_seconds(r.step_time_s),
               r.tokens_per_s, 100 * r.drop_rate);
    if (serving && r.serving) {
      fmt::print(out, " {:>10.4g} {:>10} {:>10}", r.serving->goodput_requests_per_s,
                 format_seconds(r.serving->ttft_s.p99), format_seconds(r.serving->tpot_s.p99));
    }
    for (std::size_t c : cols) fmt::print(out, " {:>10}", format_seconds(r.breakdown_s[c].second));
    fmt::print(out, "\n");
  }
}

}  // namespace moesim::io
