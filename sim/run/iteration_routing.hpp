#pragma once
// Routing of a serving instance's iterations, each drawn for its own token counts (the routing
// sampler's per-call size), with the router's maths shared between the event loop's thread and
// one worker thread:
//   - while an iteration's events run on the event thread, the worker makes the next
//     iteration's decisions (routing_sampler::decide: the gate maths and top-k, most of a
//     serving run's CPU), guessing it samples as many tokens as this one (true whenever the
//     batch fills the sample);
//   - when the next iteration begins, the event thread makes the layers the worker has not
//     claimed yet itself, side by side with it, and waits once for the rest; a wrong guess is
//     dropped and the decisions made anew the same way;
//   - each layer's decisions are counted for the batch (routing_sampler::count, the
//     batch-scaling draws) by the event thread from the first layer up as its pass asks for
//     them, and by the worker from the last layer down once it has made the next iteration's
//     decisions: they meet once per iteration at most, so the pass rarely waits on the worker
//     (a wake-up costs more than a layer's count). Where the decisions are most of the work
//     (few experts, cheap events) the event thread counts nearly every layer; where the
//     events are (many devices, large exchanges) the worker counts many.
// Decisions and counts are pure functions of (iteration, layer, sample size, token counts)
// when the sampler is independent() (no bias balancing), so outputs do not depend on which
// thread made them, on a wrong guess, or on the thread count; the tally records layers on the
// event thread in the pass's order. With one thread, or with bias balancing, everything is
// computed when asked, in order, on the caller's thread.
//
// Ownership: keeps `tally` by reference; owns its sampler and the worker, which the destructor
// stops and joins. Not thread-safe: one caller (the instance's loop).
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "sim/run/executor.hpp"
#include "sim/run/routing_sampler.hpp"
#include "sim/run/routing_tally.hpp"

namespace moesim::sim::run {

class iteration_routing final : public routing_source {
 public:
  /// `max_tokens_per_source` sizes the sample; `moe_layers` are the MoE layers in pass order.
  /// `threads` > 1 starts the worker (when the sampler is independent()). `expert_ranks`:
  /// routing_sampler's layer_expert_ranks (a moe.placement under a per_rank or hierarchical
  /// exchange).
  iteration_routing(const scenario& s, std::int64_t max_tokens_per_source, const ep_nodes& nodes,
                    routing_tally& tally, int threads, std::vector<int> moe_layers,
                    std::vector<std::vector<int>> expert_ranks = {});
  ~iteration_routing() override;
  iteration_routing(const iteration_routing&) = delete;
  iteration_routing& operator=(const iteration_routing&) = delete;

  /// The next iteration `pass` (consecutive from 0), with tokens_per_source[r] tokens on EP
  /// rank r (routing_sampler::check_counts). Returns when every MoE layer's decisions for it
  /// are made (made now, on both threads, where the worker's guess was wrong or unfinished).
  void begin_iteration(int pass, std::vector<std::int64_t> tokens_per_source);

  /// The current iteration's routing of `layer`, counted for its batch and recorded in the
  /// tally. Layers asked in pass order; another pass or layer is routed on the spot.
  std::shared_ptr<const layer_routing> routing(int, int pass, int layer, bool) override;
  /// The current iteration's routing of MoE layer `layer` ahead of its pass (policy prefetch's
  /// draft predictor), not recorded in the tally: routing() returns the same object later and
  /// records it then. Layers peeked in pass order (with bias balancing, the order of the
  /// decisions is the pass's).
  std::shared_ptr<const layer_routing> peek(int pass, int layer);

  [[nodiscard]] const routing_sampler& sampler() const noexcept { return sampler_; }

 private:
  enum class job_state : unsigned char { free, claimed, done };
  enum class job_kind : unsigned char { count, decide };
  /// One MoE layer's work for one iteration: its decisions, then their count for the batch.
  struct layer_job {
    job_state decide = job_state::free;
    job_state count = job_state::free;
    sampled_decisions decisions;
    std::shared_ptr<const layer_routing> counted;
    std::exception_ptr failure;
  };
  /// Every MoE layer's work for one iteration at one sample size.
  struct iteration_jobs {
    int pass = -1;
    int sample = 0;
    std::vector<std::int64_t> per_source;  ///< the batch's counts, once the iteration began
    std::vector<layer_job> layers;         ///< index = position in layers_
  };

  /// The worker: claims and runs jobs until stopped.
  void work();
  /// Claims a free job under the lock: a decision of next_ (first layer first), else a count
  /// of current_ (last layer first); false when none is free.
  bool claim(job_kind& kind, std::size_t& index);
  /// Runs claimed job (kind, index) with the lock released, then stores it under the lock.
  void run(std::unique_lock<std::mutex>& lock, job_kind kind, std::size_t index);
  /// Makes every free decision of next_ (beside the worker) and waits for the claimed ones.
  void decide_all(std::unique_lock<std::mutex>& lock);
  /// Waits until no job of current_ or next_ is claimed.
  void wait_unclaimed(std::unique_lock<std::mutex>& lock);

  routing_tally& tally_;
  routing_sampler sampler_;
  bool ahead_;
  std::vector<int> layers_;
  std::vector<int> index_of_;  ///< layer -> position in layers_, -1 for a dense layer
  /// Without the worker: routings peek() made for the current iteration, by layer.
  std::vector<std::shared_ptr<const layer_routing>> peeked_;
  std::mutex mutex_;
  std::condition_variable changed_;  ///< a job finished or new ones are free; or stop
  iteration_jobs current_;           ///< the iteration being run (ahead: its decisions made)
  iteration_jobs next_;              ///< the next one's decisions, at a guessed sample size
  bool stop_ = false;
  std::thread worker_;  ///< last member: started once the rest is built
};

}  // namespace moesim::sim::run
