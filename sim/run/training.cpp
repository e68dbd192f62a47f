// The training step. Every stage of every simulated replica walks the 1F1B schedule
// (interleaved when vp > 1; DualPipe-style forward+backward pairs with workload.overlap),
// activations and gradients sent between stages as flows (pipeline_run.hpp). When a stage's
// passes of the step are done, it reduces its gradients over the data-parallel groups
// (all-reduce, or with ZeRO >= 1 a reduce-scatter, and after the optimizer an all-gather of the
// parameters) — the dense weights over the attention-DP groups (ep x dp replicas), the expert
// weights over the expert-DP groups (dp replicas) — and steps the optimizer, a memory-bound
// Adam update of its shard.
#include <algorithm>
#include <map>
#include <memory>
#include <tuple>

#include "models/model_params.hpp"
#include "sim/run/batch.hpp"
#include "sim/run/drivers.hpp"
#include "sim/run/pipeline_run.hpp"

namespace moesim::sim::run {

namespace {

class training_step {
 public:
  training_step(const scenario& s, pipeline_run& run)
      : s_(s),
        config_(s.workload.training.value_or(training_config{})),
        run_(run),
        m_(run.cluster()),
        tp_(s.parallelism.tp),
        ep_(s.parallelism.ep) {}

  /// A stage's end of step: gradients synchronised, the optimizer stepped, (ZeRO) the updated
  /// parameters gathered.
  task end_of_step(int rep, int stage, int step, op_id* last) {
    simulation& sim = m_.sim();
    const bool zero = config_.zero >= 1;
    const time_ps start = sim.now();
    auto grads = start_sync(
        stage, step, zero ? net::collective_op::reduce_scatter : net::collective_op::all_reduce);
    co_await grads->started;
    co_await grads->done->done;
    if (sim.now() > start) *last = m_.network_op(category::dp_collective, start, *last, stage);
    const time_ps end = optimizer(rep, stage);
    const op_id deps[] = {*last};
    *last = m_.ops().add(category::optimizer, sim.now(), end, deps, stage);
    co_await until{end};
    if (zero) {
      const time_ps gather = sim.now();
      auto params = start_sync(stage, step, net::collective_op::all_gather);
      co_await params->started;
      co_await params->done->done;
      if (sim.now() > gather) *last = m_.network_op(category::dp_collective, gather, *last, stage);
    }
  }

 private:
  /// Parameters one device of `stage` holds, split into those reduced over the attention-DP
  /// group (ep x dp replicas) and the routed experts (dp replicas); already divided by tp.
  struct stage_params {
    double dense = 0;
    double experts = 0;
  };

  /// Gradient reduce-scatter / all-reduce, or the parameter all-gather, of one stage over its
  /// data-parallel groups (every group at once, over the real devices even when folded).
  struct sync {
    sync(simulation& sim, int replicas) : started(sim), waiting(replicas) {}
    flag started;  ///< the collectives are running (done is set)
    int waiting;
    std::shared_ptr<countdown> done;
  };

  [[nodiscard]] stage_params params_of(int stage) const {
    const auto& m = s_.model;
    const model_chunks& chunks = run_.chunks();
    stage_params p;
    const double expert = static_cast<double>(models::expert_params(m));
    const int routed = m.moe ? m.moe->experts : 0;
    for (int c = stage; c < chunks.chunks; c += chunks.pp) {
      for (const int l : chunks.layers(c)) {
        // An MTP module's block is shaped like the last layer (an MoE layer in DeepSeek-V3).
        double all = static_cast<double>(models::layer_params(m, std::min(l, m.layers - 1)));
        if (chunks.is_moe(l)) {
          all -= routed * expert;
          p.experts += routed / ep_ * expert;
        }
        p.dense += all;
      }
    }
    if (stage == 0) p.dense += static_cast<double>(models::embedding_params(m));
    if (stage == chunks.stage_of(chunks.chunks - 1)) {
      p.dense += static_cast<double>(models::lm_head_params(m));
    }
    p.dense /= tp_;
    p.experts /= tp_;
    return p;
  }

