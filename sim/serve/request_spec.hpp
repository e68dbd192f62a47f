#pragma once
// What a serving run is asked to serve: the request stream, the scheduler's limits and the
// latency targets, as plain data with defaults. sim/io reads them from `workload.serve` (and
// range-checks them there with file:line:col errors); request_source checks them again for
// callers that build them in code.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/run/exchange_kind.hpp"
#include "sim/serve/request.hpp"
#include "sim/serve/speculative_spec.hpp"

namespace moesim::serve {

/// How requests arrive. poisson: exponential inter-arrival times at rate_per_s; gamma:
/// gamma-distributed inter-arrival times with mean 1 / rate_per_s and coefficient of variation
/// cv (burstier than poisson for cv > 1; poisson is gamma with cv 1); closed: `concurrency`
/// clients, each sending its next request as soon as its previous one finishes; trace: the
/// rows of a request trace, as recorded.
enum class arrival_kind { poisson, gamma, closed, trace };

/// A distribution of token counts. Every draw is an integer >= 1.
struct length_dist {
  enum class kind { fixed, uniform, lognormal } shape = kind::fixed;
  double value = 0;  ///< fixed: the length, tokens
  /// uniform: the inclusive integer range, tokens. lognormal: an optional clamp of the drawn
  /// length (0 = no bound on that side).
  double min = 0, max = 0;
  /// lognormal: mean and coefficient of variation (stddev / mean) of the length, tokens.
  double mean = 0, cv = 0;
};

struct request_spec {
  arrival_kind arrivals = arrival_kind::poisson;
  double rate_per_s = 1;          ///< poisson, gamma: mean arrival rate, requests per second
  double cv = 1;                  ///< gamma: coefficient of variation of the inter-arrival time
  std::uint32_t concurrency = 0;  ///< closed: requests in flight at once
  /// Requests arrive in [0, duration_s) of simulated time; 0 = unbounded.
  double duration_s = 0;
  /// At most this many requests; 0 = unbounded. Poisson, gamma and closed loops need at least
  /// one of duration_s and count; a trace is bounded by its rows.
  std::uint64_t count = 0;
  length_dist prompt;  ///< prompt length, tokens (not used with a trace: rows carry it)
  length_dist output;  ///< generated tokens per request (likewise)
  /// Fraction of requests whose prompt starts with the shared prefix, in [0, 1].
  double prefix_hit_rate = 0;
  /// Length of that shared prefix, tokens (a hit caches min(prefix_tokens, prompt - 1)).
  std::int64_t prefix_tokens = 0;
  std::string trace_file;      ///< trace: the file as written in the scenario
  std::vector<request> trace;  ///< trace: its rows, in arrival order (the loader reads them)
};

/// Latency targets; a request meets its SLO when both hold. 0 = no limit.
struct slo_spec {
  double ttft_s = 0;  ///< time to first token: arrival to the first output token, s
  double tpot_s = 0;  ///< time per output token after the first, mean over the request, s
};

/// Continuous batching (vLLM-style): which requests run each iteration.
struct scheduler_spec {
  std::uint32_t max_running = 256;    ///< requests in the running batch at most
  std::uint32_t token_budget = 8192;  ///< tokens (prefill + decode) one iteration computes
  /// Chunked prefill: a prompt is computed in pieces of at most this many tokens (0 =
  /// token_budget). At most token_budget.
  std::uint32_t chunk_tokens = 0;
  bool chunked_prefill = true;      ///< false: a prompt's prefill runs whole in one iteration
  std::uint32_t block_tokens = 16;  ///< tokens per paged KV-cache block, 1 to 1024
  /// Fraction of the HBM left after weights and buffers that the paged KV cache gets, (0, 1].
  double kv_memory_fraction = 0.9;
};

/// The instances of one role of a disaggregated deployment. Each instance is tp x ep devices
/// with attention data-parallel over its ep ranks and the experts sharded over them (pp 1,
/// dp 1), laid out tp innermost.
struct instance_layout {
  int tp = 1;
  int ep = 1;
};
struct serve_role {
  std::uint32_t instances = 1;
  instance_layout parallelism;
  /// This role's scheduler: serve_spec::scheduler with the keys the role overrides (the loader
  /// merges them); unset: serve_spec::scheduler.
  std::optional<scheduler_spec> scheduler;
  /// The expert exchange this role's instances run; unset: moe.exchange. DeepEP runs its
  /// normal kernels (hierarchical) in prefill and its low-latency ones (per_copy) in decode
  /// (lm-sys blog 2025-05-05 "large-scale-ep", section DeepEP).
  std::optional<sim::run::exchange_kind> exchange;
};

/// Prefill/decode disaggregation: prompts run on prefill instances (output one token), their
/// KV cache moves to a decode instance over the network, which generates the rest. Prefill
/// instances take the cluster's first devices, decode instances the rest, in order.
struct disaggregation_spec {
  serve_role prefill;
  serve_role decode;
};

struct serve_spec {
  request_spec requests;
  scheduler_spec scheduler;
  slo_spec slo;
  std::optional<disaggregation_spec> disaggregation;
  std::optional<speculative_spec> speculative;  ///< speculative decoding (speculative_spec.hpp)
};

}  // namespace moesim::serve
