#pragma once
// Max-min fair bandwidth sharing by progressive filling, the idea of SimGrid's LMM reduced to
// what a flow-level network needs: flows (variables) cross constraints (links of fixed
// capacity). Every unfrozen flow's rate grows in proportion to its weight; when a link fills up,
// the flows crossing it freeze at their current rate and the others keep growing. The result is
// the weighted max-min fair allocation: no flow can get more without taking from a flow whose
// rate/weight is not larger. The solver knows nothing of time, topologies or MoE.
//
// Units: capacities and rates in bytes per second (`_bytes_per_s`); weights are dimensionless.
//
// Incremental use (the flow-level network calls it at every flow start and finish):
// add_flow / remove_flow / set_capacity only record the change, in O(path length); solve() then
// re-solves the connected components of the flow-link graph that the changes touched (flows
// sharing links, transitively) and leaves every other rate untouched. Any number of changes
// between two solve() calls cost one solve: that is the batching interface (many flows finishing
// at the same instant -> remove them all, then solve once).
//
// Complexity of solve(), with S the touched components, L_S their constraints (links plus the
// private constraints of rate-capped flows) and I_S the sum of path lengths of their flows:
//   O(L_S + I_S + K log L_S), K <= I_S the number of priority-queue updates (at most one per
//   freeze of a flow crossing the constraint; in practice far fewer, as keys are refreshed
//   lazily when a constraint reaches the top of the queue).
// Measured (reference machine, one core): a full solve of 65,280 flows of 4 links over 1,024
// links takes about 1 ms; 524k flows over 4,096 links about 16 ms. The fill loop is bound by one
// random cache-line load per flow (its record), so the cost is linear in flows touched.
// A full-fabric all-to-all is one component, so re-solving at every single completion is O(F)
// per completion and O(F^2) per collective: callers that need speed must batch completions (same
// instant, or a named time quantum) rather than expect a cheaper exact solve.
// Memory: 64 B per flow slot, 12 B per hop, about 100 B per constraint.
//
// Exactness and determinism: per-link sums of rates and weights are kept in integer fixed point
// (rates as multiples of 2^-63 B/s in 128 bits, weights rounded to multiples of 2^-24), so they do
// not depend on the order in which flows were added, removed or frozen. The fill order is the
// link with the smallest fair share first, ties by link (constraint) index. Hence:
//   - the same sequence of calls gives bit-identical rates on every machine and thread count;
//   - a component's rates are a function of that component alone: re-solving it after changes
//     elsewhere (or as part of a larger stale component) reproduces them bit for bit, and an
//     incremental solve equals a from-scratch solve of the same flows and links;
//   - only ties between constraints of exactly equal fair share whose relative index order
//     differs between two histories (a rate cap's private constraint is numbered when its flow
//     is added) can move a rate by a few ulps.
// Rates are never negative and never above a flow's cap; a link's load exceeds its capacity by
// at most rounding (relative ~1e-15 per flow crossing it).
//
// Ownership: the solver owns copies of all paths; ids are plain indices, valid until removed.
// Flow ids are reused (most recently freed first); link ids are dense in order of add_link.
// Not thread-safe; one solver per simulation.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <vector>

