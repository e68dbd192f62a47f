#pragma once
// The expert exchange of an EP group: which rank-to-rank legs carry a layer's token copies
// (moe.exchange), how many tokens each leg carries for a routing, in which precision, over which
// routes, and what fixed cost DeepEP-style kernels add. The pass executor plays it on the
// network; this file only plans it.
//
//  per_copy      one copy per (token, expert) to the expert's rank (NCCL all-to-all-v; in decode
//                on chips with collective.ep_low_latency_kernel_ps, DeepEP's low-latency kernels)
//  per_rank      one copy per (token, destination rank) (DeepEP's normal kernels inside a node)
//  hierarchical  one copy per (token, destination node) to the rank at the sender's position on
//                that node, forwarded over NVLink to the other ranks there (DeepEP internode)
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "sim/net/network.hpp"
#include "sim/run/expert_placement.hpp"
#include "sim/run/feasibility.hpp"
#include "sim/run/machine.hpp"
#include "sim/run/layer_routing.hpp"

namespace moesim::sim::run {

class expert_exchange {
 public:
  /// Connections of one direction of (rep, stage)'s exchange: one per leg and TP rank, routed
  /// once for the run, with each connection's receiving EP rank.
  struct plan {
    net::route_set routes;
    std::vector<std::uint32_t> receiver;
    /// Per connection: link time charged per byte relative to NCCL's. DeepEP's kernels (per_rank
    /// and hierarchical exchanges) reach collective.ep_link_efficiency of NVLink where NCCL
    /// reaches efficiency.link: a connection inside one node is charged link / ep bytes per
    /// byte (empty when every factor is 1).
    std::vector<double> charge;
  };

  expert_exchange(machine& m, const scenario& s);

  /// Where an EP group's ranks sit (hierarchical exchanges), else empty.
  [[nodiscard]] const ep_nodes& nodes() const noexcept { return nodes_; }

  /// The dispatch (to_experts) or combine direction of (rep, stage); planned on first use.
  const plan& routes(int rep, int stage, bool to_experts);

  /// Tokens each connection carries for routing `lr` (either direction: both carry the same
  /// copies between the same pairs), TP entries per leg. `padded_slots` > 0: padded dispatch,
  /// every source sends every expert that many slots. A per_copy exchange sends `placed.pairs`
  /// (the layer pass's copies per source and EP rank, expert_placement::assign).
  [[nodiscard]] std::vector<double> tokens(const layer_routing& lr, std::int64_t padded_slots,
                                           const expert_placement::pass_assignment& placed) const;

  /// Bytes of one token sent in `c` (dispatch or combine) in its precision; fp8 activations
  /// carry one fp32 scale per 128 values (DeepSeek-V3 s3.3.2 fine-grained quantization; the
  /// bytes DeepEP's tests count).
  [[nodiscard]] double token_bytes(category c) const;

  /// Fixed cost of each dispatch and combine kernel (0 when none; see the .cpp).
  [[nodiscard]] time_ps kernel_ps() const noexcept { return kernel_ps_; }

  /// ECMP tag of every expert-exchange flow: an EP group's connections (RDMA queue pairs) are
  /// set up once and reused by every layer and step, and a connection keeps its path (InfiniBand
  /// forwards by destination through static tables; RoCE hashes the connection's 5-tuple), so
  /// a (source, destination) pair takes the same path every time.
  static constexpr std::uint64_t tag = 0;

 private:
  /// One rank-to-rank transfer in the dispatch direction. direct: what the source's tokens need
  /// on the destination rank; to_node: the source's tokens that need the destination's node,
  /// once each (hierarchical); forward: the destination's share of what the ranks in `behind`
  /// sent to the forwarding rank `from`.
  enum class leg_kind : std::uint8_t { direct, to_node, forward };
  struct leg {
    int from = 0;
    int to = 0;
    leg_kind kind = leg_kind::direct;
    std::vector<int> behind;  ///< forward legs: the source ranks whose tokens are forwarded
  };
  static std::vector<leg> legs_of(exchange_kind kind, int ep, const ep_nodes& nodes);

  machine& m_;
  const scenario& s_;
  int ep_;
  int tp_;
  ep_nodes nodes_;
  double nvlink_charge_ = 1;
  time_ps kernel_ps_ = 0;
  std::vector<leg> legs_;  ///< the dispatch direction's legs, in connection order
  std::map<std::tuple<int, int, bool>, std::unique_ptr<plan>> plans_;
};

}  // namespace moesim::sim::run
