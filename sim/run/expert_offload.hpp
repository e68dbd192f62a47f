#pragma once
// Expert offloading (`offload:`): each device's routed experts live in host memory and an HBM
// cache holds some of them (mixtral-offloading, Eliseev & Mazur 2023, arXiv:2312.17238;
// MoE-Infinity; Fiddler, Kamahori et al. 2024, arXiv:2402.07033). The non-expert weights
// (attention, embeddings, head, norms, routers, shared experts) stay in HBM.
//
// At each forward MoE layer, once the routing is known, every active expert of a device (one
// with at least one token) is looked up in the device's cache:
//  - hit: it computes from HBM as usual (an expert prefetched but still in flight is a hit
//    that waits for its flow);
//  - miss, `miss: fetch`: its weights (expert_params x the experts' stored bytes per parameter)
//    come over the device's host link (the topology's PCIe link host -> device) as one flow on
//    the machine's network, contending with every other flow there; it enters the cache
//    (evicting per the policy; the layer's own active experts are never evicted for it; with
//    no room it streams through a transient buffer);
//  - miss, `miss: cpu`: it runs on the host CPU instead: its tokens' activations go device ->
//    host over PCIe, the CPU computes max(FLOPs / CPU FLOP/s, weight bytes / DRAM bandwidth)
//    (memory-bound at batch 1: Fiddler's argument), the outputs come back host -> device; one
//    host runs its experts one after another. The device computes its hits.
// A device's experts start when their tokens are in and their weights are in HBM (all of the
// rank's experts run as one grouped kernel, so they wait for the last fetch); the time they
// waited past their tokens' arrival is the stall.
//
// Prefetch (of the next MoE layer's experts of the same pass, started when this layer's
// routing is known, so the flows overlap this layer's dispatch, experts and combine and the
// next attention): `gate` predicts each expert the next layer will use with probability
// `prefetch_accuracy`, else a uniformly drawn expert of the device the layer will not use
// (the project RNG, seeded by the scenario seed); `previous_token` predicts the experts the
// next layer used in the previous pass. Predicted experts not in the cache are fetched and
// enter it; prefetch accuracy is the share of prefetched experts the next layer used.
//
// Caches: `cache_experts_per_layer` k: one cache of k experts per (device, MoE layer), as
// mixtral-offloading's per-layer LRU; `cache_experts` n or `cache_bytes` b: one cache of n
// (b / expert bytes, rounded down) experts per device over all its layers. LRU evicts the
// least recently used; LFU the least used since it entered, ties to the least recent. The
// caches start full (loaded before the run): each layer's first experts of the device, taken
// layer by layer for one shared cache. Under `miss: cpu` nothing is ever fetched, so the
// cached set stays the loaded one (Fiddler's static placement, here by index, not popularity).
//
// Speculative prefetch (policy prefetch, expert_prefetch.hpp) preloads the experts a
// verification is predicted to touch through preload(): queued on one copy stream per device
// (each fetch starts when the one before it has landed, as cudaMemcpyAsync calls on one stream
// run), entering the cache at once; a layer that needs one still queued or on the wire waits
// for it as for any in-flight fetch.
//
// Scope: fixed-batch decode and prefill (forward passes) and aggregated serving (one pass per
// iteration; the caches persist across iterations), tp 1, the contiguous expert split.
// Complexity: O(active experts x cache capacity) per layer and device (victim scans).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "sim/engine/random.hpp"
#include "sim/engine/time.hpp"
#include "sim/run/config.hpp"
#include "sim/run/result.hpp"
#include "sim/run/layer_routing.hpp"
#include "sim/run/scenario.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::run {

class machine;
struct countdown;

/// One HBM expert cache (a pure component). Keys are any integers (layer * experts + expert).
class expert_cache {
 public:
  expert_cache(int capacity, offload_policy policy) : capacity_(capacity), policy_(policy) {}

