// The aggregated serving loop (workload kind serve without disaggregation). Requests arrive
// (request_source: Poisson, gamma, closed loop or a trace) and join one serving instance over
// the whole cluster (serving_instance.hpp: a continuous-batching scheduler whose iterations the
// pass executor times, with a paged KV cache whose blocks come from the HBM the weights leave
// and preemption by recomputation). When nothing can run the instance sleeps until the next
// arrival. Disaggregated prefill and decode instances: disaggregation.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "sim/run/disaggregation.hpp"
#include "sim/run/drivers.hpp"
#include "sim/run/machine.hpp"
#include "sim/run/routing_tally.hpp"
#include "sim/run/serving_instance.hpp"
#include "sim/run/speculative_grid.hpp"
#include "sim/serve/latency.hpp"
#include "sim/serve/requests.hpp"

namespace moesim::sim::run {

namespace {

class serving_loop final : public serving_driver {
 public:
  serving_loop(const scenario& s, trace_recorder& trace, const run_options& opt)
      : s_(s),
        spec_(*s.workload.serve),
        ep_(s.parallelism.ep),
        closed_(spec_.requests.arrivals == moesim::serve::arrival_kind::closed),
        m_(s, trace, opt.trace),
        tally_(s.model.moe ? s.model.moe->experts : 0, ep_),
        instance_(s, m_, tally_, *this, opt.threads, "serving"),
        requests_(spec_.requests, s.seed),
        progress_(opt.progress) {}

  run_result run() {
    if (closed_) {
      for (std::uint32_t i = 0; i < spec_.requests.concurrency && requests_.can_issue(0); ++i) {
        instance_.add(requests_.next_closed(0));
      }
    }
    m_.sim().spawn(instance_.loop());
    m_.sim().run();
    return result();
  }

  void admit(serving_instance& in, time_ps now) override {
    if (closed_) return;
    while (auto at = requests_.peek_arrival()) {
      if (*at > now) break;
      in.add(*requests_.next_open());
    }
  }
  std::optional<time_ps> idle_until(serving_instance&, time_ps) override {
    return closed_ ? std::nullopt : requests_.peek_arrival();
  }
  bool stopped(const serving_instance&) const override { return true; }
  void finished(serving_instance& in, const serve::finished_request&, time_ps now) override {
    if (closed_ && requests_.can_issue(now)) in.add(requests_.next_closed(now));
  }
  void iterated(serving_instance&, const serve::iteration_sample&) override {
    if (progress_) progress_(requests_.issued(), requests_.issued() + 1);
  }

 private:
  [[nodiscard]] run_result result() const {
    run_result r = serving_result(s_, m_.layout().devices(), instance_.stats().report());
    const auto hits = m_.network().fault_hits();
    r.fault_flows_hit.assign(hits.begin(), hits.end());
    r.device_losses = instance_.device_losses();
    const int iterations = instance_.iterations();
    r.steps = static_cast<std::uint32_t>(iterations);
    r.simulated_time_s = seconds(instance_.last_end());
    r.step_time_s = iterations > 0 ? r.simulated_time_s / iterations : 0;
    serving_model_flops(r, s_, instance_.model_flops());
    r.tokens_per_step = r.serving->batch_tokens_mean;
    r.breakdown_s = m_.ops().critical_path();
    for (auto& [k, v] : r.breakdown_s) v /= std::max(iterations, 1);
    if (tally_.routed_layers() > 0) {
      r.dispatch_bytes_per_step = instance_.dispatch_bytes() / std::max(iterations, 1);
      tally_.fill(r, std::max(iterations, 1), std::max(iterations, 1));
    }
    instance_.fill_devices(r);
    r.layout = m_.layout().describe();
    serving_approximations(r, instance_);
    r.speculative = instance_.speculative();
    r.placement = instance_.placement();
    r.offload = instance_.offload(r.tokens_per_s);
    r.events = m_.sim().events_processed();
    return r;
  }

  const scenario& s_;
  const moesim::serve::serve_spec& spec_;
  int ep_;
  bool closed_;
  machine m_;
  routing_tally tally_;
  serving_instance instance_;
  serve::request_source requests_;
  progress_fn progress_;
};

}  // namespace

run_result simulate_serving(const scenario& s, trace_recorder& trace, const run_options& opt) {
  if (s.workload.serve->disaggregation) return simulate_disaggregated(s, trace, opt);
  serving_loop loop(s, trace, opt);
  run_result r = loop.run();
  if (s.workload.serve->speculative && !s.workload.serve->speculative->batch_sizes.empty()) {
    // The grid's points: each its own untraced serving run on one thread.
    run_options point_opt;
    point_opt.threads = 1;
    auto points = speculative_grid(s, opt.threads, [&](const scenario& p) {
      trace_recorder off(false);
      serving_loop point(p, off, point_opt);
      return point.run();
    });
    if (!r.speculative) {
      const auto& sp = *s.workload.serve->speculative;
      r.speculative.emplace();
      r.speculative->drafter = moesim::serve::to_string(sp.drafter);
      r.speculative->policy = moesim::serve::to_string(sp.policy);
      r.speculative->acceptance_source = sp.acceptance_source;
    }
    r.speculative->points = std::move(points);
  }
  return r;
}

}  // namespace moesim::sim::run
