#pragma once
// Routes between devices as vectors of link ids, computed on demand from the topology's
// structure (nothing is precomputed per pair, so a 9216-chip torus needs no N^2 table).
//
// - Same torus slice: dimension-order routing, axis 0 (x) first; on a wrapping axis the
//   shorter direction. Hops = torus distance. A tie (exactly k/2 apart on an even axis) goes +
//   when the source's coordinate on that axis plus the flow id is even, - otherwise. So half of
//   the sources on a ring send their ties each way and a flow keeps one path: with one flow id
//   (a uniform all-to-all), every directed link of a ring whose size is a multiple of 4 carries
//   exactly k^2/8 pair crossings, the balanced load the scaling book's all-to-all cost assumes
//   (Austin et al., "How to Scale Your Model", sharding.md, Question 10: blocks move right or
//   left at most k/2 hops, k^2/8 per link, V/(4W)); sending every tie + would load the + links
//   (k^2/8 + k/4) and the - links (k^2/8 - k/4), 1.5x the balanced load on a 4-ring. Every
//   wrapping axis of the TPU presets is a multiple of 4 (v4/v5p/Ironwood: multiples of 4;
//   v5e/v6e: 16); on a ring of size 2 mod 4 the parity split puts (k+2)/4 ties on half of the
//   links and (k-2)/4 on the others instead of k/4. Flow ids of opposite parity take opposite
//   directions, so a bidirectional ring's two directions (flow ids 0 and 1) use both cables of
//   a 2-wide wrapping axis.
// - Same NVSwitch domain: GPU -> NVSwitch -> GPU (two port links).
// - Different NVSwitch domains: GPU -> NIC -> leaf [-> spine [-> core -> spine] -> leaf] ->
//   NIC -> GPU; at every tier with several equal-cost next links the choice is ECMP by a
//   deterministic hash of (src, dst, flow_id, tier), so one flow keeps one path and different
//   flow ids spread over the spines and cores. (NCCL's PXN, which first moves data over NVLink
//   to the GPU on the destination's rail, is an algorithm choice for sim/net: it composes two
//   of these routes.)
// - Different TPU slices: device -> host NIC -> DCN switch -> host NIC -> device.
// The same (src, dst, flow_id) gives the same path on every platform.
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "topologies/topology.hpp"

namespace moesim::topo {

using path = std::vector<link_id>;

/// Deterministic 64-bit mix of the inputs (splitmix64 finaliser). Exposed for tests.
[[nodiscard]] std::uint64_t ecmp_hash(device_id src, device_id dst, std::uint64_t flow_id,
                                      int tier) noexcept;

class router {
 public:
  /// Keeps a reference: `topo` must outlive the router.
  explicit router(const topology& topo) : topo_(topo) {}

  /// Links from src to dst in traversal order; empty when src == dst. Throws
  /// std::invalid_argument for out-of-range devices or when no route exists (e.g. two slices
  /// without a DCN). O(path length + axes).
  [[nodiscard]] path route(device_id src, device_id dst, std::uint64_t flow_id = 0) const;
  /// Same, appending to `out` (cleared first) to reuse its storage.
  void route_into(device_id src, device_id dst, std::uint64_t flow_id, path& out) const;

  /// The single PCIe link device -> its host, and host -> device.
  [[nodiscard]] link_id to_host(device_id d) const;
  [[nodiscard]] link_id from_host(device_id d) const;

  [[nodiscard]] const topology& topo() const noexcept { return topo_; }

 private:
  void torus_route(const torus_slice& slice, std::int32_t a, std::int32_t b, std::uint64_t flow_id,
                   path& out) const;
  void fat_tree_route(device_id src, device_id dst, std::uint64_t flow_id, path& out) const;
  const topology& topo_;
};

/// Memoises routes by (src, dst, flow_id). Memory grows with the distinct keys asked for (never
/// all N^2 unless asked); clear() frees it. References returned stay valid until clear() or
/// destruction. Not thread-safe.
class path_cache {
 public:
  /// Keeps a reference: `r` must outlive the cache.
  explicit path_cache(const router& r) : router_(r) {}

  [[nodiscard]] std::span<const link_id> get(device_id src, device_id dst,
                                             std::uint64_t flow_id = 0);
  [[nodiscard]] std::size_t size() const noexcept { return paths_.size(); }
  void clear() noexcept { paths_.clear(); }

 private:
  struct key {
    device_id src;
    device_id dst;
    std::uint64_t flow;
    bool operator==(const key&) const = default;
  };
  struct key_hash {
    std::size_t operator()(const key& k) const noexcept {
      return static_cast<std::size_t>(ecmp_hash(k.src, k.dst, k.flow, 0));
    }
  };
  const router& router_;
  // Lookup only: iteration order never reaches an output.
  std::unordered_map<key, path, key_hash> paths_;
};

}  // namespace moesim::topo
