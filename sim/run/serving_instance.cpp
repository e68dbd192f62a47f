#include "sim/run/serving_instance.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <stdexcept>
#include <thread>
#include <vector>

#include "models/model_params.hpp"
#include "sim/run/routing_sampler.hpp"

namespace moesim::sim::run {

/// Routing of each iteration, drawn for its own token count (routing_sampler's per-call size).
/// With a second thread and independent routings (no bias balancing), an iteration's MoE layers
/// are routed ahead, two at a time, before its pass runs; the results are the same pure
/// functions of (iteration, layer, tokens) either way, so the outputs do not depend on it.
class serving_instance::iteration_routing final : public routing_source {
 public:
  iteration_routing(const scenario& s, std::int64_t max_tokens_per_source, const ep_nodes& nodes,
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

namespace {

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

double serving_weights_and_buffers(const scenario& s) {
  double most = 0;
  for (const auto& plan : stage_memory_plans(s)) {
    double other = plan.total_bytes;
    for (const auto& item : plan.items) other -= item.name == "KV cache pool" ? item.bytes : 0;
    most = std::max(most, other);
  }
  return most;
}

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
      routing_(std::make_unique<iteration_routing>(s, s.workload.serve->scheduler.token_budget,
                                                   x_.nodes(), tally, threads,
                                                   moe_layers(chunks_))),
      executor_(m_, x_, *routing_, s, chunks_),
      scheduler_(limits()),
      stats_(serve::slo{s.workload.serve->slo.ttft_s, s.workload.serve->slo.tpot_s}),
      wake_(m.sim()),
      counters_(m.trace().enabled()) {
  if (counters_) spans_.emplace(m.trace(), max_request_lanes);
}

serving_instance::~serving_instance() = default;

const routing_sampler& serving_instance::sampler() const noexcept {
  return routing_->sampler();
}

/// The group's scheduler: ep attention-DP ranks' limits, and their KV pools.
serve::scheduler_limits serving_instance::limits() const {
  const auto& sc = s_.workload.serve->scheduler;
  serve::scheduler_limits l;
  l.max_running = sc.max_running * static_cast<std::uint32_t>(ep_);
  l.token_budget = static_cast<std::int64_t>(sc.token_budget) * ep_;
  l.chunk_tokens = sc.chunk_tokens;
  l.chunked_prefill = sc.chunked_prefill;
  l.block_tokens = sc.block_tokens;
  l.kv_blocks = pool_.blocks * ep_;
  if (l.kv_blocks < 1) {
    throw std::invalid_argument(fmt::format(
        "workload: serve: no HBM is left for the KV cache: {:.3g} GiB of KV pool per device "
        "holds no block of {} tokens ({:.3g} KiB per token)",
        pool_.bytes / 1073741824.0, sc.block_tokens, pool_.bytes_per_token / 1024));
  }
  return l;
}

void serving_instance::add(const serve::request& r) {
  scheduler_.add(r);
  wake_.set();
}

void serving_instance::add_with_kv(const serve::request& r, std::int64_t computed) {
  scheduler_.add_with_kv(r, computed);
  wake_.set();
}

void serving_instance::wake() {
  wake_.set();
}

/// The iteration's batch on each device of the group.
pass_shape serving_instance::shape_of(const serve::iteration& it) const {
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

process serving_instance::loop() {
  simulation& sim = m_.sim();
  op_id last = -1;
  while (true) {
    driver_.admit(*this, sim.now());
    if (scheduler_.idle()) {
      if (const auto next = driver_.idle_until(*this, sim.now())) {
        co_await until{*next};
        continue;
      }
      if (driver_.stopped(*this)) break;
      wake_.reset();
      co_await wake_;
      continue;
    }
    const serve::iteration it = scheduler_.next();
    const std::size_t queued = scheduler_.waiting();
    const double kv = scheduler_.kv_utilisation();
    routing_->begin_iteration(iterations_,
                              std::max<std::int64_t>(1, (it.tokens() + ep_ - 1) / ep_));
    const pass_shape shape = shape_of(it);
    model_flops_ += models::forward_flops_per_token(
                        s_.model, static_cast<std::int64_t>(std::llround(shape.keys))) *
                    static_cast<double>(it.tokens());
    const time_ps start = sim.now();
    if (spans_) {
      for (const serve::seq_work& w : it.seqs) spans_->started(w.request, start);
    }
    const pass_request request{0, 0, 0, pass_kind::forward, iterations_, shape, last};
    co_await executor_.run(request, &last);
    for (const serve::finished_request& f : scheduler_.complete(it, sim.now())) {
      stats_.add(f);
      if (spans_) spans_->finished(f);
      driver_.finished(*this, f, sim.now());
    }
    const serve::iteration_sample sample{start, sim.now(), it.seqs.size(), it.tokens(), kv, queued};
    stats_.add(sample);
    if (counters_) {
      trace_recorder& t = m_.trace();
      t.counter(name_, "running sequences", start, static_cast<double>(it.seqs.size()));
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
  const int ep = s.parallelism.ep;
  if (s.model.moe) {
    r.approximations.push_back(fmt::format(
        "routing maths on at most {} sampled tokens per layer and iteration at hidden size {} "
        "(model: {}); a sequence's successive tokens are drawn afresh each iteration",
        in.sampler().sample_tokens(), in.sampler().math_hidden(), s.model.hidden));
  }
  if (ep > 1) {
    r.approximations.push_back(fmt::format(
        "serving: the {} attention-DP ranks of an EP group share one scheduler ({} x the "
        "per-rank limits and KV pool) and split each iteration's sequences evenly",
        ep, ep));
  }
  r.approximations.push_back(fmt::format("op times by roofline with {} us launch overhead per op",
                                         static_cast<double>(launch_overhead_ps) / ps_per_us));
  if (in.exchange_kernel_ps() > 0) {
    r.approximations.push_back(fmt::format(
        "per_copy exchanges run as DeepEP low-latency kernels: {} us fixed per dispatch or "
        "combine (collective.ep_low_latency_kernel_ps)",
        static_cast<double>(in.exchange_kernel_ps()) / ps_per_us));
  }
}

}  // namespace moesim::sim::run
