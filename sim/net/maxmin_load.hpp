#pragma once
// The "share" view of a set of transfers for the analytical network model: the bytes each link
// must carry, and the time the busiest link needs for them,
//   bottleneck_time_s = max over links l of (sum of bytes crossing l) / capacity_l.
// This is a lower bound on the completion time of any schedule of the transfers (each link
// carries its bytes at most at its capacity), and the max-min flow model reaches it when the
// busiest link stays saturated throughout.
//
// Streaming: transfers are added one at a time and only per-link byte totals are kept, O(links)
// memory whatever the number of transfers. Link ids are those of maxmin_solver (dense indices),
// so one topology numbering serves both network models.
//
// Determinism: totals are double sums in the order of add() calls; merge() partial loads in a
// fixed order (not in thread-completion order) to keep results independent of thread count.
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "sim/net/maxmin.hpp"

namespace moesim::sim::net {

class link_load {
 public:
  /// Copies the capacities (bytes/s, each finite and >= 0) of links 0 .. size-1.
  explicit link_load(std::span<const double> capacities_bytes_per_s);

  /// Charges `bytes` (finite, >= 0) to every link of `path`; a link listed twice is charged
  /// twice. O(path).
  void add(std::span<const link_id> path, double bytes);
  /// Adds another load's totals link by link. Both must have the same number of links. O(links).
  void merge(const link_load& other);
  /// Zeroes all totals, keeping the capacities. O(links).
  void clear() noexcept;

  [[nodiscard]] std::size_t link_count() const noexcept { return bytes_.size(); }
  [[nodiscard]] double bytes(link_id link) const;
  [[nodiscard]] std::span<const double> bytes_per_link() const noexcept { return bytes_; }

  /// max over links of bytes / capacity, in seconds; 0 with no bytes, +inf if a link of capacity
  /// 0 carries bytes. O(links).
  [[nodiscard]] double bottleneck_time_s() const;
  /// The link attaining bottleneck_time_s (lowest id on ties), nullopt with no bytes. O(links).
  [[nodiscard]] std::optional<link_id> bottleneck_link() const;

 private:
  std::vector<double> capacity_;
  std::vector<double> bytes_;
};

/// bottleneck_time_s of per-link byte totals against per-link capacities (same length).
[[nodiscard]] double bottleneck_time_s(std::span<const double> link_bytes,
                                       std::span<const double> capacities_bytes_per_s);

}  // namespace moesim::sim::net
