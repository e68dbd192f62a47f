// The metrics of a pipeline run (pipeline_run.hpp): step time, throughput, MFU, the critical
// path's breakdown, routing figures, per-device figures and the approximations in force.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "models/model_params.hpp"
#include "models/routing_trace.hpp"
#include "sim/run/batch.hpp"
#include "sim/run/feasibility.hpp"
#include "sim/run/pipeline_run.hpp"

namespace moesim::sim::run {

namespace {

/// Spreads `extra` seconds over the categories of the pipeline's steady state (everything but
/// the bubble and the once-per-step gradient sync and optimizer), in proportion.
void stretch(breakdown& b, double extra) {
  if (extra <= 0) return;
  auto steady = [](const std::string& k) {
    return k != "pipeline_bubble" && k != "dp_collective" && k != "optimizer";
  };
  double base = 0;
  for (const auto& [k, v] : b) base += steady(k) ? v : 0;
  if (base <= 0) return;
  for (auto& [k, v] : b) v += steady(k) ? extra * v / base : 0;
}

}  // namespace

/// Model FLOPs per step: Megatron's count for training; the forward's for inference.
double pipeline_run::model_flops_per_step() const {
  const auto& w = s_.workload;
  const double tokens = batch_of(s_).step_tokens;
  if (training_) return training_model_flops_per_token(s_.model, w.context) * tokens;
  const double keys = w.kind == workload_kind::prefill ? (w.context + 1.0) / 2 : w.context + 1.0;
  return models::forward_flops_per_token(s_.model, static_cast<std::int64_t>(keys)) * tokens;
}

run_result pipeline_run::result() const {
  const run::layout& lay = m_.layout();
  run_result r;
  r.scenario = s_.name;
  r.variant = s_.variant;
  r.seed = s_.seed;
  const auto hits = m_.network().fault_hits();
  r.fault_flows_hit.assign(hits.begin(), hits.end());
  r.workload = training_                                    ? "train"
               : s_.workload.kind == workload_kind::prefill ? "prefill"
                                                            : "decode";
  r.network_model = s_.network.model == network_model::flow ? "flow" : "analytical";
  r.devices = lay.devices();
  r.steps = s_.workload.steps;
  const time_ps extra = folded_time();
  r.simulated_time_s = seconds(end_time_ + extra);
  r.step_time_s = r.simulated_time_s / r.steps;
  r.tokens_per_step = batch_of(s_).step_tokens;
  r.tokens_per_s = r.step_time_s > 0 ? r.tokens_per_step / r.step_time_s : 0;
  r.tokens_per_s_per_device = r.tokens_per_s / r.devices;
  const double flops_per_s_per_device =
      r.step_time_s > 0 ? model_flops_per_step() / r.step_time_s / r.devices : 0;
  r.model_tflops_per_device = flops_per_s_per_device / 1e12;
  const double peak = cluster::rates_for(s_.chip, format_of(s_.model.dtype), 0).flops_per_s /
                      s_.chip.efficiency.compute.value_or(1.0);
  r.mfu = peak > 0 ? flops_per_s_per_device / peak : 0;
  if (s_.chip.price_usd_per_hour && r.tokens_per_s > 0) {
    r.cost_usd_per_million_tokens =
        *s_.chip.price_usd_per_hour * r.devices / 3600.0 / r.tokens_per_s * 1e6;
  }
  r.breakdown_s = m_.ops().critical_path(busiest_stage());
  stretch(r.breakdown_s, seconds(extra));
  for (auto& [k, v] : r.breakdown_s) v /= r.steps;
  if (tally_.routed_layers() > 0) {
    r.dispatch_bytes_per_step = executor_.dispatch_bytes() / r.steps;
    if (residency_) r.placement = residency_->report(r.steps);
    tally_.fill(r, static_cast<double>(steps_) * micro_batches_ * replicas_,
                static_cast<double>(steps_ * replicas_));
  }
  const std::vector<cluster::memory_plan> memory = stage_memory_plans(s_);
  for (int d = 0; d < r.devices; ++d) {
    const coords c = lay.of(d);
    const device_state& st = m_.dev(m_.device(replicas_ == 1 ? 0 : c.dp, c.pp, c.ep));
    const double memory_bytes = memory[static_cast<std::size_t>(c.pp)].total_bytes;
    // Per step, the folded micro-batches included.
    const double per_step =
        static_cast<double>(s_.workload.micro_batches) / micro_batches_ / r.steps;
    r.per_device.push_back(
        {seconds(st.compute.busy_ps()) * per_step, seconds(st.hbm.busy_ps()) * per_step,
         seconds(st.network_busy) * per_step, st.tokens_in * per_step, memory_bytes});
    r.peak_hbm_bytes = std::max(r.peak_hbm_bytes, memory_bytes);
  }
  r.layout = lay.describe();
  approximations(r);
  r.events = m_.sim().events_processed();
  if (const expert_offload* o = executor_.offload()) r.offload = o->report(r.steps, r.tokens_per_s);
  return r;
}

/// The pipeline stage whose devices computed longest (replica 0): the bottleneck whose timeline
/// the breakdown follows.
int pipeline_run::busiest_stage() const {
  int best = 0;
  time_ps most = -1;
  for (int st = 0; st < chunks_.pp; ++st) {
    for (int e = 0; e < s_.parallelism.ep; ++e) {
      const time_ps busy = m_.dev(m_.device(0, st, e)).compute.busy_ps();
      if (busy > most) {
        most = busy;
        best = st;
      }
    }
  }
  return best;
}

/// Folding of micro-batches: the time the unsimulated ones add, at the steady-state period P
/// measured between completions of micro-batches 1 .. N-pp-1 of the first step (the pipeline's
/// pace once filled, before the cool-down): (M - N) * P per step.
time_ps pipeline_run::folded_time() const {
  const int total = static_cast<int>(s_.workload.micro_batches);
  if (micro_batches_ >= total) return 0;
  const int first = 1;
  const int last = micro_batches_ - chunks_.pp - 1;
  const time_ps period = (completions_[static_cast<std::size_t>(last)] -
                          completions_[static_cast<std::size_t>(first)]) /
                         (last - first);
  return period * (total - micro_batches_) * steps_;
}

void pipeline_run::approximations(run_result& r) const {
  const routing_sampler& sampler = routing_.sampler();
  const std::string scaling =
      tally_.scaled() ? "; per-device counts scaled to the full batch by multinomial draws" : "";
  if (s_.sampling.trace) {
    const std::string& file = s_.sampling.routing_trace.file;
    r.approximations.push_back(fmt::format("routing replayed from {} ({} tokens per layer){}", file,
                                           sampler.sample_tokens(), scaling));
    const auto missing = models::unrecorded_layers(*s_.sampling.trace, s_.model, training_);
    if (!missing.empty()) {
      r.approximations.push_back(fmt::format(
          "routing trace reuse cyclic: {} of the {} routed MoE layers are not in {} and replay "
          "its recorded layers in turn",
          missing.size(), models::routed_layers(s_.model, training_).size(), file));
    }
  } else if (s_.model.moe) {
    r.approximations.push_back(fmt::format(
        "routing maths on {} sampled tokens per layer and micro-batch at hidden size {} "
        "(model: {}){}",
        sampler.sample_tokens(), sampler.math_hidden(), s_.model.hidden, scaling));
  }
  if (s_.network.model == network_model::flow && s_.network.resolve_quantum > 0) {
    r.approximations.push_back(
        fmt::format("flow network re-solved at most every {} x busy time after finishes",
                    s_.network.resolve_quantum));
  }
  if (x_.kernel_ps() > 0) {
    r.approximations.push_back(fmt::format(
        "decode per_copy exchanges run as DeepEP low-latency kernels: {} us fixed per dispatch "
        "or combine (collective.ep_low_latency_kernel_ps)",
        static_cast<double>(x_.kernel_ps()) / ps_per_us));
  }
  r.approximations.push_back(cluster::roofline_approximation(m_.rates()));
  const auto absent = cluster::absent_efficiencies(s_.chip, format_of(s_.model.dtype));
  if (!absent.empty()) {
    r.approximations.push_back(fmt::format(
        "chip {} has no measured efficiency.{}: {}", s_.chip.name,
        fmt::join(absent, ", efficiency."),
        "compute and HBM at datasheet peak, fp8 GEMMs at the bf16 factor, attention at the GEMM "
        "factor, where absent"));
  }
  if (micro_batches_ < static_cast<int>(s_.workload.micro_batches)) {
    r.approximations.push_back(fmt::format(
        "folding.micro_batches: {} of {} micro-batches per step simulated; the rest added at "
        "the measured steady-state period of {:.6g} s each, spread over the steady-state "
        "categories of the breakdown",
        micro_batches_, s_.workload.micro_batches,
        seconds(folded_time()) / steps_ /
            (static_cast<double>(s_.workload.micro_batches) - micro_batches_)));
  }
  if (replicas_ < m_.layout().config().dp) {
    r.approximations.push_back(fmt::format(
        "folding.dp_replicas: 1 of {} data-parallel replicas simulated, its figures copied to "
        "the others; gradient collectives run over all devices",
        m_.layout().config().dp));
  }
  if (s_.parallelism.tp > 1) {
    r.approximations.push_back(
        "tensor parallelism without sequence parallelism: an all-reduce after attention and "
        "after the FFN / MoE block; each expert split over the TP ranks, which all receive its "
        "tokens");
  }
}

}  // namespace moesim::sim::run
