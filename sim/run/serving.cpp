// The serving loop (workload kind serve). Requests arrive (request_source: Poisson, gamma,
// closed loop or a trace) and join a continuous-batching scheduler (serve::scheduler, vLLM v1's
// policy: running sequences first, chunked prefill under a token budget, a paged KV cache whose
// blocks come from the HBM the weights leave, preemption by recomputation). Each iteration the
// scheduler forms a batch, the pass executor times it through the model with every sequence's
// own new tokens and cached context (attention reads each one's KV; the MoE layers route the
// iteration's tokens through the real router and exchange them), and the scheduler retires it
// at the iteration's end: tokens are emitted, finished requests leave, their latencies are
// recorded. When nothing can run the loop sleeps until the next arrival.
//
// One scheduler serves an EP group: its ep attention-DP ranks share it with ep x the per-rank
// limits and split each iteration's sequences evenly (named in the approximations), so every
// rank runs the same shape in lockstep, as the group's all-to-alls require. One data-parallel
// replica (check_feasible refuses dp > 1 for serving).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "models/model_params.hpp"
#include "sim/run/drivers.hpp"
#include "sim/run/exchange.hpp"
#include "sim/run/executor.hpp"
#include "sim/run/feasibility.hpp"
#include "sim/run/machine.hpp"
#include "sim/run/model_chunks.hpp"
#include "sim/run/request_spans.hpp"
#include "sim/run/routing_sampler.hpp"
#include "sim/run/routing_tally.hpp"
#include "sim/serve/latency.hpp"
#include "sim/serve/requests.hpp"
#include "sim/serve/scheduler.hpp"

namespace moesim::sim::run {

namespace {

/// Routing of each iteration, drawn for its own token count (routing_sampler's per-call size).
/// With a second thread and independent routings (no bias balancing), an iteration's MoE layers
/// are routed ahead, two at a time, before its pass runs; the results are the same pure
/// functions of (iteration, layer, tokens) either way, so the outputs do not depend on it.
class serving_routing final : public routing_source {
 public:
  serving_routing(const scenario& s, std::int64_t max_tokens_per_source, const ep_nodes& nodes,
                  routing_tally& tally, int threads, std::vector<int> moe_layers)
      : tally_(tally),
        sampler_(s, s.parallelism.ep, max_tokens_per_source, 1, nodes.node),
        ahead_(threads > 1 && sampler_.independent()),
        layers_(std::move(moe_layers)) {}

  /// The next iteration `pass`, with `tokens_per_source` tokens on each EP rank.
  void begin_iteration(int pass, std::int64_t tokens_per_source) {
    tokens_ = tokens_per_source;
    ready_.clear();
    if (!ahead_ || layers_.size() < 2) return;
    std::vector<layer_routing> out(layers_.size());
    auto route_every_other = [&](std::size_t first) {
      for (std::size_t i = first; i < layers_.size(); i += 2) {
        out[i] = sampler_.route(0, pass, layers_[i], 1, tokens_);
      }
    };
    std::exception_ptr failure;
    std::thread worker([&] {
      try {
        route_every_other(1);
      } catch (...) {
        failure = std::current_exception();
      }
    });
    route_every_other(0);
    worker.join();
    if (failure) std::rethrow_exception(failure);
    for (std::size_t i = 0; i < layers_.size(); ++i) ready_.emplace(layers_[i], std::move(out[i]));
  }

  std::shared_ptr<const layer_routing> routing(int, int pass, int layer, bool) override {
    auto it = ready_.find(layer);
    auto lr = std::make_shared<const layer_routing>(
        it != ready_.end() ? std::move(it->second) : sampler_.route(0, pass, layer, 1, tokens_));
    tally_.record(layer, *lr);
    return lr;
  }
  [[nodiscard]] const routing_sampler& sampler() const noexcept { return sampler_; }

 private:
  routing_tally& tally_;
  routing_sampler sampler_;
  bool ahead_;
  std::vector<int> layers_;  ///< the MoE layers, in order
  std::int64_t tokens_ = 1;
  std::map<int, layer_routing> ready_;  ///< this iteration's routings computed ahead
};

/// The MoE layers of a one-stage model.
std::vector<int> moe_layers(const model_chunks& chunks) {
  std::vector<int> out;
  for (const int l : chunks.layers(0)) {
    if (chunks.is_moe(l)) out.push_back(l);
  }
  return out;
}

class serving_loop {
 public:
  serving_loop(const scenario& s, trace_recorder& trace, const run_options& opt)
      : s_(s),
        spec_(*s.workload.serve),
        ep_(s.parallelism.ep),
        pool_(serve_kv_pool_of(s, weights_and_buffers(s))),
        chunks_(s, /*is_training=*/false),
        m_(s, trace, opt.trace),
        x_(m_, s),
        tally_(s.model.moe ? s.model.moe->experts : 0, ep_),
        routing_(s, spec_.scheduler.token_budget, x_.nodes(), tally_, opt.threads,
                 moe_layers(chunks_)),
        executor_(m_, x_, routing_, s, chunks_),
        scheduler_(limits()),
        requests_(spec_.requests, s.seed),
        stats_(serve::slo{spec_.slo.ttft_s, spec_.slo.tpot_s}),
        progress_(opt.progress) {
    if (trace.enabled()) spans_.emplace(trace, max_request_lanes);
  }

