#pragma once
// The parallel layout on the devices: devices = tp · ep · dp · pp, numbered by `order` (axes
// innermost first, Megatron-style): with "tp-ep-dp-pp", device = tp + TP·(ep + EP·(dp + DP·pp)),
// so TP ranks are adjacent (inside one NVLink domain) and pipeline stages are far apart.
//
// Groups (what a collective of each kind runs over), each listed in rank order:
//  - tp group: the tp devices sharing one (ep, dp, pp) coordinate;
//  - ep group: the ep devices of one (tp, dp, pp), exchanging tokens in dispatch/combine;
//  - attention data-parallel group: the ep·dp devices of one (tp, pp) (dense weights' gradients);
//  - expert data-parallel group: the dp devices of one (tp, ep, pp) (expert gradients).
// All functions are O(1) per device returned.
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "sim/run/config.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::run {

struct coords {
  int tp = 0;
  int ep = 0;
  int dp = 0;
  int pp = 0;
};

class layout {
 public:
  /// Throws std::invalid_argument when `order` does not name tp, ep, dp and pp once each.
  explicit layout(const parallel_config& p);

  [[nodiscard]] topo::device_id device(const coords& c) const noexcept;
  [[nodiscard]] coords of(topo::device_id d) const noexcept;
  [[nodiscard]] int devices() const noexcept { return devices_; }
  [[nodiscard]] const parallel_config& config() const noexcept { return p_; }

  [[nodiscard]] std::vector<topo::device_id> tp_group(int ep, int dp, int pp) const;
  [[nodiscard]] std::vector<topo::device_id> ep_group(int tp, int dp, int pp) const;
  [[nodiscard]] std::vector<topo::device_id> attention_dp_group(int tp, int pp) const;
  [[nodiscard]] std::vector<topo::device_id> expert_dp_group(int tp, int ep, int pp) const;

  /// For people: "tp groups {0,1} {2,3} ..." style lines, first two groups of each kind.
  [[nodiscard]] std::vector<std::string> describe() const;

 private:
  parallel_config p_;
  int devices_ = 0;
  std::array<int, 4> stride_{};  ///< device stride of tp, ep, dp, pp
};

/// Layers [first, last) of model chunk `c` of `chunks` over `layers` layers: chunk c starts at
/// floor(c * layers / chunks), so uneven counts differ by at most one and spread evenly
/// (61 layers over 16 stages: 3, 4, 4, 4, 4, 3, ...). O(1).
[[nodiscard]] std::pair<int, int> chunk_layer_range(int layers, int chunks, int c) noexcept;

/// Whether `order` names tp, ep, dp and pp once each (separated by '-').
[[nodiscard]] bool valid_order(const std::string& order);

/// The order `order: auto` stands for, and the rule that gives it:
///  - TP innermost: its all-reduces (two per layer) stay inside one NVLink domain or TPU slice
///    whenever tp fits one (the feasibility check refuses it otherwise);
///  - EP next: the dispatch/combine all-to-alls, the heaviest traffic of an MoE step, get the
///    fastest links left;
///  - across TPU slices (`multislice`), data parallelism outermost: the DCN carries only the
///    once-per-step gradient reduction, as in MaxText's multislice layouts; otherwise pipeline
///    stages outermost (Megatron's default order, tp-cp-ep-dp-pp): their sends are small.
[[nodiscard]] std::pair<std::string, std::string> auto_order(bool multislice);

}  // namespace moesim::sim::run
