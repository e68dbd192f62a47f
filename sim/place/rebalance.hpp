#pragma once
// Rebalancing that trades balance for moves: instead of placing afresh on the latest loads (a
// strategy run again changes most device sets and replica counts, so most slots move), improve
// the current placement one move at a time while a move's balance gain pays for its transfer.
//
// A move is one of
//   swap         two slots on different devices exchange their experts (2 copies transferred)
//   re-replicate a slot holding one of several copies of an expert takes a copy of another
//                expert instead (1 copy transferred; replica counts change by one each)
// and its gain is how much it lowers the layer's most-loaded device, as a share of the mean
// device load (the drop in device_load max/mean, loads split evenly over copies as
// placement.hpp's device_load). Greedily, the move with the largest gain per copy transferred
// is made while that is at least `min_gain`, a device never holding two copies of one expert.
// min_gain 0 goes on while any move lowers the maximum (a local optimum: no better than a
// strategy placed afresh, typically close to it). The strategies' structure (EPLB's groups per
// node) is not kept.
//
// Prior art: vLLM's EPLB (vllm/distributed/eplb/eplb_state.py) re-runs the algorithm every
// step_interval steps on a window_size window and moves whatever changed; SGLang's
// (python/sglang/srt/eplb/eplb_manager.py) can skip a whole rebalance while the window's mean
// / max utilisation is above eplb_min_rebalancing_utilization_threshold. Here the threshold is
// per move, so a rebalance makes only the moves worth their bytes.
#include "sim/place/placement.hpp"

namespace moesim::place {

/// `previous` (a placement of p's shape: p.physical_experts slots per layer over p.devices)
/// improved by moves as above on p.loads; min_gain >= 0 (max/mean drop per copy moved). Each
/// layer makes at most p.physical_experts moves, each chosen among O(per_device x slots) swaps
/// (O(devices) each) and O(slots x per_device + per_device x experts) re-replications
/// (O(devices) each). Deterministic: ties to the first candidate in slot order.
[[nodiscard]] placement rebalance_moves(const problem& p, const placement& previous,
                                        double min_gain);

}  // namespace moesim::place