  run_result run() {
    m_.sim().spawn(loop());
    m_.sim().run();
    return result();
  }

 private:
  /// The group's scheduler: ep attention-DP ranks' limits, and their KV pools.
  [[nodiscard]] serve::scheduler_limits limits() const {
    const auto& sc = spec_.scheduler;
    serve::scheduler_limits l;
    l.max_running = sc.max_running * static_cast<std::uint32_t>(ep_);
    l.token_budget = static_cast<std::int64_t>(sc.token_budget) * ep_;
    l.chunk_tokens = sc.chunk_tokens;
    l.chunked_prefill = sc.chunked_prefill;
    l.block_tokens = sc.block_tokens;
    l.kv_blocks = pool_.blocks * ep_;
    return l;
  }

  static double weights_and_buffers(const scenario& s) {
    double most = 0;
    for (const auto& plan : stage_memory_plans(s)) {
      double other = plan.total_bytes;
      for (const auto& item : plan.items) other -= item.name == "KV cache pool" ? item.bytes : 0;
      most = std::max(most, other);
    }
    return most;
  }

  void admit_arrivals(time_ps now) {
    while (auto at = requests_.peek_arrival()) {
      if (*at > now) break;
      add(*requests_.next_open());
    }
  }

  void add(const serve::request& r) { scheduler_.add(r); }

  /// The iteration's batch on each device of the group.
  [[nodiscard]] pass_shape shape_of(const serve::iteration& it) const {
    pass_shape p;
    p.tp = s_.parallelism.tp;
    p.kv_dtype = s_.precision.kv_or(s_.model.dtype);
    p.slice_share = 1.0 / ep_;
    double emitting = 0;
    double key_tokens = 0;
    for (const serve::seq_work& w : it.seqs) {
      const auto n = static_cast<double>(w.new_tokens);
      p.slices.push_back({n, static_cast<double>(w.context)});
      emitting += w.emits_token ? 1 : 0;
      key_tokens += n * (static_cast<double>(w.context) + (n + 1) / 2);
    }
    p.tokens = static_cast<double>(it.tokens()) / ep_;
    p.sequences = emitting / ep_;
    p.keys = it.tokens() > 0 ? key_tokens / static_cast<double>(it.tokens()) : 0;
    p.decode = it.prefill_tokens() == 0;
    return p;
  }

  process loop() {
    simulation& sim = m_.sim();
    const bool closed = spec_.requests.arrivals == moesim::serve::arrival_kind::closed;
    if (closed) {
      for (std::uint32_t i = 0; i < spec_.requests.concurrency && requests_.can_issue(0); ++i) {
        add(requests_.next_closed(0));
      }
    }
    op_id last = -1;
    int iteration = 0;
    while (true) {
      if (!closed) admit_arrivals(sim.now());
      if (scheduler_.idle()) {
        const auto next = closed ? std::nullopt : requests_.peek_arrival();
        if (!next) break;
        co_await until{*next};
        continue;
      }
      const serve::iteration it = scheduler_.next();
      const std::size_t queued = scheduler_.waiting();
      const double kv = scheduler_.kv_utilisation();
      routing_.begin_iteration(iteration, std::max<std::int64_t>(1, (it.tokens() + ep_ - 1) / ep_));
      const pass_shape shape = shape_of(it);
      model_flops_ += models::forward_flops_per_token(
                          s_.model, static_cast<std::int64_t>(std::llround(shape.keys))) *
                      static_cast<double>(it.tokens());
      const time_ps start = sim.now();
      if (spans_) {
        for (const serve::seq_work& w : it.seqs) spans_->started(w.request, start);
      }
      const pass_request request{0, 0, 0, pass_kind::forward, iteration, shape, last};
      co_await executor_.run(request, &last);
      for (const serve::finished_request& f : scheduler_.complete(it, sim.now())) {
        stats_.add(f);
        if (spans_) spans_->finished(f);
        if (closed && requests_.can_issue(sim.now())) add(requests_.next_closed(sim.now()));
      }
      stats_.add(
          serve::iteration_sample{start, sim.now(), it.seqs.size(), it.tokens(), kv, queued});
      if (spans_) {
        trace_recorder& t = m_.trace();
        t.counter("serving", "running sequences", start, static_cast<double>(it.seqs.size()));
        t.counter("serving", "waiting requests", start, static_cast<double>(queued));
        t.counter("serving", "KV cache used", start, kv);
      }
      ++iteration;
      if (progress_) progress_(requests_.issued(), requests_.issued() + 1);
    }
    iterations_ = iteration;
    end_time_ = sim.now();
    if (spans_ && spans_->skipped() > 0) {
      m_.trace().note("requests_not_drawn",
                      fmt::format("{} requests (more than {} lanes of requests in flight)",
                                  spans_->skipped(), max_request_lanes));
    }
  }

