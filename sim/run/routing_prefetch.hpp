#pragma once
// Sampled routing computed ahead of the simulation. A simulated step needs one routing per
// (replica, pass, MoE layer); each is real router maths on sampled tokens and, for decode, costs
// far more wall time than the step's events. Routings are pure functions of their key (when the
// scenario does not balance by bias, routing_sampler::independent()), so worker threads compute
// them in a fixed order while the simulation runs, and the simulation takes each one when it
// reaches that layer. Results do not depend on the number of threads or on timing: a routing
// not yet started when it is needed is computed by the caller; while a worker computes the one
// needed, the caller computes the next unstarted one instead of idling.
//
// With bias balancing each routing updates its layer's bias, so a layer's routings form a chain
// computed one at a time in the fixed order (step, micro-batch, replica); different layers'
// chains still run in parallel. A pipeline stage reaches a layer's passes in that order when
// DP replicas are folded, so the results equal computing each routing when the simulation
// reaches it.
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
#include <optional>
#include <thread>
#include <vector>

#include "sim/run/layer_routing.hpp"

namespace moesim::sim::run {

class routing_sampler;

struct routing_key_space {
  int replicas = 1;
  int steps = 1;
  int micro_batches = 1;    ///< simulated per step
  std::vector<int> layers;  ///< MoE layers in forward order (multi-token-prediction ones last)
};

class routing_prefetch {
 public:
  /// `workers` threads compute ahead (0: every routing is computed by take()). Complexity: one
  /// routing per key; O(layers) bookkeeping per routing when chained, O(1) otherwise.
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
  [[nodiscard]] std::size_t chain_length() const;
  [[nodiscard]] std::size_t chain_item(std::size_t ord, std::size_t k) const;
  [[nodiscard]] std::size_t chain_of(std::size_t i) const;
  /// Under mutex_: marks the next routing anyone may start as running; none if none may.
  std::optional<std::size_t> claim();
  /// Under mutex_: marks the next routing of chain c (which must not be busy) as running.
  std::size_t claim_chain(std::size_t c);
  /// Under mutex_: routing i is computed.
  void finish(std::size_t i);
  void compute(std::size_t i, int threads);
  void work();

  routing_sampler& sampler_;
  routing_key_space keys_;
  std::vector<int> ordinal_;  ///< layer -> position in keys_.layers, -1 if not MoE
  std::size_t window_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<item> items_;
  bool chained_;                         ///< bias balancing: each layer's routings in chain order
  std::vector<std::size_t> chain_next_;  ///< per layer: its next routing not yet started
  std::vector<bool> chain_busy_;         ///< per layer: one of its routings is running
  std::size_t next_ = 0;                 ///< lowest index anyone may still claim (unchained)
  std::size_t waiting_ = 0;              ///< done, not yet taken
  std::size_t in_flight_ = 0;            ///< being computed by workers
  bool stop_ = false;
  std::vector<std::jthread> workers_;
};

}  // namespace moesim::sim::run
