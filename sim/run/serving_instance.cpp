#include "sim/run/serving_instance.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "models/model_params.hpp"
#include "sim/run/iteration_routing.hpp"
#include "sim/run/routing_sampler.hpp"

namespace moesim::sim::run {

namespace {

/// Speculative decoding, when the scenario asks for it (policy none drafts nothing: it
/// measures plain decoding's full batches for a grid's baseline).
std::unique_ptr<speculation> speculation_of(const scenario& s, machine& m, expert_exchange& x,
                                            routing_source& target,
                                            const expert_placement& placement) {
  const auto& spec = s.workload.serve->speculative;
  if (!spec) return nullptr;
  return std::make_unique<speculation>(s, m, x, target, x.nodes(), placement);
}

/// The MoE layers of a one-stage model.
std::vector<int> moe_layers(const model_chunks& chunks) {
  std::vector<int> out;
  for (const int l : chunks.layers(0)) {
    if (chunks.is_moe(l)) out.push_back(l);
  }
  return out;
}

/// Lanes of request spans on the trace (a few hundred keep Perfetto responsive).
constexpr std::size_t max_request_lanes = 256;

}  // namespace

serving_instance::serving_instance(const scenario& s, machine& m, routing_tally& tally,
                                   serving_driver& driver, int threads, std::string name)
    : s_(s),
      m_(m),
      driver_(driver),
      name_(std::move(name)),
      ep_(s.parallelism.ep),
      pool_(serve_kv_pool_of(s, serving_weights_and_buffers(s))),
      chunks_(s, /*is_training=*/false),
      x_(m_, s),
      placement_(placement_of(s)),
      residency_(s.moe.placement && s.model.moe
                     ? std::make_unique<expert_residency>(
                           m_, s, s.workload.serve->scheduler.token_budget, false)
                     : nullptr),
      loss_(std::any_of(s.faults.begin(), s.faults.end(),
                        [](const fault_event& f) { return f.kind == fault_kind::device_loss; })
                ? std::make_unique<device_loss_tracker>(s, residency_.get())
                : nullptr),
      lost_(static_cast<std::size_t>(ep_), 0),
      routing_(std::make_unique<iteration_routing>(s, s.workload.serve->scheduler.token_budget,
                                                   x_.nodes(), tally, threads,
                                                   moe_layers(chunks_),
                                                   residency_ ? residency_->single_copy_ranks()
                                                              : std::vector<std::vector<int>>{})),
      // Policy divided splits tokens over moe.placement's copies when the scenario has one
      // (the loader refuses replicas listed besides it), else over its own replicas.
      spec_(speculation_of(s, m_, x_, *routing_,
                           residency_ ? residency_->placement() : placement_)),
      executor_(m_, x_, spec_ ? spec_->tap() : *routing_, s, chunks_,
                residency_ ? &residency_->placement() : &placement_),
      load_(static_cast<std::size_t>(ep_)),
      stats_(serve::slo{s.workload.serve->slo.ttft_s, s.workload.serve->slo.tpot_s}),
      wake_(m.sim()),
      counters_(m.trace().enabled()) {
  if (residency_) executor_.observe(residency_.get());
  if (loss_) executor_.observe(loss_.get());  // passes each pass on to residency_
  const auto& spec = s.workload.serve->speculative;
  if (spec && spec->policy == moesim::serve::speculation_policy::prefetch && executor_.offload()) {
    prefetch_ = std::make_unique<speculative_prefetch>(s, *executor_.offload(), *routing_,
                                                       moe_layers(chunks_));
  }
  ranks_.reserve(static_cast<std::size_t>(ep_));
  for (int e = 0; e < ep_; ++e) ranks_.emplace_back(limits());
  if (counters_) spans_.emplace(m.trace(), max_request_lanes);
}

serving_instance::~serving_instance() = default;

const routing_sampler& serving_instance::sampler() const noexcept {
  return routing_->sampler();
}

/// One attention-DP rank's scheduler: the scenario's limits and the device's KV pool
/// (check_feasible refuses a pool without a block before any instance is built).
serve::scheduler_limits serving_instance::limits() const {
  const auto& sc = s_.workload.serve->scheduler;
  serve::scheduler_limits l;
  l.max_running = sc.max_running;
  l.token_budget = sc.token_budget;
  l.chunk_tokens = sc.chunk_tokens;
  l.chunked_prefill = sc.chunked_prefill;
  l.block_tokens = sc.block_tokens;
  l.kv_blocks = pool_.blocks;
  l.draft_tokens = spec_ ? static_cast<std::uint32_t>(spec_->k()) : 0;
  return l;
}

bool serving_instance::idle() const noexcept {
  return std::all_of(ranks_.begin(), ranks_.end(),
                     [](const serve::scheduler& sc) { return sc.idle(); });
}

/// The assignment policy (see the header): fewest prompt tokens held, then fewest requests,
/// then the lowest rank.
int serving_instance::pick_rank() const {
  int best = 0;
  while (lost_[static_cast<std::size_t>(best)] != 0) ++best;  // a rank survives (check)
  for (int e = best + 1; e < ep_; ++e) {
    if (lost_[static_cast<std::size_t>(e)] != 0) continue;
    const rank_load& a = load_[static_cast<std::size_t>(e)];
    const rank_load& b = load_[static_cast<std::size_t>(best)];
    if (std::tie(a.prompt_tokens, a.requests) < std::tie(b.prompt_tokens, b.requests)) best = e;
  }
  return best;
}

void serving_instance::assign(const serve::request& r, int rank) {
  rank_load& l = load_[static_cast<std::size_t>(rank)];
  l.prompt_tokens += r.prompt_tokens;
  ++l.requests;
  rank_of_[r.id] = rank;
}

void serving_instance::release(const serve::request& r) {
  rank_load& l = load_[static_cast<std::size_t>(rank_of_.at(r.id))];
  l.prompt_tokens -= r.prompt_tokens;
  --l.requests;
}

void serving_instance::add(const serve::request& r) {
  const int rank = pick_rank();
  ranks_[static_cast<std::size_t>(rank)].add(r);
  assign(r, rank);
  wake_.set();
}

void serving_instance::add_with_kv(const serve::request& r, std::int64_t computed, int rank) {
  if (rank < 0 || rank >= ep_) {
    throw std::invalid_argument(fmt::format("serving instance {}: request {} sent to rank {} of {}",
                                            name_, r.id, rank, ep_));
  }
  ranks_[static_cast<std::size_t>(rank)].add_with_kv(r, computed);
  assign(r, rank);
  wake_.set();
}

void serving_instance::wake() {
  wake_.set();
}

/// One rank's batch, on each device of its TP group.
pass_shape serving_instance::shape_of(const serve::iteration& it) const {
  pass_shape p;
  p.tp = s_.parallelism.tp;
  p.kv_dtype = s_.precision.kv_or(s_.model.dtype);
  double emitting = 0;
  double key_tokens = 0;
  for (const serve::seq_work& w : it.seqs) {
    const auto n = static_cast<double>(w.new_tokens);
    p.slices.push_back({n, static_cast<double>(w.context)});
    // Logits at every position that samples: the last token, and each draft verified.
    emitting += w.emits_token ? static_cast<double>(1 + w.drafts) : 0;
    key_tokens += n * (static_cast<double>(w.context) + (n + 1) / 2);
  }
  p.tokens = static_cast<double>(it.tokens());
  p.sequences = emitting;
  p.keys = it.tokens() > 0 ? key_tokens / static_cast<double>(it.tokens()) : 0;
  p.decode = it.prefill_tokens() == 0;
  p.proposal_heads = spec_ ? spec_->proposal_heads() : 0;
  return p;
}

process serving_instance::loop() {
  simulation& sim = m_.sim();
  op_id last = -1;
  while (true) {
    driver_.admit(*this, sim.now());
    if (loss_) apply_device_losses(sim.now());
    if (idle()) {
      if (const auto next = driver_.idle_until(*this, sim.now())) {
        co_await until{*next};
        continue;
      }
      if (driver_.stopped(*this)) break;
      wake_.reset();
      co_await wake_;
      continue;
    }
    // Every rank forms its own batch; the figures of the iteration are sums over the ranks
    // (sequences, tokens, queue) and the mean of their KV pools' use.
    std::vector<serve::iteration> its;
    its.reserve(ranks_.size());
    std::vector<std::int64_t> tokens;
    pass_request request{0, 0, 0, pass_kind::forward, iterations_, {}, last, {}};
    std::size_t queued = 0;
    std::size_t seqs = 0;
    double kv = 0;
    double key_tokens = 0;
    if (spec_) spec_->before_next(ranks_);
    for (serve::scheduler& sc : ranks_) its.emplace_back(sc.next());
    // The policy settles what each sequence verifies before the pass is shaped on it.
    if (spec_) spec_->plan(its, ranks_);
    for (std::size_t e = 0; e < ranks_.size(); ++e) {
      const serve::scheduler& sc = ranks_[e];
      const serve::iteration& it = its[e];
      queued += sc.waiting();
      kv += sc.kv_utilisation() / ep_;
      seqs += it.seqs.size();
      tokens.push_back(it.tokens());
      request.ranks.push_back(shape_of(it));
      key_tokens += request.ranks.back().keys * static_cast<double>(it.tokens());
    }
    const std::int64_t all_tokens = std::accumulate(tokens.begin(), tokens.end(), std::int64_t{0});
    routing_->begin_iteration(iterations_, std::move(tokens));
    // The forward's FLOPs at the iteration's mean attention span over every rank's tokens.
    const double keys = key_tokens / static_cast<double>(all_tokens);
    model_flops_ +=
        models::forward_flops_per_token(s_.model, static_cast<std::int64_t>(std::llround(keys))) *
        static_cast<double>(all_tokens);
    const time_ps start = sim.now();
    if (loss_) loss_->begin_iteration(its);
    if (spans_) {
      for (const serve::iteration& it : its) {
        for (const serve::seq_work& w : it.seqs) spans_->started(w.request, start);
      }
    }
    const auto* offload = executor_.offload();
    const expert_offload::totals before =
        offload != nullptr ? offload->running_totals() : expert_offload::totals{};
    if (prefetch_) prefetch_->start(its, iterations_);  // loads overlap the drafting
    if (spec_) co_await spec_->draft(its, iterations_, &last);
    const time_ps drafted = sim.now();
    co_await executor_.run(request, &last);
    for (std::size_t e = 0; e < ranks_.size(); ++e) {
      const std::vector<int> accepted = spec_ ? spec_->accept(its[e]) : std::vector<int>{};
      for (const serve::finished_request& f : ranks_[e].complete(its[e], sim.now(), accepted)) {
        stats_.add(f);
        if (spans_) spans_->finished(f);
        release(f.req);  // before the driver may add the next request
        driver_.finished(*this, f, sim.now());
        rank_of_.erase(f.req.id);
      }
    }
    if (spec_) {
      expert_offload::totals delta;
      if (offload != nullptr) {
        const expert_offload::totals after = offload->running_totals();
        delta = {after.lookups - before.lookups, after.hits - before.hits,
                 after.bytes_fetched - before.bytes_fetched};
      }
      spec_->iterated(start, drafted, sim.now(), offload != nullptr ? &delta : nullptr);
    }
    if (residency_) {
      co_await residency_->step_end(0, 0, iterations_, std::numeric_limits<int>::max(),
                                    chunks_.layers(0), &last);
    }
    if (loss_) loss_->on_iteration(start, sim.now(), its);
    const serve::iteration_sample sample{start, sim.now(), seqs, all_tokens, kv, queued};
    stats_.add(sample);
    if (counters_) {
      trace_recorder& t = m_.trace();
      t.counter(name_, "running sequences", start, static_cast<double>(seqs));
      t.counter(name_, "waiting requests", start, static_cast<double>(queued));
      t.counter(name_, "KV cache used", start, kv);
    }
    ++iterations_;
    end_time_ = sim.now();
    driver_.iterated(*this, sample);
  }
  if (spans_ && spans_->skipped() > 0) {
    m_.trace().note(name_ + ".requests_not_drawn",
                    fmt::format("{} requests (more than {} lanes of requests in flight)",
                                spans_->skipped(), max_request_lanes));
  }
}

std::optional<placement_report> serving_instance::placement() const {
  if (!residency_) return std::nullopt;
  return residency_->report(std::max(iterations_, 1));
}

std::optional<speculative_report> serving_instance::speculative() const {
  if (!spec_) return std::nullopt;
  speculative_report r = spec_->report();
  if (prefetch_) prefetch_->fill(r.mechanism);
  return r;
}

std::optional<offload_report> serving_instance::offload(double tokens_per_s) const {
  const expert_offload* o = executor_.offload();
  if (o == nullptr) return std::nullopt;
  return o->report(static_cast<std::uint32_t>(std::max(iterations_, 1)), tokens_per_s);
}

void serving_instance::fill_devices(run_result& r) const {
  const std::vector<cluster::memory_plan> memory = stage_memory_plans(s_);
  const double per_iteration = 1.0 / std::max(iterations_, 1);
  const double memory_bytes = memory.front().total_bytes;
  for (int d = 0; d < m_.layout().devices(); ++d) {
    const coords c = m_.layout().of(d);
    const device_state& st = m_.dev(m_.device(0, 0, c.ep));
    r.per_device.push_back(
        {seconds(st.compute.busy_ps()) * per_iteration, seconds(st.hbm.busy_ps()) * per_iteration,
         seconds(st.network_busy) * per_iteration, st.tokens_in * per_iteration, memory_bytes});
    r.peak_hbm_bytes = std::max(r.peak_hbm_bytes, memory_bytes);
  }
}

run_result serving_result(const scenario& s, int devices, serve::serving_report report) {
  run_result r;
  r.scenario = s.name;
  r.variant = s.variant;
  r.seed = s.seed;
  r.workload = "serve";
  r.network_model = s.network.model == network_model::flow ? "flow" : "analytical";
  r.devices = devices;
  r.serving = std::move(report);
  r.tokens_per_s = r.serving->output_tokens_per_s;
  r.tokens_per_s_per_device = r.tokens_per_s / r.devices;
  if (s.chip.price_usd_per_hour && r.tokens_per_s > 0) {
    r.cost_usd_per_million_tokens =
        *s.chip.price_usd_per_hour * r.devices / 3600.0 / r.tokens_per_s * 1e6;
  }
  return r;
}

void serving_model_flops(run_result& r, const scenario& s, double model_flops) {
  const double per_s_per_device =
      r.simulated_time_s > 0 ? model_flops / r.simulated_time_s / r.devices : 0;
  r.model_tflops_per_device = per_s_per_device / 1e12;
  const double peak = cluster::rates_for(s.chip, format_of(s.model.dtype), 0).flops_per_s /
                      s.chip.efficiency.compute.value_or(1.0);
  r.mfu = peak > 0 ? per_s_per_device / peak : 0;
}

void serving_approximations(run_result& r, const serving_instance& in) {
  const scenario& s = in.scenario_of();
  if (s.model.moe) {
    r.approximations.push_back(fmt::format(
        "routing maths on at most {} sampled tokens per layer and iteration at hidden size {} "
        "(model: {}); a sequence's successive tokens are drawn afresh each iteration",
        in.sampler().sample_tokens(), in.sampler().math_hidden(), s.model.hidden));
  }
  if (in.ranks() > 1) {
    r.approximations.push_back(fmt::format(
        "serving: each of the {} attention-DP ranks schedules its own requests (assigned on "
        "arrival to the rank holding the fewest prompt tokens, TensorRT-LLM's key) and the ranks "
        "step in lockstep; a rank's host-side scheduling time is not modelled",
        in.ranks()));
  }
  if (const auto spec = in.speculative()) {
    r.approximations.push_back(fmt::format(
        "speculative decoding ({}, k {}): a sequence's verified drafts are routed as tokens of "
        "the iteration (drawn like any other, not as its continuation); each draft step runs "
        "one token per drafting sequence (the drafter's catch-up on the accepted tokens is not "
        "modelled); acceptance drawn per position from the stated rates, by topic",
        spec->drafter, spec->k));
    const std::string policy = policy_approximation(*s.workload.serve->speculative);
    if (!policy.empty()) r.approximations.push_back(policy);
  }
  if (!in.device_losses().empty()) {
    r.approximations.push_back(
        "device_loss: applied at the first iteration boundary at or after at_s, without "
        "detection or reconfiguration time (the iteration in flight completes as if the device "
        "were alive); tokens of experts left without a copy are dropped, not re-routed");
  }
  r.approximations.push_back(cluster::roofline_approximation(in.machine_of().rates()));
  if (in.exchange_kernel_ps() > 0) {
    r.approximations.push_back(fmt::format(
        "per_copy exchanges run as DeepEP low-latency kernels: {} us fixed per dispatch or "
        "combine (collective.ep_low_latency_kernel_ps)",
        static_cast<double>(in.exchange_kernel_ps()) / ps_per_us));
  }
}

}  // namespace moesim::sim::run