namespace moesim::sim::net {

/// A link (capacity constraint): dense index in order of add_link.
enum class link_id : std::uint32_t {};
/// A flow (variable): index reused after remove_flow.
enum class flow_id : std::uint32_t {};

/// What the last solve() did: sizes of the re-solved region, for tests and benchmarks.
struct maxmin_solve_stats {
  std::size_t components = 0;   ///< connected components re-solved
  std::size_t constraints = 0;  ///< constraints (links and rate caps) carrying flows in them
  std::size_t flows = 0;        ///< flows whose rate was recomputed
  std::size_t changed = 0;      ///< of which new or with a different rate (== changed_flows())
};

namespace detail {
using fixed128 = __int128_t;  // builtin typedef: no -Wpedantic warning, unlike `__int128`

// Per-constraint state touched by the fill loop, one cache line per constraint.
struct constraint_state {
  fixed128 capacity_q = 0;           // capacity in units of 2^-64 B/s
  fixed128 used_q = 0;               // sum of frozen rates (exact); after solve(), the load
  std::int64_t weight_q = 0;         // total weight of live flows crossing, units of 2^-24
  std::int64_t active_weight_q = 0;  // during solve(): weight of flows not yet frozen
  std::int32_t heap_pos = -1;        // position in the fill queue, -1 when not queued
  std::uint32_t stale = 0;           // a flow froze since the key in the fill queue was computed
};

struct flow_ref {
  std::uint32_t flow;
  // This hop's index in the path pool: locates the back-reference (path_pos_) on removal
  // without loading the flow's record (kept current by compact_paths).
  std::uint32_t path_index;
};

// Everything the fill loop reads about a flow, in one cache line: on large fills the loop is
// bound by the latency of one random record load per frozen flow.
struct alignas(64) flow_record {
  static constexpr std::uint32_t inline_hops = 8;
  std::int64_t weight_q = 0;
  double rate = 0;
  std::uint32_t path_begin = 0;  // into the path pool (authoritative copy of the path)
  std::uint32_t bottleneck = 0;  // constraint that froze the flow in the last solve
  std::uint32_t path_len = 0;    // hops, the private cap constraint (if any) last
  std::uint8_t alive = 0;
  std::uint8_t fresh = 0;                // added since the last solve: always reported as changed
  std::uint8_t capped = 0;               // has a rate cap (in maxmin_solver::rate_cap_)
  std::uint32_t hops[inline_hops] = {};  // first hops of the path, for the fill loop
};
static_assert(sizeof(flow_record) == 64);

struct heap_entry {
  double key;  // fair share per unit weight (bytes/s) if the constraint filled now
  std::uint32_t constraint;
};
}  // namespace detail

class maxmin_solver {
 public:
  static constexpr double unlimited = std::numeric_limits<double>::infinity();
  /// Capacities and rate caps must be finite and at most this (2^60 B/s, about 1.15e18).
  static constexpr double max_capacity_bytes_per_s = 0x1p60;
  /// Weights must lie in [min_weight, max_weight]; they are rounded to a multiple of 2^-24.
  static constexpr double min_weight = 0x1p-16;
  static constexpr double max_weight = 0x1p16;
  /// Relative tolerance of saturated(): load >= capacity * (1 - saturation_tolerance).
  static constexpr double saturation_tolerance = 1e-9;

  /// Adds a link of the given capacity (>= 0, finite; 0 models a failed link: its flows get
  /// rate 0). O(1) amortised.
  link_id add_link(double capacity_bytes_per_s);
  /// Changes a link's capacity; takes effect at the next solve(). O(1).
  void set_capacity(link_id link, double capacity_bytes_per_s);
  [[nodiscard]] double capacity_bytes_per_s(link_id link) const;
  [[nodiscard]] std::size_t link_count() const noexcept { return link_constraint_.size(); }

  /// Adds a flow over `path` (links in any order; a link listed twice is crossed twice and
  /// charged twice). `weight` scales its share; `rate_cap_bytes_per_s` (> 0, or unlimited) is a
  /// private constraint such as a NIC or protocol limit. The path may be empty only if the rate
  /// is capped. Its rate is defined from the next solve(). O(path) amortised.
  flow_id add_flow(std::span<const link_id> path, double weight = 1.0,
                   double rate_cap_bytes_per_s = unlimited);
  /// Removes a live flow; its id may be returned by a later add_flow. O(path) amortised.
  void remove_flow(flow_id flow);
  [[nodiscard]] bool contains(flow_id flow) const noexcept;
  /// Whether a live flow's path crosses `link`. O(path).
  [[nodiscard]] bool crosses(flow_id flow, link_id link) const;
  [[nodiscard]] std::size_t flow_count() const noexcept { return live_flows_; }
  /// The weight actually used (the argument rounded to a multiple of 2^-24).
  [[nodiscard]] double weight(flow_id flow) const;
  [[nodiscard]] double rate_cap_bytes_per_s(flow_id flow) const;

  /// Re-solves the components touched since the last solve (see the file comment for cost and
  /// guarantees). Afterwards changed_flows() lists the flows that are new or whose rate changed.
  void solve();
  /// True if changes were made since the last solve().
  [[nodiscard]] bool pending() const noexcept { return !dirty_list_.empty(); }

