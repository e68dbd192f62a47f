#pragma once
// The network in time: transfers between devices as flows over routed paths, timed by one of
// two models over the same flows (the scenario's `network.model`):
//  - flow: every flow shares the links of its path max-min fairly with all flows in flight
//    (maxmin_solver), re-solved whenever flows start or finish; flows finishing in the same
//    picosecond are retired together with one re-solve. With `resolve_quantum` q > 0 (a named
//    approximation), finishes re-solve at most once per q x (time since the network became
//    busy), unless the flows finished since the last solve carried more than q of the network's
//    throughput (sum of live rates): then at once, since waiting would idle that capacity (this
//    matters most near the end of a busy period, when few flows remain). Between re-solves the
//    remaining flows keep their rates. Starts always re-solve at once. With q = 0.02 a skewed
//    all-to-all's makespan stays within 0.3% of the exact solve at 64-256 GPUs and single flows
//    within a few % (tests/net/network_test.cpp; tools/bench/alltoall.cpp). q = 0 is exact;
//  - analytical: the flows of one batch (a collective phase) are timed by the busiest link of
//    their path: bytes on that link over the batch / its capacity. Batches in flight at once
//    queue on the links they share, first started first (a link still busy with an earlier
//    batch's bytes takes the new batch's after them): two overlapped micro-batches' exchanges
//    cannot both have a NIC to themselves. Work-conserving, so a link's last byte leaves when
//    under fair sharing; the first batch finishes earlier than it would sharing. The implicit
//    all-to-all of a whole torus slice (start_all_to_all) is timed alone.
// Both add the path's latency (sum of per-hop latencies) to the time the last byte leaves.
//
// Link capacities are the topology's line rates times an achievable-efficiency factor per
// link family (scale-up: ICI/NVLink; scale-out: InfiniBand/DCN; PCIe at line rate), which come
// from the chip preset.
//
// Ownership: keeps references to the simulation and the topology; both must outlive it.
// Callbacks run as simulation events, in (time, sequence) order.
#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <vector>

#include "sim/engine/simulation.hpp"
#include "sim/net/faults.hpp"
#include "sim/net/maxmin.hpp"
#include "sim/net/maxmin_load.hpp"
#include "sim/net/route_set.hpp"
#include "topologies/routing.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::net {

enum class timing_model { flow, analytical };

struct network_params {
  timing_model model = timing_model::flow;
  double scale_up_efficiency = 1.0;   ///< ICI / NVLink links
  double scale_out_efficiency = 1.0;  ///< InfiniBand / DCN links
  double resolve_quantum = 0.0;       ///< flow model: relative re-solve window (0 = exact)
};

struct flow_request {
  topo::device_id src = 0;
  topo::device_id dst = 0;
  double bytes = 0;
  std::uint64_t tag = 0;  ///< ECMP flow id: the same tag keeps the same path
};

/// A change to one directed link from simulated time `at` on: `factor` in (0, 1] scales its
/// capacity (a degraded link; 1 restores it), 0 takes it down (a failed link: routes avoid it).
struct link_fault {
  topo::link_id link = 0;
  time_ps at = 0;
  double factor = 0;
  std::size_t fault = 0;  ///< the caller's fault number, for fault_hits()
};

struct network_stats {
  std::uint64_t flows = 0;
  std::uint64_t solves = 0;
  std::uint64_t rate_updates = 0;  ///< flow rate changes applied after solves
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
  /// Starts `flows` now as groups: group_of[i] (< groups) is flow i's group; on_group_done(g)
  /// runs once every flow of group g has arrived (a group without flows: as an event now).
  /// Times exactly as start_batch would; the analytical model schedules one event per group
  /// instead of one per flow (a collective's destinations, not its n^2 flows).
  void start_groups(std::span<const flow_request> flows, std::span<const std::uint32_t> group_of,
                    std::size_t groups, std::function<void(std::size_t group)> on_group_done);
  /// As start_groups above, over connections routed once by plan_routes(): connection i sends
  /// bytes[i] (one flow; a connection with 0 bytes sends nothing and is not counted) and
  /// on_group_done(g) runs once every flow of connections with group_of[i] == g has arrived.
  /// Times exactly as start_groups of the same flows would, without routing them again.
  void start_groups(const route_set& routes, std::span<const double> bytes,
                    std::span<const std::uint32_t> group_of, std::size_t groups,
                    std::function<void(std::size_t group)> on_group_done);
  /// Routes `connections` (ECMP by tag) for start_groups. O(connections · path).
  [[nodiscard]] route_set plan_routes(std::span<const connection> connections);