  [[nodiscard]] bool contains(std::int64_t key) const { return entries_.count(key) != 0; }
  /// Records a use of a resident `key` (recency, and frequency for LFU). O(log n).
  void touch(std::int64_t key);
  /// Makes `key` resident (a use), evicting a victim not in `pinned` when full. Returns the
  /// evicted key, -1 when none was; false in `*inserted` when the cache had no room (capacity 0
  /// or every resident pinned). O(capacity).
  std::int64_t insert(std::int64_t key, std::span<const std::int64_t> pinned, bool* inserted);
  [[nodiscard]] int capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct entry {
    std::uint64_t last_use = 0;
    std::uint64_t uses = 0;
  };
  int capacity_;
  offload_policy policy_;
  std::uint64_t clock_ = 0;
  std::map<std::int64_t, entry> entries_;
};

/// Bytes of one routed expert's weights as stored (model_spec::expert_dtype).
[[nodiscard]] double offload_expert_bytes(const scenario& s);
/// The cache's capacity in experts on one device holding `moe_layers` MoE layers.
[[nodiscard]] int offload_cache_experts(const scenario& s, int moe_layers);

/// Predicted experts (indices in [0, per_rank)) for an expert set `truth`: each of `truth` with
/// probability `accuracy`, else a uniformly drawn expert neither in `truth` nor predicted yet
/// (none when every one is). Gate prefetch and policy prefetch's draft predictor draw this way
/// from their own streams. O(truth x per_rank).
[[nodiscard]] std::vector<int> predict_experts(std::span<const int> truth, int per_rank,
                                               double accuracy, rng& gen);

/// Seconds the host CPU takes to run one expert over `copies` routed tokens:
/// max(2 x expert_params x copies / FLOP/s, stored weight bytes / DRAM bytes/s), the FLOP/s
/// the bf16 rate when the model's activations are bf16 and the CPU has one, else fp32.
[[nodiscard]] double host_expert_seconds(const scenario& s, const topo::host_cpu_spec& cpu,
                                         double copies);

/// The offload component of one machine: the caches, flows, host timelines and figures.
class expert_offload {
 public:
  expert_offload(machine& m, const scenario& s);

  /// One layer pass's plan, filled by begin_layer and completed as its flows land.
  struct layer_plan {
    std::vector<double> ready;        ///< per EP rank: when its fetched weights are all in
    std::vector<double> cpu_done;     ///< per EP rank: when its host-run experts' outputs are in
    std::vector<double> gpu_copies;   ///< per EP rank: copies its device computes
    std::vector<int> gpu_active;      ///< per EP rank: experts its device computes
    std::shared_ptr<countdown> done;  ///< one per rank: every flow of the rank has landed
  };

  /// At a forward MoE layer of (rep, stage) whose routing is `lr`, at now: looks up, fetches
  /// or sends to the host every active expert, and prefetches for `next` (the next MoE layer's
  /// routing of the same pass, null when none or prefetch is not gate; `next_layer` -1 when
  /// none). Times in ready/cpu_done are picoseconds.
  std::shared_ptr<layer_plan> begin_layer(int rep, int stage, int layer,
                                          const layer_routing& lr, const layer_routing* next,
                                          int next_layer);
  /// Records the wait of a layer's critical rank (ps) for stall_s.
  void note_stall(time_ps waited) { stall_ps_ += waited; }
  /// Whether gate prefetch wants the next layer's routing at this layer.
  [[nodiscard]] bool wants_lookahead() const noexcept {
    return cfg_.prefetch == offload_prefetch::gate;
  }

  /// The figures (tokens_per_s and stall per step filled from `steps` and `tokens_per_s`).
  [[nodiscard]] offload_report report(std::uint32_t steps, double tokens_per_s) const;

