#pragma once
// Sampled routing computed ahead of the simulation. A simulated step needs one routing per
// (replica, pass, MoE layer); each is real router maths on sampled tokens and, for decode, costs
// far more wall time than the step's events. Routings are pure functions of their key (when the
// scenario does not balance by bias, routing_sampler::independent()), so worker threads compute
// them in a fixed order while the simulation runs, and the simulation takes each one when it
// reaches that layer. Results do not depend on the number of threads or on timing: a routing
// not yet started when it is needed is computed by the caller; while a worker computes the one
// needed, the caller computes the next unstarted one instead of idling. With bias balancing
// there are no workers: take() computes each routing in the order it is asked for.
//
// Order: by step, then layer, then micro-batch, then replica, the order a decode step (and a
// pipeline stage) reaches them. At most `window` finished routings wait to be taken, which bounds
// memory.
//
// Thread safety: take() is called from one thread (the simulation's). The sampler must outlive
// this object; the destructor stops and joins the workers.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "sim/run/routing_sampler.hpp"

namespace moesim::sim::run {

struct routing_key_space {
  int replicas = 1;
  int steps = 1;
  int micro_batches = 1;    ///< simulated per step
  std::vector<int> layers;  ///< MoE layers in forward order (multi-token-prediction ones last)
};

class routing_prefetch {
 public:
  /// `workers` threads compute ahead (0, or a sampler whose routings depend on one another:
  /// every routing is computed by take()). Complexity: one routing per key, O(1) bookkeeping.
  routing_prefetch(routing_sampler& sampler, routing_key_space keys, int workers,
                   std::size_t window);
  routing_prefetch(const routing_prefetch&) = delete;
  routing_prefetch& operator=(const routing_prefetch&) = delete;
  ~routing_prefetch();

  /// The routing of (replica, pass, layer); each key is taken at most once. Rethrows what the
  /// sampler threw for it.
  layer_routing take(int replica, int pass, int layer);

 private:
  enum class state : std::uint8_t { pending, running, done, taken };
  struct item {
    state st = state::pending;
    std::unique_ptr<layer_routing> result;
    std::exception_ptr error;
  };
  [[nodiscard]] std::size_t index_of(int replica, int pass, int layer) const;
  void compute(std::size_t i, int threads);
  void work();

  routing_sampler& sampler_;
  routing_key_space keys_;
  std::vector<int> ordinal_;  ///< layer -> position in keys_.layers, -1 if not MoE
  std::size_t window_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<item> items_;
  std::size_t next_ = 0;     ///< lowest index a worker may still claim
  std::size_t waiting_ = 0;  ///< done, not yet taken
  bool stop_ = false;
  std::vector<std::jthread> workers_;
};

}  // namespace moesim::sim::run
