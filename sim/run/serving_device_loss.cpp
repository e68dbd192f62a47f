// serving_instance's device losses (sim/run/device_loss.hpp): at an iteration boundary, the
// lost rank's expert copies leave the placement and its requests move to the survivors.
#include <vector>

#include "sim/run/serving_instance.hpp"

namespace moesim::sim::run {

void serving_instance::apply_device_losses(time_ps now) {
  for (const std::size_t fault : loss_->due(now)) {
    const int rank = loss_->rank_of(fault);
    const auto ur = static_cast<std::size_t>(rank);
    std::vector<int> moe;
    for (const int l : chunks_.layers(0)) {
      if (chunks_.is_moe(l)) moe.push_back(l);
    }
    // The placement the executor reads (it keeps a reference): the residency's or our own.
    expert_placement& placed = residency_ ? residency_->placement_for_faults() : placement_;
    const expert_loss experts = s_.model.moe ? lose_rank(placed, rank, moe) : expert_loss{};
    lost_[ur] = 1;
    // The rank's requests, running then waiting, each to the rank the policy picks among the
    // survivors, queued there (last first) ahead of what waits there.
    const std::size_t running = ranks_[ur].running();
    std::vector<serve::detail::sequence> moved = ranks_[ur].evict_all();
    std::vector<std::vector<std::size_t>> to(ranks_.size());
    for (std::size_t i = 0; i < moved.size(); ++i) {
      const serve::request& r = moved[i].req;
      release(r);
      const int target = pick_rank();
      assign(r, target);
      to[static_cast<std::size_t>(target)].push_back(i);
    }
    for (std::size_t t = 0; t < to.size(); ++t) {
      for (auto i = to[t].rbegin(); i != to[t].rend(); ++i) ranks_[t].adopt(moved[*i]);
    }
    loss_->applied(fault, now, experts, moved, running);
  }
}

std::vector<device_loss_report> serving_instance::device_losses() const {
  return loss_ ? loss_->reports() : std::vector<device_loss_report>{};
}

}  // namespace moesim::sim::run