  std::shared_ptr<sync> start_sync(int stage, int step, net::collective_op op) {
    const stage_params p = params_of(stage);
    const run::layout& lay = m_.layout();
    const double bytes_per = op == net::collective_op::all_gather
                                 ? models::bytes_per_param(s_.model.dtype)
                                 : models::bytes_per_param(config_.gradients);
    std::vector<std::shared_ptr<const net::collective_plan>> plans;
    auto plan_for = [&](int kind, double bytes, auto groups_of) {
      auto& cached = plans_[{stage, kind, static_cast<int>(op)}];
      if (!cached) {
        net::collective_spec spec;
        spec.op = op;
        spec.bytes = bytes;
        groups_of(spec.groups);
        cached = std::make_shared<net::collective_plan>(
            net::plan_collective(m_.topology(), m_.collective_params(), spec));
      }
      plans.push_back(cached);
    };
    if (ep_ * lay.config().dp > 1 && p.dense > 0) {
      plan_for(0, p.dense * bytes_per, [&](auto& groups) {
        for (int t = 0; t < tp_; ++t) groups.push_back(lay.attention_dp_group(t, stage));
      });
    }
    if (lay.config().dp > 1 && p.experts > 0) {
      plan_for(1, p.experts * bytes_per, [&](auto& groups) {
        for (int t = 0; t < tp_; ++t) {
          for (int e = 0; e < ep_; ++e) groups.push_back(lay.expert_dp_group(t, e, stage));
        }
      });
    }
    // Every simulated replica arrives here; the collectives (spanning all replicas) start when
    // the last one has.
    auto& s = syncs_[{stage, static_cast<int>(op), step}];
    if (!s) s = std::make_shared<sync>(m_.sim(), run_.replicas());
    if (--s->waiting == 0) {
      s->done = std::make_shared<countdown>(m_.sim(), static_cast<int>(plans.size()));
      for (const auto& plan : plans) {
        net::run_collective(m_.network(), m_.sim(), plan, m_.collective_params(),
                            net::protocol::simple, [cd = s->done](time_ps) { cd->one(); });
      }
      s->started.set();
    }
    return s;
  }

  /// Mixed-precision Adam on the device's shard: fp32 master weights and two moments read and
  /// written (24 B), the fp32 gradient read (4 B), the bf16 weight written (2 B) per parameter;
  /// memory-bound. Returns the end on each device of the stage (all equal).
  time_ps optimizer(int rep, int stage) {
    const stage_params p = params_of(stage);
    const double dp = m_.layout().config().dp;
    const double dense_shard = config_.zero >= 1 ? ep_ * dp : 1;
    const double expert_shard = config_.zero >= 1 ? dp : 1;
    const double params = p.dense / dense_shard + p.experts / expert_shard;
    const cluster::op_cost cost{10.0 * params, 30.0 * params};
    const time_ps now = m_.sim().now();
    time_ps end = now;
    for (int e = 0; e < ep_; ++e) {
      end = std::max(end, m_.compute(m_.device(rep, stage, e), category::optimizer,
                                     "optimizer step", now, cost)
                              .end);
    }
    return end;
  }

  const scenario& s_;
  training_config config_;
  pipeline_run& run_;
  machine& m_;
  int tp_;
  int ep_;
  std::map<std::tuple<int, int, int>, std::shared_ptr<const net::collective_plan>> plans_;
  std::map<std::tuple<int, int, int>, std::shared_ptr<sync>> syncs_;
};

}  // namespace

run_result simulate_training(const scenario& s, trace_recorder& trace, const run_options& opt) {
  check_batch(s);
  pipeline_run run(s, trace, opt, /*training=*/true);
  training_step step(s, run);
  return run.run(one_f_one_b, [&step](int rep, int stage, int st, op_id* last) {
    return step.end_of_step(rep, stage, st, last);
  });
}

}  // namespace moesim::sim::run