  /// Running totals so far (an iteration's figures are the difference of two).
  struct totals {
    double lookups = 0;        ///< active experts looked up
    double hits = 0;           ///< of which found in the cache
    double bytes_fetched = 0;  ///< host -> device, demand, prefetch and preload
  };
  [[nodiscard]] totals running_totals() const noexcept { return {lookups_, hits_, bytes_fetched_}; }

  /// One MoE layer's experts of one EP rank (indices in [0, experts / ep)).
  struct layer_experts {
    int layer = 0;
    std::vector<int> experts;
  };
  /// Speculative prefetch: from now, every expert of `wanted` not resident on EP rank `rank`'s
  /// device of (rep, stage) enters its cache (evicting per the policy, never another of
  /// `wanted`; with no room it is skipped) and is fetched on the device's copy stream, in the
  /// order given. Returns the experts fetched, layer by layer as given. O(wanted x capacity).
  std::vector<layer_experts> preload(int rep, int stage, int rank,
                                     std::span<const layer_experts> wanted);
  /// Token copies routed to each expert of MoE layer `layer` by the forward passes so far
  /// (index = expert): the context policy prefetch's prompt predictor ranks. O(1).
  [[nodiscard]] std::span<const double> routed(int layer) const;
  [[nodiscard]] int experts_per_rank() const noexcept { return per_rank_; }
  [[nodiscard]] double expert_bytes() const noexcept { return expert_bytes_; }

 private:
  struct inflight {
    time_ps done_at = -1;  ///< -1 while the flow is on the wire
    std::vector<std::function<void(time_ps)>> waiters;
  };
  struct device_caches {
    std::vector<expert_cache> caches;  ///< one per MoE layer, or one for all
    std::map<std::int64_t, std::shared_ptr<inflight>> flows;  ///< fetches of resident keys
    std::map<std::int64_t, bool> prefetched;  ///< resident prefetched keys, used yet?
    /// The copy stream of preload(): fetches waiting for the one on the wire (`copying`).
    std::vector<std::shared_ptr<inflight>> queue;
    std::size_t queue_next = 0;
    bool copying = false;
  };
  /// Starts the next queued preload of device d when its copy stream is idle.
  void pump(topo::device_id d, device_caches& c);
  /// The caches of device d (EP rank `rank`), made and filled on first use.
  device_caches& caches_of(topo::device_id d, int rank);
  expert_cache& cache_for(device_caches& c, int layer);
  [[nodiscard]] std::int64_t key(int layer, int expert) const noexcept {
    return static_cast<std::int64_t>(layer) * experts_ + expert;
  }
  /// Starts a host -> device fetch of one expert; returns its in-flight record.
  std::shared_ptr<inflight> fetch(topo::device_id d, double bytes);
  void prefetch(topo::device_id d, int rank, int layer, std::span<const int> predicted,
                std::span<const std::int64_t> pinned);

  machine& m_;
  const scenario& s_;
  offload_config cfg_;
  int experts_ = 0;
  int per_rank_ = 0;
  int moe_layers_ = 0;
  int capacity_ = 0;
  double expert_bytes_ = 0;
  double token_bytes_ = 0;  ///< one token's activations (hidden x the model's dtype)
  rng gen_;
  std::map<topo::device_id, device_caches> devices_;
  std::map<int, time_ps> host_free_;  ///< per host vertex: when its CPU is next free
  /// Previous pass's active experts per (device, layer), for previous_token prefetch.
  std::map<std::pair<topo::device_id, int>, std::vector<int>> last_active_;
  std::vector<double> layer_hits_, layer_lookups_;
  double hits_ = 0, lookups_ = 0, bytes_fetched_ = 0, cpu_experts_ = 0;
  double prefetched_ = 0, prefetch_used_ = 0;
  std::vector<double> routed_;  ///< copies per (MoE ordinal, expert), for routed()
  time_ps stall_ps_ = 0;
  time_ps cpu_busy_ps_ = 0;
  std::map<int, int> moe_ordinal_;  ///< layer -> MoE ordinal
};

}  // namespace moesim::sim::run
