#pragma once
// The network in time: transfers between devices as flows over routed paths, timed by one of
// two models over the same flows (the scenario's `network.model`):
//  - flow: every flow shares the links of its path max-min fairly with all flows in flight
//    (maxmin_solver), re-solved whenever flows start or finish; flows finishing in the same
//    picosecond are retired together with one re-solve;
//  - analytical: the flows of one batch (a collective phase) are timed by the busiest link of
//    their path: bytes on that link over the batch / its capacity. Batches do not contend with
//    each other in this model (it is meant for large, regular phases).
// Both add the path's latency (sum of per-hop latencies) to the time the last byte leaves.
//
// Link capacities are the topology's line rates times an achievable-efficiency factor per
// link family (scale-up: ICI/NVLink; scale-out: InfiniBand/DCN; PCIe at line rate), which come
// from the chip preset.
//
// Ownership: keeps references to the simulation and the topology; both must outlive it.
// Callbacks run as simulation events, in (time, sequence) order.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "sim/engine/simulation.hpp"
#include "sim/net/maxmin.hpp"
#include "sim/net/maxmin_load.hpp"
#include "topologies/routing.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::net {

enum class timing_model { flow, analytical };

struct network_params {
  timing_model model = timing_model::flow;
  double scale_up_efficiency = 1.0;   ///< ICI / NVLink links
  double scale_out_efficiency = 1.0;  ///< InfiniBand / DCN links
};

struct flow_request {
  topo::device_id src = 0;
  topo::device_id dst = 0;
  double bytes = 0;
  std::uint64_t tag = 0;  ///< ECMP flow id: the same tag keeps the same path
};

struct network_stats {
  std::uint64_t flows = 0;
  std::uint64_t solves = 0;
  double bytes = 0;
};

class network {
 public:
  using done_fn = std::function<void(std::size_t index)>;

  network(simulation& sim, const topo::topology& topo, network_params params);
  network(const network&) = delete;
  network& operator=(const network&) = delete;

  /// Starts `flows` now. on_done(i) runs when flow i's last byte has arrived. A flow with
  /// src == dst or 0 bytes completes after its path latency (0 for a local copy).
  void start_batch(std::span<const flow_request> flows, done_fn on_done);

  [[nodiscard]] const network_stats& stats() const noexcept { return stats_; }
  [[nodiscard]] const topo::topology& topology() const noexcept { return topo_; }
  /// Capacity used for a link (line rate times its family's efficiency).
  [[nodiscard]] double capacity_bytes_per_s(topo::link_id link) const {
    return capacity_[static_cast<std::size_t>(link)];
  }

 private:
  struct batch {
    done_fn on_done;
    std::size_t outstanding = 0;
  };
  struct active_flow {
    double remaining_bytes = 0;
    double rate = 0;
    time_ps last_update = 0;
    time_ps latency = 0;
    event_id completion;
    std::uint32_t batch = 0;
    std::uint32_t index = 0;
    bool live = false;
  };

  time_ps path_latency(std::span<const topo::link_id> path) const;
  void start_flow_model(std::span<const flow_request> flows, std::uint32_t b);
  void start_analytical(std::span<const flow_request> flows, std::uint32_t b);
  void finish(std::uint32_t b, std::uint32_t index, time_ps after);
  void request_solve();
  void solve_now();
  void on_flow_complete(flow_id f);
  std::uint32_t new_batch(done_fn on_done, std::size_t count);

  simulation& sim_;
  const topo::topology& topo_;
  network_params params_;
  topo::router router_;
  topo::path_cache paths_;
  std::vector<double> capacity_;
  maxmin_solver solver_;
  std::vector<link_id> scratch_path_;
  std::vector<active_flow> flows_;  ///< indexed by solver flow id
  std::vector<batch> batches_;
  std::vector<std::uint32_t> free_batches_;
  bool solve_scheduled_ = false;
  network_stats stats_;
};

}  // namespace moesim::sim::net
