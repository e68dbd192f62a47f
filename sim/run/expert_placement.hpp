#pragma once
// Where an EP group's routed experts live and which copy serves which source rank's tokens:
// the one place the expert exchange (per_copy legs), the pass executor (each rank's expert
// tokens and the unique experts it streams from HBM) and the memory plan (replica weights) ask.
//
// Expert e's home is EP rank e / (experts / ep), the contiguous split. A placement may add
// replicas: extra copies of an expert, in some MoE layers or all of them, on other EP ranks
// (serve::expert_replica; policy divided uses them, and the placement issue will generate the
// same list). Tokens of source rank s routed to expert e in layer l go to dispatch_rank(l, s, e):
//  - s itself when it holds a copy of e;
//  - else the copy serving the fewest source ranks so far, the sources taken in rank order and
//    each copy counting its own rank, ties to the earlier copy (home first, then the replicas
//    as listed).
// That is SGLang's static EPLB dispatch (sgl-project/sglang, eplb expert_location.py,
// compute_logical_to_rank_dispatch_physical_map: a GPU's own copy first, else a fair share of
// the copies) without its same-node preference and with a fixed rather than seeded-random
// fair assignment. With no replicas every (source, expert) pair goes home and every figure is
// the contiguous split's.
#include <cstdint>
#include <span>
#include <vector>

#include "sim/run/routing_sampler.hpp"
#include "sim/serve/speculative_spec.hpp"

namespace moesim::sim::run {

class expert_placement {
 public:
  /// The contiguous split of `experts` over `ep` ranks (ep divides experts) over `layers` layer
  /// indices, plus `replicas` (layers and ranks in range, none on the expert's home, no rank
  /// twice: the loader checks; throws std::invalid_argument otherwise). O(layers x experts x ep)
  /// for the layers with replicas.
  expert_placement(int experts, int ep, int layers,
                   std::span<const moesim::serve::expert_replica> replicas = {});

  [[nodiscard]] int experts() const noexcept { return experts_; }
  [[nodiscard]] int ranks() const noexcept { return ep_; }
  [[nodiscard]] bool replicated() const noexcept { return !layers_.empty(); }
  /// The EP rank holding expert e's original weights. O(1).
  [[nodiscard]] int home(int e) const noexcept { return e / per_rank_; }
  /// The EP rank that computes what source rank `src` routes to expert `e` in `layer`. O(1).
  [[nodiscard]] int dispatch_rank(int layer, int src, int e) const noexcept;

  /// (token, expert) copies from each source rank to each EP rank for `lr` of `layer`
  /// (row-major ep x ep, source-major). O(ep x experts).
  [[nodiscard]] std::vector<std::int64_t> rank_pairs(const layer_routing& lr, int layer) const;

  /// What EP rank `rank` computes for `lr` of `layer`: the copies its experts receive, and its
  /// experts (home or replica) receiving any, each streaming its weights. O(ep x experts) with
  /// replicas in the layer, else O(experts / ep).
  struct rank_load {
    double copies = 0;
    int active = 0;
  };
  [[nodiscard]] rank_load load(const layer_routing& lr, int layer, int rank) const;

  /// The most replicas one rank holds, summed over the layers. O(layers x replicas).
  [[nodiscard]] std::int64_t most_replicas_on_a_rank() const;

 private:
  /// One layer's dispatch: dispatch[src * experts + e], and the copies held per rank.
  struct layer_map {
    std::vector<int> dispatch;
    std::vector<std::vector<int>> replicas_on;  ///< per rank: the experts it holds copies of
  };
  [[nodiscard]] const layer_map* map_of(int layer) const noexcept;

  int experts_;
  int ep_;
  int per_rank_;
  std::vector<int> layer_index_;  ///< per layer: index in layers_, or -1 (no replicas)
  std::vector<layer_map> layers_;
};

/// How unevenly one layer pass loads the EP ranks under a placement: the most expert-token
/// copies one rank computes over the mean, and the most experts one rank streams from HBM over
/// the mean (each 1 when every rank has the same; 0 for a pass without copies).
struct rank_spread {
  double tokens_max_over_mean = 0;
  double unique_max_over_mean = 0;
};
[[nodiscard]] rank_spread spread_of(const expert_placement& p, const layer_routing& lr, int layer);

/// The placement the target's serving passes run on: `s`'s replicas when its speculative
/// policy is divided, else the contiguous split. O(as the constructor).
[[nodiscard]] expert_placement placement_of(const scenario& s);

/// HBM one device gives to expert replicas in `s`: the most replicas a rank holds over the
/// layers x one expert's weight bytes / tp, when the scenario (or its grid) runs policy
/// divided; else 0. O(layers x replicas).
[[nodiscard]] double replica_weight_bytes(const scenario& s);

}  // namespace moesim::sim::run
