#pragma once
// What a run's trace keeps. A full trace of a large run is too big to open or even to record
// (DeepSeek-V3 training on 2048 GPUs: 800 MB of JSON, 2.3 GB of memory), so the executor
// records the timelines of a subset of devices, the counters of the links that matter to them,
// inside a time window, and notes in the trace's metadata exactly what was left out.
//
// Devices. The executor can record only the devices that run distinct work: TP rank 0 of every
// EP rank and pipeline stage, in every simulated data-parallel replica (TP ranks > 0 run their
// rank 0's ops; with folding.dp_replicas only replica 0 is simulated). Of those it traces
//  - the requested devices (trace_selection::devices; requested devices that are not recorded
//    are listed as untraced), or by default
//  - all of them when there are at most device_budget (64) or no budget, else
//  - EP ranks 0 .. k-1 of data-parallel replica 0 on every pipeline stage, k = budget / pp
//    (at least 1, at most ep): every stage shows the pipeline's schedule and bubbles, and the
//    first EP ranks (the first GPUs of a node under the usual tp-ep-dp-pp order) the all-to-alls on
//    NVLink and InfiniBand from both ends. 64 devices keep DeepSeek-V3's training trace
//    near 60 MB (its hierarchical exchange: 128 came to 113 MB).
// Links (their GB/s counters): with every recorded device traced, all links; otherwise the
// links with an end at a traced device or at a traced device's NIC, and the links between
// switches (leaf, spine, core, DCN), which carry everyone's traffic. PCIe links never have
// counters.
// Window: spans and counter intervals that overlap [from, to] are kept whole.
#include <string>
#include <utility>
#include <vector>

#include "sim/engine/time.hpp"
#include "sim/engine/trace.hpp"
#include "sim/run/scenario.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::run {

struct trace_selection {
  static constexpr int default_device_budget = 64;

  std::vector<topo::device_id> devices;  ///< ascending, unique; empty: the default subset
  time_ps from = 0;
  time_ps to = time_max;
  int device_budget = default_device_budget;  ///< <= 0: no budget (every recorded device)
  std::string window_rule;  ///< why the window is what it is, noted after it ("" = asked for)
};

/// A serving run traced without a window records this much simulated time: every op of every
/// iteration is a span, so a whole run's trace grows with its length (the disaggregated
/// DeepSeek-V3 scenario: ~200 MB per simulated second).
inline constexpr time_ps default_serve_trace_window_ps = 250 * ps_per_ms;

/// The window a serving run's trace keeps when none is asked for:
/// default_serve_trace_window_ps from the middle of the arrivals' duration_s (a steady state
/// rather than the first arrivals), or from 0 when the requests are bounded by count or trace.
[[nodiscard]] std::pair<time_ps, time_ps> default_serve_trace_window(const scenario& s);

struct trace_plan {
  std::vector<topo::device_id> devices;  ///< traced, ascending
  std::vector<bool> links;               ///< [link id]: whether its counters are recorded
};

/// Devices the executor can record timelines for, ascending. O(devices).
[[nodiscard]] std::vector<topo::device_id> recordable_devices(const scenario& s);

/// Throws std::invalid_argument unless every device of `devices` exists in s's layout (for a
/// disaggregated run, the cluster: its instances' devices in order) and at least one of them is
/// recordable, saying which and why. O(devices).
void check_trace_devices(const scenario& s, const std::vector<topo::device_id>& devices);

/// Resolves `sel` for a run of `s` on the cluster graph `t`: sets the recorder's window and adds
/// notes (trace_recorder::note) naming the traced and untraced devices, the rule that chose
/// them, the window and the links left out. O(devices + links).
[[nodiscard]] trace_plan plan_trace(const scenario& s, const topo::topology& t,
                                    const trace_selection& sel, trace_recorder& trace);

/// "0-7,64,128-135" for ascending unique ids; "none" for none.
[[nodiscard]] std::string format_device_ranges(const std::vector<topo::device_id>& ids);

}  // namespace moesim::sim::run