  [[nodiscard]] run_result result() const {
    run_result r;
    r.scenario = s_.name;
    r.variant = s_.variant;
    r.seed = s_.seed;
    r.workload = "serve";
    r.network_model = s_.network.model == network_model::flow ? "flow" : "analytical";
    r.devices = m_.layout().devices();
    r.steps = static_cast<std::uint32_t>(iterations_);
    r.simulated_time_s = seconds(end_time_);
    r.serving = stats_.report();
    const serve::serving_report& sr = *r.serving;
    r.step_time_s = iterations_ > 0 ? r.simulated_time_s / iterations_ : 0;
    r.tokens_per_step = sr.batch_tokens_mean;
    r.tokens_per_s = sr.output_tokens_per_s;
    r.tokens_per_s_per_device = r.tokens_per_s / r.devices;
    if (s_.chip.price_usd_per_hour && r.tokens_per_s > 0) {
      r.cost_usd_per_million_tokens =
          *s_.chip.price_usd_per_hour * r.devices / 3600.0 / r.tokens_per_s * 1e6;
    }
    // Model FLOPs: each iteration's tokens at its mean attention span (the forward's count).
    const double flops_per_s_per_device =
        r.simulated_time_s > 0 ? model_flops_ / r.simulated_time_s / r.devices : 0;
    r.model_tflops_per_device = flops_per_s_per_device / 1e12;
    const double peak = cluster::rates_for(s_.chip, format_of(s_.model.dtype), 0).flops_per_s /
                        s_.chip.efficiency.compute.value_or(1.0);
    r.mfu = peak > 0 ? flops_per_s_per_device / peak : 0;
    r.breakdown_s = m_.ops().critical_path();
    for (auto& [k, v] : r.breakdown_s) v /= std::max(iterations_, 1);
    if (tally_.routed_layers() > 0) {
      r.dispatch_bytes_per_step = executor_.dispatch_bytes() / std::max(iterations_, 1);
      tally_.fill(r, std::max(iterations_, 1), std::max(iterations_, 1));
    }
    const std::vector<cluster::memory_plan> memory = stage_memory_plans(s_);
    const double per_iteration = 1.0 / std::max(iterations_, 1);
    for (int d = 0; d < r.devices; ++d) {
      const coords c = m_.layout().of(d);
      const device_state& st = m_.dev(m_.layout().device({0, c.ep, 0, 0}));
      const double memory_bytes = memory.front().total_bytes;
      r.per_device.push_back(
          {seconds(st.compute.busy_ps()) * per_iteration, seconds(st.hbm.busy_ps()) * per_iteration,
           seconds(st.network_busy) * per_iteration, st.tokens_in * per_iteration, memory_bytes});
      r.peak_hbm_bytes = std::max(r.peak_hbm_bytes, memory_bytes);
    }
    r.layout = m_.layout().describe();
    approximations(r);
    r.events = m_.sim().events_processed();
    return r;
  }

  void approximations(run_result& r) const {
    if (s_.model.moe) {
      r.approximations.push_back(fmt::format(
          "routing maths on at most {} sampled tokens per layer and iteration at hidden size {} "
          "(model: {}); a sequence's successive tokens are drawn afresh each iteration",
          routing_.sampler().sample_tokens(), routing_.sampler().math_hidden(), s_.model.hidden));
    }
    if (ep_ > 1) {
      r.approximations.push_back(fmt::format(
          "serving: the {} attention-DP ranks of an EP group share one scheduler ({} x the "
          "per-rank limits and KV pool) and split each iteration's sequences evenly",
          ep_, ep_));
    }
    r.approximations.push_back(fmt::format("op times by roofline with {} us launch overhead per op",
                                           static_cast<double>(launch_overhead_ps) / ps_per_us));
    if (x_.kernel_ps() > 0) {
      r.approximations.push_back(fmt::format(
          "per_copy exchanges run as DeepEP low-latency kernels: {} us fixed per dispatch or "
          "combine (collective.ep_low_latency_kernel_ps)",
          static_cast<double>(x_.kernel_ps()) / ps_per_us));
    }
  }

  const scenario& s_;
  const moesim::serve::serve_spec& spec_;
  int ep_;
  serve_kv_pool pool_;
  model_chunks chunks_;
  machine m_;
  expert_exchange x_;
  routing_tally tally_;
  serving_routing routing_;
  pass_executor executor_;
  serve::scheduler scheduler_;
  serve::request_source requests_;
  serve::serving_stats stats_;
  progress_fn progress_;
  /// Lanes of request spans on the trace (a few hundred keep Perfetto responsive).
  static constexpr std::size_t max_request_lanes = 256;
  std::optional<request_spans> spans_;  ///< when a trace is recorded
  double model_flops_ = 0;              ///< the forward's model FLOPs of every iteration
  int iterations_ = 0;
  time_ps end_time_ = 0;
};

}  // namespace

run_result simulate_serving(const scenario& s, trace_recorder& trace, const run_options& opt) {
  serving_loop loop(s, trace, opt);
  return loop.run();
}

}  // namespace moesim::sim::run