  /// Rate of a live flow as of the last solve(); 0 for a flow added since. O(1).
  [[nodiscard]] double rate_bytes_per_s(flow_id flow) const;
  /// The link whose saturation froze the flow in the last solve(), or nullopt if its rate cap
  /// did. Ties between links at the same fair share go to the lowest link index.
  [[nodiscard]] std::optional<link_id> bottleneck(flow_id flow) const;
  /// Flows that are new or whose rate changed (bitwise) in the last solve(), in ascending id
  /// order. Valid until the next call of a non-const member.
  [[nodiscard]] std::span<const flow_id> changed_flows() const noexcept { return changed_; }
  [[nodiscard]] const maxmin_solve_stats& last_solve() const noexcept { return stats_; }

  /// Sum of the rates of the flows crossing `link` as of the last solve() that covered it
  /// (exact sum, rounded once). O(1).
  [[nodiscard]] double load_bytes_per_s(link_id link) const;
  /// Carries at least one flow and load >= capacity * (1 - saturation_tolerance). O(1).
  [[nodiscard]] bool saturated(link_id link) const;

  /// Pre-allocates for `flows` live flows with `path_entries` hops in total.
  void reserve(std::size_t flows, std::size_t path_entries);

 private:
  static constexpr std::uint32_t no_index = std::numeric_limits<std::uint32_t>::max();
  static constexpr std::uint32_t dead_private = no_index - 1;

  std::uint32_t checked_constraint(link_id link) const;
  std::uint32_t checked_flow(flow_id flow) const;
  std::uint32_t new_constraint();
  void mark_dirty(std::uint32_t c);
  std::uint32_t find(std::uint32_t c);
  void unite(std::uint32_t a, std::uint32_t b);
  void rebuild_components();
  void compact_paths();

  void collect_components();
  void fill(std::uint32_t c, double level);
  void freeze(std::uint32_t f, std::uint32_t bottleneck, double level);
  void publish_changes();

  [[nodiscard]] bool heap_less(std::size_t a, std::size_t b) const noexcept;
  void heap_set(std::size_t i, detail::heap_entry e) noexcept;
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  void heap_erase(std::uint32_t c) noexcept;

  // Constraints: user links and the private constraints of rate-capped flows, one index space.
  std::vector<detail::constraint_state> cs_;
  std::vector<double> capacity_;                        // as given, bytes/s
  std::vector<std::vector<detail::flow_ref>> members_;  // flows crossing; empty for private ones
  std::vector<std::uint32_t> private_flow_;     // owner of a private constraint; no_index for links
  std::vector<std::uint32_t> constraint_link_;  // user link id, no_index for private ones
  std::vector<std::uint32_t> link_constraint_;  // user link id -> constraint
  std::vector<std::uint32_t> free_private_;     // recycled only by rebuild_components()
  std::vector<std::uint32_t> uf_parent_, uf_next_, uf_size_;  // components; uf_next_: member ring
  std::vector<std::uint8_t> dirty_;
  std::vector<std::uint32_t> dirty_list_;
  std::vector<std::uint32_t> visited_;  // stamp per constraint: component already collected
  std::uint32_t visit_stamp_ = 0;
  std::size_t removed_since_rebuild_ = 0;

  // Flows.
  std::vector<detail::flow_record> flows_;
  std::vector<double> rate_cap_;  // per flow, +inf when uncapped
  std::vector<std::uint32_t> free_flows_;
  std::vector<std::uint32_t> path_;      // constraint per hop, flows back to back
  std::vector<std::uint32_t> path_pos_;  // per hop: index of the flow_ref in members_
  std::size_t path_garbage_ = 0;         // hops of removed flows still in path_
  std::size_t live_flows_ = 0;

  // Solve scratch, kept to avoid reallocation.
  std::vector<detail::heap_entry> heap_;
  std::vector<std::uint32_t> solved_;
  std::vector<std::uint64_t> frozen_;  // bit per flow
  std::vector<flow_id> changed_;
  std::vector<std::uint64_t> changed_bits_;
  maxmin_solve_stats stats_;
};

}  // namespace moesim::sim::net
