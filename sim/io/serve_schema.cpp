#include "sim/io/serve_schema.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "sim/io/presets.hpp"
#include "sim/io/spec_loader.hpp"
#include "sim/run/feasibility.hpp"
#include "sim/run/serve_instances.hpp"
#include "sim/run/speculation.hpp"
#include "sim/serve/request_trace.hpp"

namespace moesim::io {

namespace {

/// "workload: serve.disaggregation: what" -> "what" (the error's location says where).
std::string strip_section(const std::string& what) {
  const std::string_view prefix = "workload: serve.disaggregation: ";
  return what.starts_with(prefix) ? what.substr(prefix.size()) : what;
}

using serve::arrival_kind;
using serve::length_dist;
using serve::request_spec;
using serve::serve_spec;

// Token counts as the workload bounds them elsewhere (workload.context, batch sizes).
constexpr std::int64_t max_tokens = std::int64_t{1} << 30;

/// A key of an outer mapping stored in a member of one of the outer struct's members (e.g.
/// `serve.requests` -> serve_spec::requests.count).
template <class Outer, class V, class Inner>
struct member_spec {
  V Outer::*member;
  Inner inner;
  void read(const doc::node& n, Outer& out, const std::string& path) const {
    inner.read(n, out.*member, path);
  }
  void check_keys(const doc::node& n, const std::string& path) const { inner.check_keys(n, path); }
  [[nodiscard]] json schema() const { return inner.schema(); }
  [[nodiscard]] json to_json(const Outer& v) const { return inner.to_json(v.*member); }
};

template <class Outer, class V, class Inner>
member_spec<Outer, V, Inner> member(V Outer::*m, Inner inner) {
  return {m, std::move(inner)};
}

/// A whole number of tokens in [min, max_tokens], held in a double (length_dist's fields).
struct tokens_spec {
  std::int64_t min = 1;
  void read(const doc::node& n, double& out, const std::string& path) const {
    std::int64_t v = 0;
    integer_spec<std::int64_t>{min, max_tokens}.read(n, v, path);
    out = static_cast<double>(v);
  }
  void check_keys(const doc::node&, const std::string&) const {}
  [[nodiscard]] json schema() const { return integer_spec<std::int64_t>{min, max_tokens}.schema(); }
  [[nodiscard]] json to_json(const double& v) const { return static_cast<std::int64_t>(v); }
};

/// Keys that depend on a selector (`process:`, `dist:`): for the selected variant, `required`
/// must be present and nothing outside `required` and `optional` may be.
struct variant_keys {
  std::string_view name;
  std::vector<std::string_view> required;
  std::vector<std::string_view> optional;
};

void check_variant(const doc::node& n, const std::string& path, std::string_view selector,
                   const variant_keys& v) {
  const auto listed = [](const std::vector<std::string_view>& keys, std::string_view key) {
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  };
  std::string takes = std::string(selector);
  for (auto k : v.required) takes += ", " + std::string(k);
  for (auto k : v.optional) takes += ", " + std::string(k) + " (optional)";
  for (const auto& e : n.entries()) {
    if (e.key != selector && !listed(v.required, e.key) && !listed(v.optional, e.key)) {
      detail::fail(e.value, detail::join_path(path, e.key),
                   fmt::format("not used with {}: {} (it takes {})", selector, v.name, takes));
    }
  }
  for (auto k : v.required) {
    if (n.find(k) == nullptr) {
      detail::fail(n, path,
                   fmt::format("missing required key '{}' for {}: {} (it takes {})", k, selector,
                               v.name, takes));
    }
  }
}

const object_type<request_spec>& arrivals_type() {
  static const auto t = [] {
    object_type<request_spec> o("arrivals", "How requests arrive");
    o.required("process", &request_spec::arrivals,
               enum_spec<arrival_kind>{{{"poisson", arrival_kind::poisson},
                                        {"gamma", arrival_kind::gamma},
                                        {"closed", arrival_kind::closed},
                                        {"trace", arrival_kind::trace}}},
               "poisson (exponential gaps), gamma (gaps with a given CV), closed (a fixed number "
               "of clients, each sending when its last request finishes) or trace (a file)")
        .optional("rate", &request_spec::rate_per_s, number_spec{0, 1e9, true},
                  "poisson, gamma: mean arrival rate, requests per second")
        .optional("cv", &request_spec::cv, number_spec{0, 100, true},
                  "gamma: coefficient of variation of the gaps (1 = poisson, > 1 burstier)")
        .optional("concurrency", &request_spec::concurrency,
                  unset_if_zero<std::uint32_t>(integer_spec<std::uint32_t>{1, 1U << 20}),
                  "closed: requests in flight at once")
        .optional("file", &request_spec::trace_file, unset_if_zero<std::string>(string_spec{}),
                  "trace: a .csv or .jsonl request trace (README: Request traces), relative to "
                  "the scenario")
        .check([](const request_spec& r, const doc::node& n, const std::string& path) {
          static const variant_keys keys[] = {{"poisson", {"rate"}, {}},
                                              {"gamma", {"rate", "cv"}, {}},
                                              {"closed", {"concurrency"}, {}},
                                              {"trace", {"file"}, {}}};
          check_variant(n, path, "process", keys[static_cast<std::size_t>(r.arrivals)]);
        });
    return o;
  }();
  return t;
}

const object_type<length_dist>& length_type() {
  static const auto t = [] {
    using kind = length_dist::kind;
    object_type<length_dist> o("length distribution", "Token counts of requests, each >= 1");
    o.required(
         "dist", &length_dist::shape,
         enum_spec<kind>{
             {{"fixed", kind::fixed}, {"uniform", kind::uniform}, {"lognormal", kind::lognormal}}},
         "fixed (tokens), uniform (integers min to max) or lognormal (mean, cv; optional "
         "min/max clamp)")
        .optional("tokens", &length_dist::value, unset_if_zero<double>(tokens_spec{}),
                  "fixed: the length, tokens")
        .optional("min", &length_dist::min, unset_if_zero<double>(tokens_spec{}),
                  "uniform: smallest length; lognormal: lengths below are raised to it, tokens")
        .optional("max", &length_dist::max, unset_if_zero<double>(tokens_spec{}),
                  "uniform: largest length; lognormal: lengths above are cut to it, tokens")
        .optional("mean", &length_dist::mean,
                  unset_if_zero<double>(number_spec{1, static_cast<double>(max_tokens)}),
                  "lognormal: mean length, tokens")
        .optional("cv", &length_dist::cv, unset_if_zero<double>(number_spec{0, 100, true}),
                  "lognormal: coefficient of variation (stddev / mean) of the length")
        .check([](const length_dist& d, const doc::node& n, const std::string& path) {
          static const variant_keys keys[] = {{"fixed", {"tokens"}, {}},
                                              {"uniform", {"min", "max"}, {}},
                                              {"lognormal", {"mean", "cv"}, {"min", "max"}}};
          check_variant(n, path, "dist", keys[static_cast<std::size_t>(d.shape)]);
          if (n.find("min") != nullptr && n.find("max") != nullptr && d.min > d.max) {
            detail::fail(*n.find("max"), detail::join_path(path, "max"),
                         fmt::format("max {} is below min {}", d.max, d.min));
          }
        });
    return o;
  }();
  return t;
}

const object_type<request_spec>& prefix_type() {
  static const auto t = [] {
    object_type<request_spec> o("prefix_cache", "A prompt prefix shared by some requests");
    o.required("hit_rate", &request_spec::prefix_hit_rate, number_spec{0, 1},
               "fraction of requests whose prompt starts with the shared prefix")
        .required("tokens", &request_spec::prefix_tokens, integer_spec<std::int64_t>{1, max_tokens},
                  "length of the shared prefix, tokens (a hit caches at most prompt - 1)");
    return o;
  }();
  return t;
}

const object_type<serve::scheduler_spec>& scheduler_type() {
  static const auto t = [] {
    using serve::scheduler_spec;
    object_type<scheduler_spec> o("scheduler", "Continuous batching: what runs each iteration");
    o.optional("max_running", &scheduler_spec::max_running,
               integer_spec<std::uint32_t>{1, 1U << 20}, "requests in the running batch at most")
        .optional("token_budget", &scheduler_spec::token_budget,
                  integer_spec<std::uint32_t>{1, 1U << 24},
                  "tokens (prefill + decode) one iteration computes at most")
        .optional("chunk_tokens", &scheduler_spec::chunk_tokens,
                  integer_spec<std::uint32_t>{0, 1U << 24},
                  "chunked prefill: prompt piece size, tokens (0 = token_budget)")
        .optional("chunked_prefill", &scheduler_spec::chunked_prefill, bool_spec{},
                  "split long prompts over iterations (false: a prompt's prefill runs whole)")
        .optional("block_tokens", &scheduler_spec::block_tokens,
                  integer_spec<std::uint32_t>{1, 1024}, "tokens per paged KV-cache block")
        .optional("kv_memory_fraction", &scheduler_spec::kv_memory_fraction,
                  number_spec{0, 1, true},
                  "fraction of the HBM left after weights and buffers given to the KV cache")
        .check([](const scheduler_spec& s, const doc::node& n, const std::string& path) {
          const doc::node* chunk = n.find("chunk_tokens");
          if (chunk == nullptr) return;
          const std::string key = detail::join_path(path, "chunk_tokens");
          if (!s.chunked_prefill) {
            detail::fail(*chunk, key, "applies with chunked_prefill: true only");
          }
          if (s.chunk_tokens > s.token_budget) {
            detail::fail(*chunk, key,
                         fmt::format("{} is above token_budget {}: a chunk must fit in one "
                                     "iteration",
                                     s.chunk_tokens, s.token_budget));
          }
        });
    return o;
  }();
  return t;
}

const object_type<serve::slo_spec>& slo_type() {
  static const auto t = [] {
    using serve::slo_spec;
    object_type<slo_spec> o("slo", "Latency targets a request must meet (0 = no limit)");
    o.optional("ttft_s", &slo_spec::ttft_s, number_spec{0, max_simulated_seconds},
               "time to first token, seconds from arrival")
        .optional("tpot_s", &slo_spec::tpot_s, number_spec{0, max_simulated_seconds},
                  "time per output token after the first, seconds");
    return o;
  }();
  return t;
}

const object_type<serve::instance_layout>& role_parallel_type() {
  static const auto t = [] {
    using serve::instance_layout;
    object_type<instance_layout> o(
        "parallelism",
        "One instance's layout: tp x ep devices, attention data-parallel "
        "over ep, experts sharded over ep (pp 1, dp 1)");
    o.optional("tp", &instance_layout::tp, integer_spec<int>{1, 1 << 16}, "tensor-parallel degree")
        .optional("ep", &instance_layout::ep, integer_spec<int>{1, 1 << 16},
                  "expert-parallel (and attention data-parallel) degree");
    return o;
  }();
  return t;
}

}  // namespace

enum_spec<sim::run::exchange_kind> exchange_kind_spec() {
  using sim::run::exchange_kind;
  return {{{"per_copy", exchange_kind::per_copy},
           {"per_rank", exchange_kind::per_rank},
           {"hierarchical", exchange_kind::hierarchical}}};
}

namespace {

const object_type<serve::serve_role>& role_type(const char* role) {
  using serve::serve_role;
  const auto make = [](const char* name) {
    object_type<serve_role> o(name, std::string("The ") + name + " instances");
    o.optional("instances", &serve_role::instances, integer_spec<std::uint32_t>{1, 4096},
               "how many instances of this role")
        .required("parallelism", &serve_role::parallelism, nested(role_parallel_type()),
                  "{tp, ep}: each instance's layout")
        .optional("scheduler", &serve_role::scheduler,
                  optional_spec<serve::scheduler_spec, object_spec<serve::scheduler_spec>>{
                      nested(scheduler_type())},
                  "this role's scheduler keys, over workload.serve.scheduler")
        .optional(
            "exchange", &serve_role::exchange,
            optional_spec<sim::run::exchange_kind, enum_spec<sim::run::exchange_kind>>{
                exchange_kind_spec()},
            std::string("this role's expert exchange, over moe.exchange; ") + exchange_kind_doc);
    return o;
  };
  static const auto prefill = make("prefill");
  static const auto decode = make("decode");
  return std::string_view(role) == "prefill" ? prefill : decode;
}

const object_type<serve::disaggregation_spec>& disaggregation_type() {
  static const auto t = [] {
    using serve::disaggregation_spec;
    object_type<disaggregation_spec> o(
        "disaggregation",
        "Prefill and decode on separate instances, the KV cache sent between them; prefill "
        "instances take the cluster's first devices, decode instances the rest");
    o.required("prefill", &disaggregation_spec::prefill, nested(role_type("prefill")),
               "{instances, parallelism, scheduler, exchange}: the instances that run prompts")
        .required("decode", &disaggregation_spec::decode, nested(role_type("decode")),
                  "{instances, parallelism, scheduler, exchange}: the instances that generate");
    return o;
  }();
  return t;
}

}  // namespace

const object_type<serve_spec>& serve_type() {
  static const auto t = [] {
    object_type<serve_spec> o("serve",
                              "A serving run: requests arrive, a continuous-batching scheduler "
                              "runs them, latencies are measured against the SLOs");
    const auto length = [](length_dist request_spec::*m) {
      return member(m, nested(length_type()));
    };
    o.required("arrivals", &serve_spec::requests, nested(arrivals_type()),
               "{process: poisson, rate}, {process: gamma, rate, cv}, {process: closed, "
               "concurrency} or {process: trace, file}")
        .optional("requests", &serve_spec::requests,
                  member(&request_spec::count,
                         unset_if_zero<std::uint64_t>(integer_spec<std::uint64_t>{1, 1ULL << 40})),
                  "requests to serve at most (arrivals stop after this many)")
        .optional("duration_s", &serve_spec::requests,
                  member(&request_spec::duration_s,
                         unset_if_zero<double>(number_spec{0, max_simulated_seconds, true})),
                  "requests arrive during this many seconds of simulated time")
        .optional("prompt", &serve_spec::requests, length(&request_spec::prompt),
                  "prompt length distribution (not with a trace)")
        .optional("output", &serve_spec::requests, length(&request_spec::output),
                  "output length distribution (not with a trace)")
        .optional("prefix_cache", &serve_spec::requests, nested(prefix_type()),
                  "{hit_rate, tokens}: a shared prompt prefix found in the prefix cache")
        .optional("scheduler", &serve_spec::scheduler, nested(scheduler_type()),
                  "continuous-batching limits and the paged KV cache")
        .optional("slo", &serve_spec::slo, nested(slo_type()), "latency targets")
        .optional(
            "disaggregation", &serve_spec::disaggregation,
            optional_spec<serve::disaggregation_spec, object_spec<serve::disaggregation_spec>>{
                nested(disaggregation_type())},
            "{prefill, decode}: prefill/decode disaggregation (README: Serving)")
        .optional("speculative", &serve_spec::speculative,
                  optional_spec<serve::speculative_spec, object_spec<serve::speculative_spec>>{
                      nested(speculative_type())},
                  "{drafter, k, acceptance, reading, acceptance_source}: speculative decoding")
        .check([](const serve_spec& s, const doc::node& n, const std::string& path) {
          if (s.requests.arrivals == arrival_kind::trace) {
            for (const char* key : {"prompt", "output", "prefix_cache"}) {
              if (const doc::node* v = n.find(key)) {
                detail::fail(*v, detail::join_path(path, key),
                             "not used with a trace: its rows give each request's prompt_tokens, "
                             "output_tokens and cached_prompt_tokens");
              }
            }
            return;
          }
          for (const char* key : {"prompt", "output"}) {
            if (n.find(key) == nullptr) {
              detail::fail(n, path,
                           fmt::format("missing required key '{}' (its length distribution, "
                                       "e.g. {{dist: fixed, tokens: 512}})",
                                       key));
            }
          }
          if (n.find("requests") == nullptr && n.find("duration_s") == nullptr) {
            detail::fail(n, path,
                         "needs a bound on the requests: requests (a count), duration_s "
                         "(seconds of arrivals), or both");
          }
        });
    return o;
  }();
  return t;
}

void check_serve_workload(const sim::run::workload_config& w, std::string_view kind_name,
                          const doc::node& n, const std::string& path) {
  using sim::run::workload_kind;
  const doc::node* serve_node = n.find("serve");
  if (w.kind != workload_kind::serve) {
    if (serve_node != nullptr && w.serve) {
      detail::fail(*serve_node, detail::join_path(path, "serve"),
                   "applies to kind serve only; this workload is " + std::string(kind_name));
    }
    return;
  }
  if (!w.serve) {
    detail::fail(n, path,
                 "missing required key 'serve' (kind serve: the request arrivals, their lengths, "
                 "the scheduler and the SLOs)");
  }
  static const std::pair<const char*, const char*> unused[] = {
      {"batch_per_device",
       "the scheduler's max_running and token_budget (workload.serve.scheduler) decide the batch"},
      {"context",
       "each request's prompt and output lengths (workload.serve.prompt, output) decide it"},
      {"steps", "workload.serve.requests or duration_s decides how long the run lasts"},
      {"micro_batches", "each iteration runs the scheduler's batch whole"},
      {"overlap", "each iteration runs the scheduler's batch whole, without micro-batches"}};
  for (const auto& [key, instead] : unused) {
    if (const doc::node* v = n.find(key)) {
      detail::fail(*v, detail::join_path(path, key),
                   std::string("not used by kind serve: ") + instead);
    }
  }
}

void resolve_disaggregation(sim::run::scenario& s, const doc::node& root) {
  if (!s.workload.serve || !s.workload.serve->disaggregation) return;
  const doc::node& node = *root.find("workload")->find("serve")->find("disaggregation");
  const std::string path = "workload.serve.disaggregation";
  auto& d = *s.workload.serve->disaggregation;
  for (auto [name, role] : {std::pair{"prefill", &d.prefill}, std::pair{"decode", &d.decode}}) {
    // The role's scheduler keys over the shared ones: read them again onto a copy of those.
    if (const doc::node* sched = node.find(name)->find("scheduler")) {
      role->scheduler = s.workload.serve->scheduler;
      scheduler_type().read(*sched, *role->scheduler, path + "." + name + ".scheduler");
    }
  }
  std::vector<sim::run::instance_placement> places;
  try {
    places = sim::run::place_instances(s);
  } catch (const std::invalid_argument& e) {
    const std::string what = strip_section(e.what());
    for (const char* name : {"prefill", "decode"}) {
      const std::string role = std::string("workload: serve.disaggregation.") + name + ": ";
      if (what.starts_with(role)) {
        detail::fail(*node.find(name), path + "." + name, what.substr(role.size()));
      }
    }
    detail::fail(node, path, what);
  }
  for (const auto& p : places) {
    if (p.index > 0) continue;  // a role's instances are alike
    try {
      sim::run::check_feasible(sim::run::instance_scenario(s, p));
    } catch (const std::invalid_argument& e) {
      const char* name = sim::run::to_string(p.role);
      detail::fail(*node.find(name), path + "." + name, e.what());
    }
  }
}

void load_request_trace(sim::run::scenario& s, const doc::node& root,
                        const std::filesystem::path& base) {
  if (!s.workload.serve || s.workload.serve->requests.arrivals != arrival_kind::trace) return;
  request_spec& r = s.workload.serve->requests;
  const doc::node& where = *root.find("workload")->find("serve")->find("arrivals")->find("file");
  const std::string key = "workload.serve.arrivals.file";
  const std::filesystem::path path = base / r.trace_file;
  if (!path.string().ends_with(".csv") && !path.string().ends_with(".jsonl")) {
    detail::fail(where, key, "expected a .csv or .jsonl request trace, got '" + r.trace_file + "'");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    detail::fail(where, key, "cannot open " + path.string());
  }
  try {
    r.trace = serve::read_request_trace(path.string());
  } catch (const std::invalid_argument& e) {
    throw input_error(e.what());  // already "<trace>:<line>:<column>: ..." where to fix it
  }
}

}  // namespace moesim::io
