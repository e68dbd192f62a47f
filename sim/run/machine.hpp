#pragma once
// The simulated cluster of one run and the bookkeeping every driver shares: the topology, the
// event engine, the network, each device's compute and HBM streams, the op log the critical
// path is read from, and the trace's tracks. Drivers (training, fixed-batch inference, serving)
// and the pass executor record work through it; it knows nothing of pipelines or requests.
//
// The cluster itself (topology, simulation, network, the trace's link counters) is a
// cluster_fabric; a machine either owns one (one layout over every device, as training,
// fixed-batch inference and aggregated serving run) or is a view of a shared one: a serving
// instance of a disaggregated run lays out its own scenario's parallelism on the devices
// [first_device, first_device + its layout's devices) of the shared cluster, with its own device
// streams and op log.
//
// Ownership: neither is copied nor moved (the network's traffic observer points back at the
// fabric; views hold it by reference and must not outlive it). Devices are addressed by layout
// coordinates (replica, stage, EP rank, TP rank) and come back as cluster device ids (the
// layout's id plus the view's first device); "group" operations act on every EP rank of
// (replica, stage), whose TP peers run the same work in lockstep.
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "sim/cluster/roofline.hpp"
#include "sim/cluster/stream.hpp"
#include "sim/engine/process.hpp"
#include "sim/engine/simulation.hpp"
#include "sim/engine/trace.hpp"
#include "sim/net/collectives.hpp"
#include "sim/net/network.hpp"
#include "sim/run/critical_path.hpp"
#include "sim/run/layout.hpp"
#include "sim/run/scenario.hpp"
#include "sim/run/trace_selection.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::run {

using op_id = op_log::op_id;

// Per-kernel launch overhead on GPUs and TPUs alike (CUDA kernel launch ~2-5 us; we take the
// lower end since production runs use CUDA graphs / XLA fusion).
constexpr time_ps launch_overhead_ps = 2 * ps_per_us;

[[nodiscard]] cluster::number_format format_of(models::weight_dtype d);
/// The link faults among `faults` on `topo`: each link fault as two (both directions of the
/// cable), numbered by its index in `faults`. Throws std::invalid_argument for a link that
/// does not exist (the loader refuses those first).
[[nodiscard]] std::vector<net::link_fault> link_faults_of(std::span<const fault_event> faults,
                                                          const topo::topology& topo);
[[nodiscard]] const char* format_name(cluster::number_format f);

/// Which row of a measured op profile (cluster::profile_table) times an op; op == nullptr: none.
struct profile_key {
  const char* op = nullptr;  ///< profile op name, without "_backward"
  double tokens = 0;
  double context = 0;
  bool backward = false;
};

/// Counts outstanding pieces of work; the flag is set when the last one is done.
struct countdown {
  explicit countdown(simulation& sim, int n) : done(sim), left(n) {
    if (left == 0) done.set();
  }
  void one() {
    if (--left == 0) done.set();
  }
  flag done;
  int left;
};

struct device_state {
  cluster::stream compute;
  cluster::stream hbm;
  time_ps network_busy = 0;
  double tokens_in = 0;   ///< routed token copies received by its experts
  op_id compute_op = -1;  ///< op log id of the last recorded op on the compute stream
  std::uint32_t trace_compute = trace_recorder::no_track;
  std::uint32_t trace_hbm = trace_recorder::no_track;
  std::uint32_t trace_net = trace_recorder::no_track;
};

/// The cluster of one run, shared by its machines: topology, event engine, network, and the
/// trace plan (which devices get tracks, which links counters) made from `s`'s layout.
class cluster_fabric {
 public:
  cluster_fabric(const scenario& s, trace_recorder& trace, const trace_selection& sel);
  cluster_fabric(const cluster_fabric&) = delete;
  cluster_fabric& operator=(const cluster_fabric&) = delete;

