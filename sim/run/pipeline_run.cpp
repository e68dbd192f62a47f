#include "sim/run/pipeline_run.hpp"

#include <algorithm>

#include "models/model_params.hpp"
#include "sim/run/batch.hpp"

namespace moesim::sim::run {

namespace {

/// Micro-batches simulated per step: all, or folding.micro_batches when that is fewer.
int folded_micro_batches(const scenario& s) {
  const std::uint32_t fold = s.folding.micro_batches;
  return static_cast<int>(fold > 0 && fold < s.workload.micro_batches ? fold
                                                                      : s.workload.micro_batches);
}

/// One pass's batch on each device: the scenario's batch (batch.hpp), every sequence alike.
pass_shape pass_shape_of(const scenario& s) {
  const auto& w = s.workload;
  const batch_shape b = batch_of(s);
  pass_shape x;
  x.tp = s.parallelism.tp;
  x.sequences = b.pass_sequences;
  x.tokens = b.pass_tokens;
  const double context = std::max<std::uint32_t>(w.context, 1);
  const bool decode = w.kind == workload_kind::decode;
  x.keys = decode ? w.context + 1.0 : (context + 1) / 2;
  x.kv_read_tokens = decode ? w.context : 0;
  x.decode = decode;
  x.kv_dtype = s.precision.kv_or(s.model.dtype);
  return x;
}

/// Every routing the run takes: each replica's passes through each MoE layer.
routing_key_space routing_keys(const model_chunks& chunks, int replicas, int steps,
                               int micro_batches) {
  routing_key_space keys;
  keys.replicas = replicas;
  keys.steps = steps;
  keys.micro_batches = micro_batches;
  for (int chunk = 0; chunk < chunks.chunks; ++chunk) {
    for (const int layer : chunks.layers(chunk)) {
      if (chunks.is_moe(layer)) keys.layers.push_back(layer);
    }
  }
  std::sort(keys.layers.begin(), keys.layers.end());
  return keys;
}

/// Routings computed ahead and not yet taken: about 64 MiB of per-(source, expert) counts.
std::size_t prefetch_window(const scenario& s) {
  constexpr double budget_bytes = 64.0 * 1024 * 1024;
  const double per_routing =
      static_cast<double>(s.parallelism.ep) * (s.model.moe ? s.model.moe->experts : 1) * 8.0;
  return static_cast<std::size_t>(std::clamp(budget_bytes / per_routing, 2.0, 4096.0));
}

}  // namespace

pipeline_routing::pipeline_routing(const scenario& s, const model_chunks& chunks,
                                   routing_key_space keys, std::int64_t tokens,
                                   const ep_nodes& nodes, routing_tally& tally, int threads,
                                   std::vector<std::vector<int>> expert_ranks)
    : training_(chunks.training),
      tally_(tally),
      sampler_(s, s.parallelism.ep, tokens, threads, nodes.node, std::move(expert_ranks)),
      prefetch_(sampler_, std::move(keys), threads - 1, prefetch_window(s)) {}

std::shared_ptr<const layer_routing> pipeline_routing::routing(int rep, int pass, int layer,
                                                               bool forward) {
  const auto key = std::make_tuple(rep, pass, layer);
  if (forward) {
    auto lr = std::make_shared<const layer_routing>(prefetch_.take(rep, pass, layer));
    tally_.record(layer, *lr);
    if (training_) kept_[key] = lr;
    return lr;
  }
  auto it = kept_.find(key);
  auto lr = it->second;
  kept_.erase(it);
  return lr;
}

pipeline_run::pipeline_run(const scenario& s, trace_recorder& trace, const run_options& opt,
                           bool training)
    : s_(s),
      progress_(opt.progress),
      training_(training),
      replicas_(s.folding.dp_replicas ? 1 : s.parallelism.dp),
      micro_batches_(folded_micro_batches(s)),
      steps_(static_cast<int>(s.workload.steps)),
      shape_(pass_shape_of(s)),
      chunks_(s, training),
      m_(s, trace, opt.trace),
      x_(m_, s),
      tally_(s.model.moe ? s.model.moe->experts : 0, s.parallelism.ep),
      residency_(s.moe.placement && s.model.moe
                     ? std::make_unique<expert_residency>(
                           m_, s, static_cast<std::int64_t>(shape_.tokens), training)
                     : nullptr),
      routing_(s, chunks_, routing_keys(chunks_, replicas_, steps_, micro_batches_),
               static_cast<std::int64_t>(shape_.tokens), x_.nodes(), tally_, opt.threads,
               residency_ ? residency_->single_copy_ranks() : std::vector<std::vector<int>>{}),
      executor_(m_, x_, routing_, s, chunks_, residency_ ? &residency_->placement() : nullptr) {
  if (residency_) executor_.observe(residency_.get());
  completions_.assign(static_cast<std::size_t>(micro_batches_), 0);
  const int passes = steps_ * micro_batches_;
  for (int r = 0; r < replicas_; ++r) {
    for (int k = 0; k < 2 * passes * (chunks_.chunks + 1); ++k) {
      ready_.push_back(std::make_unique<ready_entry>(m_.sim()));
    }
  }
}

run_result pipeline_run::run(schedule_fn schedule, step_end end) {
  for (int r = 0; r < replicas_; ++r) {
    for (int st = 0; st < chunks_.pp; ++st) m_.sim().spawn(run_stage(r, st, schedule, end));
  }
  m_.sim().run();
  return result();
}

process pipeline_run::run_stage(int rep, int stage, schedule_fn schedule, const step_end& end) {
  schedule_options o;
  o.pp = chunks_.pp;
  o.vp = s_.parallelism.vp;
  o.micro_batches = micro_batches_;
  o.overlap = s_.workload.overlap;
  const std::vector<pipeline_slot> slots = schedule(o, stage);
  simulation& sim = m_.sim();
  op_id last = -1;
  for (int step = 0; step < steps_; ++step) {
    for (const pipeline_slot& slot : slots) {
      auto cd = std::make_shared<countdown>(sim, static_cast<int>(slot.tasks.size()));
      auto ends = std::make_shared<std::vector<op_id>>();
      for (const pipeline_task& t : slot.tasks) {
        sim.spawn(run_task(rep, stage, step, t, last, cd, ends));
      }
      co_await cd->done;
      for (op_id e : *ends) last = m_.latest(last, e);
    }
    if (residency_) {
      std::vector<int> layers;
      for (int c = stage; c < chunks_.chunks; c += chunks_.pp) {
        for (const int l : chunks_.layers(c)) layers.push_back(l);
      }
      co_await residency_->step_end(rep, stage, step, steps_, layers, &last);
    }
    if (end) co_await end(rep, stage, step, &last);
  }
  end_time_ = std::max(end_time_, sim.now());
}

pipeline_run::ready_entry& pipeline_run::ready(int rep, pass_kind kind, int pass, int model_chunk) {
  const int passes = steps_ * micro_batches_;
  const std::size_t i =
      ((static_cast<std::size_t>(rep) * 2 + (kind == pass_kind::backward ? 1 : 0)) *
           static_cast<std::size_t>(passes) +
       static_cast<std::size_t>(pass)) *
          static_cast<std::size_t>(chunks_.chunks + 1) +
      static_cast<std::size_t>(model_chunk);
  return *ready_[i];
}

process pipeline_run::run_task(int rep, int stage, int step, pipeline_task t, op_id prev,
                               std::shared_ptr<countdown> done,
                               std::shared_ptr<std::vector<op_id>> ends) {
  simulation& sim = m_.sim();
  const bool fwd = t.kind == pass_kind::forward;
  const int model_chunk = t.chunk * chunks_.pp + stage;
  const int pass = step * micro_batches_ + t.micro_batch;
  const int chunks = chunks_.chunks;
  const bool last_chunk = model_chunk == chunks - 1;
  // 1. The input: the previous chunk's activations, the next chunk's gradients (or this
  //    chunk's own forward, on the last chunk), or (decode) the previous step's token.
  op_id cur = prev;
  ready_entry* in = nullptr;
  if (fwd && model_chunk > 0) {
    in = &ready(rep, t.kind, pass, model_chunk);
  } else if (fwd && !training_ && step > 0) {
    in = &ready(rep, t.kind, pass - micro_batches_, chunks);
  } else if (!fwd) {
    in = &ready(rep, t.kind, pass, model_chunk);
  }
  if (in != nullptr) {
    co_await in->available;
    // A zero-length mark keeps both the stage's own order and the input as dependencies, so
    // the critical path can tell a wait for another stage (pipeline bubble) from work.
    const op_id deps[] = {prev, in->op};
    cur = m_.ops().add(category::idle, sim.now(), sim.now(), deps, stage);
  }
  // 2. The pass through the chunk's layers.
  const pass_request request{rep, stage, model_chunk, t.kind, pass, shape_, cur, {}};
  co_await executor_.run(request, &cur);
  // 3. Hand the output on: to the next chunk's stage (forward), the previous chunk's
  //    (backward), this stage's own backward (last chunk), or the next decode step.
  const int next = fwd ? model_chunk + 1 : model_chunk - 1;
  if (next >= 0 && next < chunks) {
    const int to = chunks_.stage_of(next);
    ready_entry& out = ready(rep, t.kind, pass, next);
    if (to == stage) {
      publish(out, cur);
    } else {
      // The send overlaps the stage's next task (Megatron's overlapped p2p communication).
      send(rep, stage, to, cur, out);
    }
  } else if (fwd && training_) {
    publish(ready(rep, pass_kind::backward, pass, model_chunk), cur);
  } else if (fwd) {
    publish(ready(rep, t.kind, pass, chunks), cur);
  }
  // A micro-batch is through the pipeline when its last pass ends (folding measures the
  // steady-state period from these).
  if (rep == 0 && step == 0 && (training_ ? !fwd && model_chunk == 0 : fwd && last_chunk)) {
    completions_[static_cast<std::size_t>(t.micro_batch)] = sim.now();
  }
  if (progress_) {
    progress_(++passes_done_, static_cast<std::uint64_t>(replicas_ * steps_ * micro_batches_ *
                                                         chunks * (training_ ? 2 : 1)));
  }
  ends->push_back(cur);
  done->one();
}

/// Sends the activations (forward) or their gradients (backward) of one micro-batch from every
/// device of stage `from` to the same position of stage `to`, then publishes them.
void pipeline_run::send(int rep, int from, int to, op_id after, ready_entry& out) {
  const int tp = s_.parallelism.tp;
  const int pp = chunks_.pp;
  const double bytes =
      shape_.tokens * s_.model.hidden * models::bytes_per_param(s_.model.dtype) / tp;
  std::vector<net::flow_request> flows;
  for (int e = 0; e < s_.parallelism.ep; ++e) {
    for (int t = 0; t < tp; ++t) {
      flows.push_back({m_.device(rep, from, e, t), m_.device(rep, to, e, t), bytes,
                       static_cast<std::uint64_t>(from * pp + to)});
    }
  }
  const time_ps start = m_.sim().now();
  const std::vector<std::uint32_t> one_group(flows.size(), 0);
  m_.network().start_groups(flows, one_group, 1, [this, start, after, from, &out](std::size_t) {
    publish(out, m_.network_op(category::pipeline_bubble, start, after, from));
  });
}

void pipeline_run::publish(ready_entry& r, op_id op) {
  r.op = op;
  r.available.set();
}

}  // namespace moesim::sim::run