  /// Link faults (flow model only; the analytical model throws std::invalid_argument), applied
  /// in time order (ties in the order given) at their times: a degraded link's new capacity
  /// re-shares the flows crossing it from that instant; a failed link's flows in flight move
  /// to a detour (faults.hpp) with the bytes they have left, and every later route avoids it.
  /// A fault is applied at its time by an event while flows are in flight, else before the
  /// next call that starts or routes flows (so no event outlives the run's own work). Throws
  /// std::runtime_error when a pair in use is left without a route. Call before any flow.
  void add_link_faults(std::span<const link_fault> faults);
  /// Per fault number (link_fault::fault): for a failed link, flows in flight moved onto a
  /// detour plus routes computed around it later (a route_set's connections once, when
  /// planned); for a degraded link, the flows that crossed it while it was degraded.
  [[nodiscard]] std::span<const std::uint64_t> fault_hits() const noexcept { return fault_hits_; }
  /// Starts a uniform all-to-all now: every ordered pair of distinct `ranks` sends
  /// `bytes_per_pair` (>= 0), one flow per pair with tag 0, sources then destinations in rank
  /// order; on_done() runs once, when the last flow has arrived (with fewer than two ranks, as an
  /// event now). Times exactly as start_batch of those flows would (up to a picosecond of
  /// rounding) and counts them in stats(). Analytical model: the flows are never held (O(links)
  /// memory) and one event is scheduled; a whole torus slice is timed by symmetry in
  /// O(devices · axes), anything else by streaming the pairs in O(n^2 · path)
  /// (all_to_all_load.hpp). Flow model: the flows are built and started as one batch.
  void start_all_to_all(std::span<const topo::device_id> ranks, double bytes_per_pair,
                        std::function<void()> on_done);