  [[nodiscard]] simulation& sim() noexcept { return sim_; }
  [[nodiscard]] const simulation& sim() const noexcept { return sim_; }
  [[nodiscard]] net::network& network() noexcept { return net_; }
  [[nodiscard]] const net::network& network() const noexcept { return net_; }
  [[nodiscard]] const topo::topology& topology() const noexcept { return topo_; }
  [[nodiscard]] const net::collective_params& collective_params() const noexcept {
    return cparams_;
  }
  [[nodiscard]] trace_recorder& trace() noexcept { return trace_; }
  /// Devices the trace keeps tracks for (cluster ids, ascending); empty when it records nothing.
  [[nodiscard]] const std::vector<topo::device_id>& traced_devices() const noexcept {
    return traced_;
  }

 private:
  void trace_link_traffic(time_ps start, time_ps end,
                          std::span<const net::network::link_traffic> links);

  trace_recorder& trace_;
  std::vector<bool> trace_links_;  ///< [link id]: whether the trace keeps its counters
  std::vector<topo::device_id> traced_;
  topo::topology topo_;
  simulation sim_;
  net::network net_;
  net::collective_params cparams_;
};

class machine {
 public:
  /// Builds the cluster of `s` and, when `trace` records, the tracks `sel` keeps.
  machine(const scenario& s, trace_recorder& trace, const trace_selection& sel);
  /// A view of `fabric`: `s`'s layout on the devices from `first_device` on, which must lie
  /// inside the cluster. Tracks for the traced devices in that range.
  machine(cluster_fabric& fabric, const scenario& s, topo::device_id first_device);
  machine(const machine&) = delete;
  machine& operator=(const machine&) = delete;

  [[nodiscard]] simulation& sim() noexcept { return f_.sim(); }
  [[nodiscard]] const simulation& sim() const noexcept {
    return static_cast<const cluster_fabric&>(f_).sim();
  }
  [[nodiscard]] net::network& network() noexcept { return f_.network(); }
  [[nodiscard]] const net::network& network() const noexcept { return f_.network(); }
  [[nodiscard]] const topo::topology& topology() const noexcept { return f_.topology(); }
  [[nodiscard]] const net::collective_params& collective_params() const noexcept {
    return f_.collective_params();
  }
  [[nodiscard]] cluster_fabric& fabric() noexcept { return f_; }
  /// The cluster id of this machine's layout device 0.
  [[nodiscard]] topo::device_id first_device() const noexcept { return first_; }
  [[nodiscard]] const cluster::device_rates& rates() const noexcept { return rates_; }
  [[nodiscard]] const run::layout& layout() const noexcept { return layout_; }
  [[nodiscard]] op_log& ops() noexcept { return ops_; }
  [[nodiscard]] const op_log& ops() const noexcept { return ops_; }
  [[nodiscard]] trace_recorder& trace() noexcept { return f_.trace(); }

  /// Cluster device id of layout coordinates.
  [[nodiscard]] topo::device_id device(int rep, int stage, int ep_rank, int tp_rank = 0) const {
    return first_ + layout_.device({tp_rank, ep_rank, rep, stage});
  }
  /// The TP group of (ep rank, rep, stage), as cluster device ids.
  [[nodiscard]] std::vector<topo::device_id> tp_group(int ep_rank, int rep, int stage) const;
  /// State of cluster device d, which must be one of this machine's.
  [[nodiscard]] device_state& dev(topo::device_id d) {
    return dev_[static_cast<std::size_t>(d - first_)];
  }
  [[nodiscard]] const device_state& dev(topo::device_id d) const {
    return dev_[static_cast<std::size_t>(d - first_)];
  }

  /// Enqueues an op of back-to-back kernels on device d's compute stream at `at` (its TP peers
  /// run the same); timed by the scenario's op profile when it has `key`, else the roofline.
  cluster::stream_slot compute(topo::device_id d, category c, const std::string& name, time_ps at,
                               std::span<const cluster::op_cost> kernels,
                               const profile_key& key = {});
  cluster::stream_slot compute(topo::device_id d, category c, const std::string& name, time_ps at,
                               const cluster::op_cost& cost, const profile_key& key = {}) {
    return compute(d, c, name, at, std::span(&cost, 1), key);
  }

