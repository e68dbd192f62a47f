#include "sim/run/speculative_grid.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace moesim::sim::run {

using moesim::serve::speculation_policy;

scenario grid_point_scenario(const scenario& s, int batch, int k, speculation_policy policy) {
  scenario p = s;
  auto& sv = *p.workload.serve;
  // `batch` sequences on every attention-DP (EP) rank, each rank scheduling its own: a closed
  // loop of batch x ranks requests, spread evenly by the ranks' assignment.
  const auto b = static_cast<std::uint32_t>(batch);
  const auto sequences = b * static_cast<std::uint32_t>(std::max(p.parallelism.ep, 1));
  sv.requests.arrivals = moesim::serve::arrival_kind::closed;
  sv.requests.concurrency = sequences;
  sv.requests.count = sequences;
  sv.requests.duration_s = 0;
  sv.scheduler.max_running = b;
  const auto tokens = static_cast<std::uint32_t>(batch * (std::max(k, 0) + 1));
  sv.scheduler.token_budget = std::max(sv.scheduler.token_budget, tokens);
  auto& sp = *sv.speculative;
  sp.policy = policy;
  if (!sp.tree) sp.k = static_cast<std::uint32_t>(std::max(k, 1));  // a tree keeps its depth
  if (sp.acceptance.size() > sp.k) sp.acceptance.resize(sp.k);
  sp.batch_sizes.clear();
  sp.draft_lengths.clear();
  sp.policies.clear();
  p.variant = "";
  return p;
}

namespace {

struct point_key {
  int batch;
  int k;
  speculation_policy policy;
};

speculative_point point_of(const point_key& key, const run_result& r, const run_result& none) {
  speculative_point x;
  x.batch = key.batch;
  x.k = key.k;
  x.policy = moesim::serve::to_string(key.policy);
  x.tpot_s = r.serving ? r.serving->tpot_s.mean : 0;
  if (r.speculative && r.speculative->offloaded) {
    x.offloaded = true;
    x.expert_hit_rate = r.speculative->full_batch_expert_hit_rate;
    x.fetched_bytes_per_token = r.speculative->full_batch_fetched_bytes_per_token;
  }
  if (key.policy == speculation_policy::none || !r.speculative || !none.speculative) return x;
  const speculative_report& sp = *r.speculative;
  const speculative_report& plain = *none.speculative;
  if (sp.tree_steps > 0) x.k = sp.k;  // a tree's point: its drafts verified
  x.acceptance = sp.draft_acceptance;
  // The full batch's steady state; a point whose batch never filled reports 0.
  x.speedup = plain.full_batch_tokens_per_s > 0
                  ? sp.full_batch_tokens_per_s / plain.full_batch_tokens_per_s
                  : 0;
  x.verify_over_decode_time = plain.full_batch_verify_pass_s > 0
                                  ? sp.full_batch_verify_pass_s / plain.full_batch_verify_pass_s
                                  : 0;
  x.unique_experts_verify = sp.unique_experts_verify;
  x.unique_experts_plain = sp.unique_experts_plain;
  x.unique_experts_verify_over_decode =
      sp.unique_experts_plain > 0 ? sp.unique_experts_verify / sp.unique_experts_plain : 0;
  x.mean_accepted_tokens = sp.mean_accepted_tokens;
  x.draft_share = sp.draft_share;
  x.rank_tokens_max_over_mean = sp.rank_tokens_max_over_mean;
  x.rank_unique_max_over_mean = sp.rank_unique_max_over_mean;
  x.mechanism = sp.mechanism;
  return x;
}

}  // namespace

std::vector<speculative_point> speculative_grid(
    const scenario& s, int threads, const std::function<run_result(const scenario&)>& run) {
  if (!s.workload.serve || !s.workload.serve->speculative) return {};
  const auto& sp = *s.workload.serve->speculative;
  if (sp.batch_sizes.empty()) return {};
  std::vector<point_key> keys;
  std::vector<std::size_t> baseline;  // index in keys of each point's none point
  for (const std::uint32_t b : sp.batch_sizes) {
    const std::size_t none = keys.size();
    keys.push_back({static_cast<int>(b), 0, speculation_policy::none});
    baseline.push_back(none);
    for (const speculation_policy p : sp.policies) {
      if (p == speculation_policy::none) continue;
      // A tree's grid runs the tree (k its depth) at every batch size.
      for (const std::uint32_t k : sp.tree ? std::vector<std::uint32_t>{sp.k} : sp.draft_lengths) {
        keys.push_back({static_cast<int>(b), static_cast<int>(k), p});
        baseline.push_back(none);
      }
    }
  }
  std::vector<run_result> results(keys.size());
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    for (std::size_t i = next++; i < keys.size(); i = next++) {
      try {
        results[i] = run(grid_point_scenario(s, keys[i].batch, keys[i].k, keys[i].policy));
      } catch (...) {
        const std::scoped_lock lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
    }
  };
  const int n = std::clamp(threads, 1, static_cast<int>(keys.size()));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
  std::vector<speculative_point> out;
  out.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    out.push_back(point_of(keys[i], results[i], results[baseline[i]]));
  }
  return out;
}

}  // namespace moesim::sim::run
