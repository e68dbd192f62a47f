#pragma once
// Where an EP group's routed experts live and which copy serves which source rank's tokens:
// the one place the expert exchange (per_copy legs), the pass executor (each rank's expert
// tokens and the unique experts it streams from HBM) and the memory plan (replica weights) ask.
//
// Expert e's home is EP rank e / (experts / ep), the contiguous split. A placement may add
// replicas: extra copies of an expert, in some MoE layers or all of them, on other EP ranks
// (serve::expert_replica; policy divided uses them). A layer may instead hold an arbitrary slot
// table (set_layer: `moe.placement`'s strategies, sim/place/placement.hpp): slots / ep slots per
// rank, slot s on rank s / (slots / ep), each naming the logical expert it holds; an expert's
// copies are then the ranks of its slots in slot order (the first is its home), and policy
// divided's replicas are the special case "contiguous split + the listed copies".
// For one layer pass, assign() sends the copies source rank s routes to expert e:
//  1. to e's only copy when e has one;
//  2. to s itself when s holds a copy of e (no transfer);
//  3. else by the placement's replica_choice, over the remaining (source, replicated expert)
//     pairs, largest first (ties by expert, then source), each whole to one copy:
//     balanced  the copy whose rank has the fewest copies so far in this pass (ties to the
//               home, then the copies in order), counting everything placed by 1 and 2 first;
//     nearest   the copy nearest the source (rank_distance: same node before other nodes, then
//               fewest torus hops), ties as balanced.
// The dispatch kernel knows the pass's routing before it sends (DeepEP's layout step counts the
// tokens per rank first), so the choice can follow the pass's own load; SGLang's EPLB dispatch
// (sgl-project/sglang, compute_logical_to_rank_dispatch_physical_map) also takes a GPU's own
// copy first, then spreads the rest over the copies, with a fixed map instead. With no replicas
// in a layer every figure is the contiguous split's, summed in the same order as before.
#include <cstdint>
#include <span>
#include <vector>

#include "sim/run/layer_routing.hpp"
#include "sim/run/scenario.hpp"
#include "sim/serve/speculative_spec.hpp"

namespace moesim::sim::run {

class expert_placement {
 public:
  /// The contiguous split of `experts` over `ep` ranks (ep divides experts) over `layers` layer
  /// indices, plus `replicas` (layers and ranks in range, none on the expert's home, no rank
  /// twice: the loader checks; throws std::invalid_argument otherwise). O(replicas x ranks).
  expert_placement(int experts, int ep, int layers,
                   std::span<const moesim::serve::expert_replica> replicas = {});

  [[nodiscard]] int experts() const noexcept { return experts_; }
  [[nodiscard]] int ranks() const noexcept { return ep_; }
  /// The EP rank holding expert e's original weights. O(1).
  [[nodiscard]] int home(int e) const noexcept { return e / per_rank_; }

  /// What one EP rank computes in a layer pass: the (token, expert) copies its experts receive,
  /// and its experts (home or replica) receiving any, each streaming its weights from HBM.
  struct rank_load {
    double copies = 0;
    int active = 0;
  };
  /// One layer pass under the placement (rules above): copies from each source rank to each EP
  /// rank (row-major ep x ep, source-major) and each rank's load.
  struct pass_assignment {
    std::vector<std::int64_t> pairs;
    std::vector<rank_load> ranks;
    /// Copies routed to experts without a live copy (after remove_rank), dropped: in no pair
    /// and no rank's load.
    std::int64_t dropped = 0;
  };
  /// O(ep x experts), plus O(p log p) for the p (source, replicated expert) pairs to balance.
  [[nodiscard]] pass_assignment assign(const layer_routing& lr, int layer) const;

  /// The most replicas one rank holds, summed over the layers (slots beyond experts / ep for
  /// a slot table). O(layers x ranks).
  [[nodiscard]] std::int64_t most_replicas_on_a_rank() const;

  /// Layer `layer` holds the slot table `phy2log` (slots a multiple of ep and >= experts, every
  /// expert in at least one slot; throws std::invalid_argument naming the numbers otherwise).
  /// The contiguous table without replicas restores the split. O(slots + experts).
  void set_layer(int layer, std::span<const int> phy2log);
  /// Layer `layer` as `from` holds it (same experts, ranks and layers). O(slots).
  void copy_layer(int layer, const expert_placement& from);
  /// The distinct experts each rank holds in layer `layer` (per rank). O(slots).
  [[nodiscard]] std::vector<std::vector<int>> experts_on(int layer) const;
  /// Rank `rank` is lost (a device_loss fault, sim/run/device_loss.hpp): every layer's copies
  /// on it are removed, so assign() sends an expert's tokens to its surviving copies by the
  /// rules above, and drops (pass_assignment::dropped) those of an expert left without one.
  /// A rank lost again is a no-op. Throws std::invalid_argument for a rank outside [0, ep).
  /// O(layers x (experts + slots)).
  void remove_rank(int rank);
  /// Rule 3's choice; `rank_distance` (ep x ep, row-major by source) is required for nearest.
  void set_choice(replica_choice c, std::vector<int> rank_distance = {});
  [[nodiscard]] replica_choice choice() const noexcept { return choice_; }
  /// True when every layer is the contiguous split (with or without replicas). O(layers).
  [[nodiscard]] bool contiguous() const noexcept;

 private:
  /// One layer's copies. copies[e]: the ranks holding expert e, home first; held[r]: the
  /// distinct experts rank r holds, in the order they were added; extra[r]: r's slots beyond
  /// experts / ep.
  struct layer_copies {
    std::vector<std::vector<int>> copies;
    std::vector<std::vector<int>> held;
    std::vector<int> extra;
    std::vector<int> table;  ///< the slot table (empty: the split plus listed replicas)
  };
  [[nodiscard]] const layer_copies* copies_of(int layer) const noexcept;
  [[nodiscard]] layer_copies split_copies() const;

  int experts_;
  int ep_;
  int per_rank_;
  replica_choice choice_ = replica_choice::balanced;
  std::vector<int> distance_;     ///< ep x ep, nearest only
  std::vector<int> layer_index_;  ///< per layer: index in layers_, or -1 (no replicas)
  std::vector<layer_copies> layers_;
};

/// How unevenly one layer pass loads the EP ranks under a placement: the most expert-token
/// copies one rank computes over the mean, and the most experts one rank streams from HBM over
/// the mean (each 1 when every rank has the same; 0 for a pass without copies).
struct rank_spread {
  double tokens_max_over_mean = 0;
  double unique_max_over_mean = 0;
};
[[nodiscard]] rank_spread spread_of(const expert_placement::pass_assignment& a);

/// The placement the target's serving passes run on: `s`'s replicas when its speculative
/// policy is divided, else the contiguous split. O(as the constructor).
[[nodiscard]] expert_placement placement_of(const scenario& s);

/// HBM one device gives to expert replicas in `s`: the most replicas a rank holds over the
/// layers x one expert's weight bytes / tp, when the scenario (or its grid) runs policy
/// divided; else 0. O(layers x replicas).
[[nodiscard]] double replica_weight_bytes(const scenario& s);

}  // namespace moesim::sim::run
