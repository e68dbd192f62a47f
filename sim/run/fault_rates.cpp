#include "sim/run/fault_rates.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "sim/engine/random.hpp"

namespace moesim::sim::run {

namespace {

bool device_kind(fault_kind k) {
  return k == fault_kind::straggler || k == fault_kind::device_loss;
}

}  // namespace

std::optional<double> fault_horizon_s(const scenario& s) {
  const workload_config& w = s.workload;
  if (w.kind == workload_kind::train && w.training && w.training->resilience) {
    return w.training->resilience->run_hours * 3600;
  }
  if (w.kind != workload_kind::serve || !w.serve) return std::nullopt;
  const serve::request_spec& r = w.serve->requests;
  if (r.arrivals == serve::arrival_kind::trace) {
    if (r.trace.empty()) return std::nullopt;
    return static_cast<double>(r.trace.back().arrival) * 1e-12;  // ps
  }
  if (r.duration_s > 0) return r.duration_s;
  return std::nullopt;
}

fault_targets targets_of(const topo::topology& topo) {
  fault_targets t;
  t.devices = topo.device_count();
  for (topo::link_id l = 0; l < topo.link_count(); ++l) {
    const topo::link_info& info = topo.link(l);
    if (info.reverse != topo::none && info.reverse < l) continue;  // each cable once
    t.cables.push_back({topo.name(info.src), topo.name(info.dst)});
  }
  return t;
}

std::size_t target_count(const fault_event& item, const fault_targets& targets) {
  if (device_kind(item.kind)) {
    return item.device ? 1 : static_cast<std::size_t>(std::max(targets.devices, 0));
  }
  return item.link ? 1 : targets.cables.size();
}

double expected_faults(const fault_event& item, const fault_targets& targets, double horizon_s) {
  if (!item.mtbf_h) return item.at_s < horizon_s ? 1 : 0;
  return static_cast<double>(target_count(item, targets)) * horizon_s / (*item.mtbf_h * 3600);
}

std::vector<timed_fault> expand_faults(std::span<const fault_event> items,
                                       const fault_targets& targets, std::uint64_t seed,
                                       double horizon_s) {
  std::vector<timed_fault> out;
  const rng faults = rng::stream(seed, "faults");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const fault_event& item = items[i];
    if (!item.mtbf_h) {
      if (item.at_s < horizon_s) out.push_back({item, i, false});
      continue;
    }
    const std::size_t n = target_count(item, targets);
    if (n == 0) {
      throw std::invalid_argument("faults[" + std::to_string(i) +
                                  "]: a rate with nothing to fall on (no devices or cables)");
    }
    rng r = faults.fork(i);
    const double rate = static_cast<double>(n) / (*item.mtbf_h * 3600);  // per second
    for (double t = r.exponential(rate); t < horizon_s; t += r.exponential(rate)) {
      timed_fault f{item, i, true};
      f.event.at_s = t;
      f.event.mtbf_h.reset();
      const auto k = static_cast<std::size_t>(r.below(n));
      if (device_kind(item.kind)) {
        if (!item.device) f.event.device = static_cast<std::int32_t>(k);
      } else if (!item.link) {
        f.event.link = targets.cables[k];
      }
      out.push_back(std::move(f));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const timed_fault& a, const timed_fault& b) {
    return a.event.at_s < b.event.at_s;
  });
  return out;
}

}  // namespace moesim::sim::run
