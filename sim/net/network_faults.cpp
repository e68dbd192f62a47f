// The network's link faults (network.hpp: add_link_faults): applying them at their times,
// moving the flows in flight off a failed link, and routing around failed links.
#include <algorithm>
#include <stdexcept>

#include "sim/net/network.hpp"

namespace moesim::sim::net {

namespace {
link_id solver_link(topo::link_id l) {
  return static_cast<link_id>(static_cast<std::uint32_t>(l));
}
}  // namespace

bool network::route_live(const connection& c) {
  router_.route_into(c.src, c.dst, c.tag, route_scratch_);
  if (down_count_ == 0) return false;
  for (const auto l : route_scratch_) {
    if (down_[static_cast<std::size_t>(l)] != 0) {
      ++fault_hits_[fault_of_[static_cast<std::size_t>(l)]];
      detour_.route(c.src, c.dst, c.tag, down_, route_scratch_);
      return true;
    }
  }
  return false;
}

void network::add_link_faults(std::span<const link_fault> faults) {
  if (faults.empty()) return;
  if (params_.model != timing_model::flow) {
    throw std::invalid_argument(
        "faults: the analytical network model cannot time link faults; use network.model flow");
  }
  faults_.insert(faults_.end(), faults.begin(), faults.end());
  std::stable_sort(faults_.begin() + static_cast<std::ptrdiff_t>(next_fault_), faults_.end(),
                   [](const link_fault& a, const link_fault& b) { return a.at < b.at; });
  for (const auto& f : faults) {
    if (f.fault >= fault_hits_.size()) fault_hits_.resize(f.fault + 1, 0);
  }
  const auto links = static_cast<std::size_t>(topo_.link_count());
  if (down_.empty()) {
    down_.assign(links, 0);
    fault_of_.assign(links, 0);
    degraded_.assign(links, 0);
    healthy_capacity_ = capacity_;
  }
  apply_due_faults();
}

void network::apply_due_faults() {
  while (next_fault_ < faults_.size() && faults_[next_fault_].at <= sim_.now()) {
    apply_fault(next_fault_++);
  }
  arm_fault_event();
}

void network::arm_fault_event() {
  if (fault_event_armed_ || live_ == 0 || next_fault_ >= faults_.size()) return;
  fault_event_armed_ = true;
  fault_event_ = sim_.schedule_at(std::max(sim_.now(), faults_[next_fault_].at), [this] {
    fault_event_armed_ = false;
    apply_due_faults();
  });
}

void network::apply_fault(std::size_t i) {
  const link_fault& f = faults_[i];
  const auto l = static_cast<std::size_t>(f.link);
  const bool was_down = down_[l] != 0;
  const bool now_down = f.factor == 0.0;
  if (was_down != now_down) {
    down_[l] = now_down ? 1 : 0;
    down_count_ = now_down ? down_count_ + 1 : down_count_ - 1;
    detour_.invalidate();
  }
  fault_of_[l] = f.fault;
  const bool now_degraded = !now_down && f.factor < 1.0;
  if ((degraded_[l] != 0) != now_degraded) {
    degraded_[l] = now_degraded ? 1 : 0;
    degraded_count_ = now_degraded ? degraded_count_ + 1 : degraded_count_ - 1;
  }
  if (!now_down) {
    capacity_[l] = healthy_capacity_[l] * f.factor;
    solver_.set_capacity(solver_link(f.link), capacity_[l]);
  }
  // The flows in flight over the link: re-shared (degraded), or moved to a detour (down).
  std::vector<std::uint32_t> hit;
  for (std::uint32_t slot = 0; slot < flows_.size(); ++slot) {
    const auto id = static_cast<flow_id>(slot);
    if (solver_.contains(id) && solver_.crosses(id, solver_link(f.link))) hit.push_back(slot);
  }
  fault_hits_[f.fault] += hit.size();
  if (now_down) {
    const time_ps now = sim_.now();
    for (const std::uint32_t slot : hit) {
      const active_flow old = flows_[slot];
      double left = old.remaining_bytes - old.rate * seconds(now - old.last_update);
      ++epochs_[slot];  // its heap entry is void
      solver_.remove_flow(static_cast<flow_id>(slot));
      --live_;
      live_rate_ -= old.rate;
      detour_.route(old.conn.src, old.conn.dst, old.conn.tag, down_, route_scratch_);
      scratch_path_.clear();
      time_ps latency = 0;
      for (auto hop : route_scratch_) {
        scratch_path_.push_back(solver_link(hop));
        latency += topo_.link(hop).latency_ps;
      }
      // A flow with (rounding) nothing left arrives after its new path's latency.
      add_solver_flow(old.batch, old.index, left > 0 ? left : 0.0, scratch_path_, latency,
                      old.conn);
    }
  }
  if (live_ > 0 && (now_down ? !hit.empty() : true)) request_solve(true);
}

}  // namespace moesim::sim::net