  /// Bytes a batch of flows put on one link.
  struct link_traffic {
    link_id link;
    double bytes;
  };
  /// Called once per batch of flows (a start_batch or start_groups call, e.g. one phase of a
  /// collective or one expert exchange) with its start, the arrival of its last byte and the
  /// bytes each link of its paths carried (in order of first use); for trace counters. With an
  /// observer set, batches cost O(their paths) more. Uniform all-to-alls started with
  /// start_all_to_all under the analytical model are not reported (their flows are not held).
  using traffic_fn =
      std::function<void(time_ps start, time_ps end, std::span<const link_traffic> links)>;
  void observe_traffic(traffic_fn fn) { observer_ = std::move(fn); }

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
    time_ps start = 0;                  ///< with an observer: for its report
    std::vector<link_traffic> traffic;  ///< with an observer: bytes per link
  };
  struct active_flow {
    double remaining_bytes = 0;
    double rate = 0;
    time_ps last_update = 0;
    time_ps latency = 0;
    time_ps finish = time_max;  ///< projected last-byte time at the current rate
    std::uint32_t batch = 0;
    std::uint32_t index = 0;
    connection conn;  ///< its endpoints and ECMP tag, to re-route it around a failed link
  };

  time_ps route(const flow_request& f);  // fills scratch_path_, returns the path latency
  void start_flow_model(std::span<const flow_request> flows, std::uint32_t b);
  void start_analytical(std::span<const flow_request> flows, std::uint32_t b);
  void start_groups_analytical(const route_set& routes, std::span<const double> bytes,
                               bool skip_empty, std::span<const std::uint32_t> group_of,
                               std::size_t groups, std::function<void(std::size_t)> on_group_done);
  bool add_solver_flow(std::uint32_t b, std::uint32_t index, double bytes,
                       std::span<const link_id> path, time_ps latency, const connection& conn);
  /// Routes c avoiding failed links into route_scratch_ (structural route unless it crosses
  /// one); returns whether it is a detour.
  bool route_live(const connection& c);
  /// Applies the faults due by now, then keeps a fault event armed while flows are in flight.
  void apply_due_faults();
  void apply_fault(std::size_t i);
  void arm_fault_event();
  /// Analytical model: calls at(i, after) with the completion delay of each connection's flow
  /// (skipping those with 0 bytes when skip_empty); `count`: also counts them in stats_ as
  /// count_flows does. O(flows · path).
  template <class F>
  void analytical_finishes(const route_set& routes, std::span<const double> bytes, bool skip_empty,
                           bool count, F&& at);
  /// The analytical model's link loads of an indexed route set (connections of 0 bytes
  /// skipped, no observer): link by link instead of path by path, with the same results, each
  /// loaded link settled. O(total path length).
  void load_indexed(const route_set& routes, std::span<const double> bytes);
  /// Link l takes `load` bytes more, FIFO after what it still carries: sets its done and free
  /// times. O(1).
  void settle_link(std::size_t l, double load, time_ps now);
  void finish(std::uint32_t b, std::uint32_t index, time_ps after);
  void request_solve(bool starts);
  void solve_now();
  void retire_due();
  void arm_completion_event();
  std::uint32_t new_batch(done_fn on_done, std::size_t count);
  /// Adds `bytes` to the links of a path in the batch_bytes_ / touched_ scratch (the analytical
  /// model's load, and what an observer hears). Inline: the analytical model's hot loop.
  void charge(std::span<const link_id> path, double bytes) {
    for (const link_id link : path) {
      const auto l = static_cast<std::size_t>(link);
      if (batch_bytes_[l] == 0.0) touched_.push_back(l);
      batch_bytes_[l] += bytes;
    }
  }
  /// Fills batch_routes_ / batch_sizes_ with the routes and sizes of `flows`.
  void route_requests(std::span<const flow_request> flows);
  /// Counts the flows of connections with bytes (all of them unless skip_empty) in stats_;
  /// returns how many.
  std::size_t count_flows(const route_set& routes, std::span<const double> bytes, bool skip_empty);
  /// A batch callback for flows in groups: on_group_done(g) once the left[g] flows of group g
  /// have arrived (group_of[i] is flow i's group); groups with none complete as events now.
  done_fn group_countdown(std::vector<std::size_t> left, std::span<const std::uint32_t> group_of,
                          std::function<void(std::size_t)> on_group_done);
  /// With an observer: the touched_ links' bytes, clearing the scratch.
  std::vector<link_traffic> take_charges();

  // Min-heap of live flows by projected finish time (ties by flow id). A rate change pushes a
  // new entry and leaves the old one behind, invalid (its epoch no longer matches the flow's),
  // to be dropped when it reaches the top: no positions to maintain, so a solve that moves most
  // flows rebuilds the heap from a sequential scan of the flows without any random writes.
  // Entries carry the finish time so comparisons stay in the heap's own memory.
  struct heap_entry {
    time_ps finish;
    std::uint32_t flow;
    std::uint32_t epoch;
  };
  static bool heap_before(const heap_entry& a, const heap_entry& b) noexcept {
    return a.finish < b.finish || (a.finish == b.finish && a.flow < b.flow);
  }
  [[nodiscard]] bool heap_valid(const heap_entry& e) const noexcept {
    return epochs_[e.flow] == e.epoch;
  }
  heap_entry heap_entry_of(std::uint32_t flow) {
    return {flows_[flow].finish, flow, ++epochs_[flow]};
  }
  void heap_push(const heap_entry& e);
  void heap_pop();
  void heap_drop_invalid_top();
  void heap_rebuild(std::vector<heap_entry>& fresh);
  void heap_sift_up(std::size_t i);
  void heap_sift_down(std::size_t i);

  simulation& sim_;
  const topo::topology& topo_;
  network_params params_;
  topo::router router_;
  std::vector<double> capacity_;
  maxmin_solver solver_;
  topo::path route_scratch_;
  std::vector<link_id> scratch_path_;
  // Analytical model: the routes and sizes of a batch of flow requests (reused), and per link
  // the bytes of the batch being timed (valid for touched_ links).
  route_set batch_routes_;
  std::vector<double> batch_sizes_;
  std::vector<double> batch_bytes_;
  // Analytical model: per link, when this batch's last byte leaves it, and when the link is
  // free of every batch started so far (batches queue on a shared link in start order).
  std::vector<time_ps> link_done_;
  std::vector<time_ps> link_free_;
  std::vector<std::size_t> touched_;
  std::vector<std::uint32_t> with_flow_;  ///< analytical batch: its connections with a flow
  std::vector<active_flow> flows_;        ///< indexed by solver flow id
  std::vector<heap_entry> completions_;   ///< 4-ary min-heap by (finish, flow id), lazy deletion
  std::vector<heap_entry> rebuilt_;       ///< scratch of heap_rebuild
  /// Per flow slot: the epoch of its one valid entry. Bumped by every push and by retirement,
  /// and kept across reuse of the slot. Apart from flows_ so that validity checks of old entries
  /// read 4 bytes per flow, not a whole record.
  std::vector<std::uint32_t> epochs_;
  /// A deque: a batch's callback may start new batches, and the running batch must not move
  /// (finish() calls its callback in place rather than copying it for every flow).
  std::deque<batch> batches_;
  std::vector<std::uint32_t> free_batches_;
  bool solve_scheduled_ = false;
  event_id solve_event_;
  time_ps solve_event_at_ = -1;
  time_ps last_solve_ = 0;
  time_ps busy_since_ = 0;
  std::size_t live_ = 0;
  double live_rate_ = 0;   ///< sum of the live flows' rates (bytes/s)
  double freed_rate_ = 0;  ///< rates of the flows retired since the last solve
  event_id completion_event_;
  time_ps completion_event_at_ = -1;
  network_stats stats_;
  traffic_fn observer_;
  // Link faults (add_link_faults), in time order; next_fault_ is the first not yet applied.
  std::vector<link_fault> faults_;
  std::vector<std::uint64_t> fault_hits_;
  std::size_t next_fault_ = 0;
  std::vector<double> healthy_capacity_;
  std::vector<std::uint8_t> down_;      ///< [link]: failed (empty until a fault is added)
  std::vector<std::uint8_t> degraded_;  ///< [link]: below its healthy capacity
  std::vector<std::size_t> fault_of_;   ///< [link]: the fault number that last changed it
  std::size_t down_count_ = 0;
  std::size_t degraded_count_ = 0;
  detour_router detour_;
  bool fault_event_armed_ = false;
  event_id fault_event_;
};

}  // namespace moesim::sim::net
