#pragma once
// One serving instance: an EP group's devices, each attention-DP rank (EP rank with its TP
// peers) running its own continuous-batching scheduler (serve::scheduler, vLLM v1's policy)
// with its own limits and KV pool, all ranks stepping in lockstep; the pass executor times each
// iteration through the model with every rank's own sequences (new tokens and cached context).
// Aggregated serving runs one instance over the whole cluster; a disaggregated run
// (disaggregation.hpp) runs prefill and decode instances side by side on disjoint devices of
// one shared cluster.
//
// The instance's loop is one process: admit what the driver has for it, form a batch, time it,
// retire it (finished requests go back to the driver), repeat; when nothing can run it asks the
// driver how to wait (until a time, or until wake()). The driver supplies those decisions
// through `serving_driver`; the loop itself is the same for every driver.
//
// Attention-DP, as TensorRT-LLM (enable_attention_dp) and SGLang (--enable-dp-attention) serve:
//  - a request joins one rank when it is added and stays there (its KV cache lives there):
//    the rank holding the fewest prompt tokens of unfinished requests, then the fewest such
//    requests, then the lowest rank. This is TensorRT-LLM's key (NVIDIA/TensorRT-LLM,
//    tensorrt_llm/_torch/pyexecutor/executor_request_queue.py, _balance_requests_across_ranks:
//    a heap on (active prompt tokens, active requests, rank)), applied on arrival as SGLang's
//    DP controller dispatches (sgl-project/sglang, python/sglang/srt/managers/
//    data_parallel_controller.py; its default is round-robin, which this equals for requests
//    of one length). TensorRT-LLM assigns when it activates a request from a global queue and
//    caps each rank's share; here a rank queues what it was given.
//  - each iteration every rank forms its own batch under its own max_running, token_budget and
//    KV pool (preemption is per rank); the iteration is one forward pass of the whole group,
//    each rank with its own shape (pass_request::ranks), ending when the slowest rank is done,
//    since the MoE all-to-alls are collective. A rank with nothing to run joins with an empty
//    batch (SGLang's idle batch, TensorRT-LLM's dummy request).
// One data-parallel replica (check_feasible refuses dp > 1 for serving).
//
// Ownership: the instance keeps `s` and `m` by reference (the caller keeps them alive); it owns
// its exchange, routing, executor, scheduler and statistics.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "sim/engine/process.hpp"
#include "sim/run/device_loss.hpp"
#include "sim/run/exchange.hpp"
#include "sim/run/executor.hpp"
#include "sim/run/expert_prefetch.hpp"
#include "sim/run/expert_residency.hpp"
#include "sim/run/feasibility.hpp"
#include "sim/run/machine.hpp"
#include "sim/run/model_chunks.hpp"
#include "sim/run/request_spans.hpp"
#include "sim/run/result.hpp"
#include "sim/run/routing_sampler.hpp"
#include "sim/run/routing_tally.hpp"
#include "sim/run/speculation.hpp"
#include "sim/serve/latency.hpp"
#include "sim/serve/scheduler.hpp"

namespace moesim::sim::run {

class serving_instance;
class iteration_routing;

/// What an instance's loop asks of its driver.
class serving_driver {
 public:
  virtual ~serving_driver() = default;
  /// Before each batch is formed: hand the instance what has arrived for it by `now`.
  virtual void admit(serving_instance& in, time_ps now) = 0;
  /// The instance is idle at `now`: the time to look again, or nullopt to wait for wake() (or
  /// for ever, when stopped() says no work will come).
  virtual std::optional<time_ps> idle_until(serving_instance& in, time_ps now) = 0;
  /// Whether no more work will ever come to `in` (its loop then ends when idle).
  virtual bool stopped(const serving_instance& in) const = 0;
  /// A request finished on `in` at `now` (the end of its last iteration).
  virtual void finished(serving_instance& in, const serve::finished_request& f, time_ps now) = 0;
  /// After each iteration, with its sample (progress reports, role figures).
  virtual void iterated(serving_instance&, const serve::iteration_sample&) {}
};

class serving_instance {
 public:
  /// `name` labels the trace counters ("serving" for an aggregated run).
  serving_instance(const scenario& s, machine& m, routing_tally& tally, serving_driver& driver,
                   int threads, std::string name);
  ~serving_instance();
  serving_instance(const serving_instance&) = delete;
  serving_instance& operator=(const serving_instance&) = delete;

  /// The loop, to spawn on the machine's simulation.
  process loop();

  /// Queues a request (FCFS) on the rank the assignment policy picks, and wakes the loop if it
  /// sleeps. O(ranks).
  void add(const serve::request& r);
  /// Queues a request whose first `computed` prompt tokens already have their KV on attention-DP
  /// rank `rank` (sent there from a prefill instance), and wakes the loop if it sleeps.
  void add_with_kv(const serve::request& r, std::int64_t computed, int rank);
  /// Wakes the loop if it waits for work (no-op otherwise).
  void wake();