  /// The same op on every EP rank of (rep, stage) at `at`, recorded on the critical path as the
  /// slowest rank's op after `dep`; returns (end, op id).
  std::pair<time_ps, op_id> group_compute(int rep, int stage, category c, const std::string& name,
                                          time_ps at, std::span<const cluster::op_cost> kernels,
                                          op_id dep, const profile_key& key = {});
  std::pair<time_ps, op_id> group_compute(int rep, int stage, category c, const std::string& name,
                                          time_ps at, const cluster::op_cost& cost, op_id dep,
                                          const profile_key& key = {}) {
    return group_compute(rep, stage, c, name, at, std::span(&cost, 1), dep, key);
  }

  /// As group_compute, each rank with its own op: `enqueue(e, d)` enqueues EP rank e's op on
  /// its device d (through compute(), at `at` or later) and returns the slot.
  template <class Enqueue>
  std::pair<time_ps, op_id> group_compute_each(int rep, int stage, category c, time_ps at,
                                               op_id dep, Enqueue&& enqueue) {
    cluster::stream_slot slowest{at, at, -1};
    for (int e = 0; e < layout_.config().ep; ++e) {
      const cluster::stream_slot slot = enqueue(e, device(rep, stage, e));
      if (slot.end > slowest.end) slowest = slot;
    }
    return record_group(rep, stage, c, slowest, dep);
  }

  /// After recording `op` for the ranks of (rep, stage): each rank's compute stream now ends
  /// with it, so an op queued behind it next names it as its stream predecessor (the other
  /// task's work, when two overlap).
  void mark_compute(int rep, int stage, op_id op);

  /// Plays a planned collective now; returns a countdown to await.
  std::shared_ptr<countdown> collective(const std::shared_ptr<const net::collective_plan>& plan);

  /// Records network work of `c` from `start` to now, after `dep`.
  op_id network_op(category c, time_ps start, op_id dep, int owner);

  /// Each EP rank of (rep, stage) busy on the network from `start` until its `arrived` time.
  void note_network(int rep, int stage, category c, const std::string& tag, time_ps start,
                    const std::vector<time_ps>& arrived);

  /// Of two ops, the one that ends later (-1 ids ignored).
  [[nodiscard]] op_id latest(op_id a, op_id b) const;

 private:
  /// On device d for an op asked for at `at`: a straggler's slowed rates apply (faults.hpp).
  [[nodiscard]] time_ps duration(std::span<const cluster::op_cost> kernels, const profile_key& key,
                                 topo::device_id d, time_ps at) const;
  void add_tracks();
  void add_stragglers();
  /// The critical-path op of a group operation whose slowest rank ran `slowest`, after `dep`.
  std::pair<time_ps, op_id> record_group(int rep, int stage, category c,
                                         const cluster::stream_slot& slowest, op_id dep);

  std::unique_ptr<cluster_fabric> own_;  ///< set when this machine owns its cluster
  cluster_fabric& f_;
  topo::device_id first_ = 0;
  const scenario& s_;
  trace_recorder& trace_;
  cluster::device_rates rates_;
  run::layout layout_;
  std::string dtype_name_;  ///< the op profile's dtype column for the model's number format
  std::vector<device_state> dev_;
  op_log ops_;
  /// Straggler faults on this machine's devices, in time order: from `at` on, device `device`
  /// runs at `rates` (its profile-timed ops take `factor` times as long).
  struct straggler {
    topo::device_id device = 0;
    time_ps at = 0;
    double factor = 1;
    cluster::device_rates rates;
  };
  std::vector<straggler> stragglers_;
};

}  // namespace moesim::sim::run