  [[nodiscard]] const scenario& scenario_of() const noexcept { return s_; }
  [[nodiscard]] machine& machine_of() noexcept { return m_; }
  [[nodiscard]] const machine& machine_of() const noexcept { return m_; }
  /// Attention-DP ranks (the EP degree), each with its scheduler.
  [[nodiscard]] int ranks() const noexcept { return ep_; }
  [[nodiscard]] const serve::scheduler& scheduler_of(int rank) const {
    return ranks_.at(static_cast<std::size_t>(rank));
  }
  /// The rank a request was given, from its add() until its finished() call to the driver
  /// returns. Throws std::out_of_range for a request the instance does not hold.
  [[nodiscard]] int rank_of(std::uint64_t request) const { return rank_of_.at(request); }
  /// Whether no rank has work waiting or running.
  [[nodiscard]] bool idle() const noexcept;
  [[nodiscard]] const serve::serving_stats& stats() const noexcept { return stats_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] int iterations() const noexcept { return iterations_; }
  [[nodiscard]] time_ps last_end() const noexcept { return end_time_; }
  [[nodiscard]] double dispatch_bytes() const noexcept { return executor_.dispatch_bytes(); }
  /// The `placement` metrics (moe.placement), per iteration; nullopt without.
  [[nodiscard]] std::optional<placement_report> placement() const;
  /// Model FLOPs of every iteration so far: its tokens at its mean attention span (the
  /// forward's count, models::forward_flops_per_token).
  [[nodiscard]] double model_flops() const noexcept { return model_flops_; }
  [[nodiscard]] const routing_sampler& sampler() const noexcept;
  /// Speculative decoding's figures, when the instance speculates.
  [[nodiscard]] std::optional<speculative_report> speculative() const;
  /// Expert offloading's figures (`offload:`), per iteration; nullopt without.
  [[nodiscard]] std::optional<offload_report> offload(double tokens_per_s) const;
  [[nodiscard]] time_ps exchange_kernel_ps() const noexcept { return x_.kernel_ps(); }
  /// Per device of the instance, in layout order: busy seconds per iteration, the memory plan.
  void fill_devices(run_result& r) const;
  /// What each device_loss fault did (device_loss.hpp), in the order applied; empty without.
  [[nodiscard]] std::vector<device_loss_report> device_losses() const;

 private:
  /// A rank's work so far not finished: the assignment policy's key.
  struct rank_load {
    std::int64_t prompt_tokens = 0;
    std::int64_t requests = 0;
  };
  [[nodiscard]] serve::scheduler_limits limits() const;
  [[nodiscard]] pass_shape shape_of(const serve::iteration& it) const;
  [[nodiscard]] int pick_rank() const;
  void assign(const serve::request& r, int rank);
  /// Takes finished request r off its rank's load (rank_of stays until the driver has seen it).
  void release(const serve::request& r);
  /// Applies the device losses due at `now` (serving_device_loss.cpp, device_loss.hpp).
  void apply_device_losses(time_ps now);

  const scenario& s_;
  machine& m_;
  serving_driver& driver_;
  std::string name_;
  int ep_;
  serve_kv_pool pool_;
  model_chunks chunks_;
  expert_exchange x_;
  expert_placement placement_;  ///< the target's experts (replicas under policy divided)
  std::unique_ptr<expert_residency> residency_;  ///< with moe.placement: the passes' experts
  /// With device_loss faults: their figures (hears the passes before residency_ does).
  std::unique_ptr<device_loss_tracker> loss_;
  std::vector<std::uint8_t> lost_;  ///< [rank]: lost to a device_loss (admits nothing)
  std::unique_ptr<iteration_routing> routing_;
  std::unique_ptr<speculation> spec_;  ///< with workload.serve.speculative (policy not none)
  pass_executor executor_;
  /// Policy prefetch (with `offload:`): preloads the verification's predicted experts.
  std::unique_ptr<speculative_prefetch> prefetch_;
  std::vector<serve::scheduler> ranks_;  ///< index = attention-DP (EP) rank
  std::vector<rank_load> load_;          ///< index = rank
  std::unordered_map<std::uint64_t, int> rank_of_;
  serve::serving_stats stats_;
  flag wake_;
  bool counters_ = false;
  std::optional<request_spans> spans_;  ///< each request on the trace, when one is recorded
  double model_flops_ = 0;              ///< the forward's model FLOPs of every iteration
  int iterations_ = 0;
  time_ps end_time_ = 0;
};

/// A serving run's result as far as the scenario, the device count and the serving figures
/// say: names, `serving`, output token rates and cost. O(1).
[[nodiscard]] run_result serving_result(const scenario& s, int devices,
                                        serve::serving_report report);

/// model_tflops_per_device and mfu of `r` (its simulated time and devices set) from the model
/// FLOPs its instances computed. O(1).
void serving_model_flops(run_result& r, const scenario& s, double model_flops);

/// The approximations a serving run with instance `in` names (routing maths, roofline op
/// times, DeepEP kernels), appended to r.approximations.
void serving_approximations(run_result& r, const serving_instance& in);

}  // namespace moesim::sim::run
