#include "sim/run/trace_selection.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "sim/run/layout.hpp"
#include "sim/run/serve_instances.hpp"

namespace moesim::sim::run {

namespace {

int simulated_replicas(const scenario& s) {
  return s.folding.dp_replicas ? 1 : s.parallelism.dp;
}

// Microseconds, as the trace's timestamps print them.
std::string micros(time_ps ps) {
  return fmt::format("{}.{:06} us", ps / ps_per_us, ps % ps_per_us);
}

// Why some devices never have a timeline, or "" when all do.
std::string unrecorded_reason(const scenario& s) {
  const auto& p = s.parallelism;
  std::string why;
  if (p.tp > 1) why = "TP ranks 1.. run their TP rank 0's ops and are not recorded";
  if (simulated_replicas(s) < p.dp) {
    why += fmt::format("{}{} folded onto replica 0 (folding.dp_replicas) and not simulated",
                       why.empty() ? "" : "; ",
                       p.dp == 2 ? "data-parallel replica 1 is"
                                 : fmt::format("data-parallel replicas 1-{} are", p.dp - 1));
  }
  return why;
}

}  // namespace

std::string format_device_ranges(const std::vector<topo::device_id>& ids) {
  if (ids.empty()) return "none";
  std::string out;
  for (std::size_t i = 0; i < ids.size();) {
    std::size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    out += fmt::format("{}{}", out.empty() ? "" : ",", ids[i]);
    if (j > i) out += fmt::format("-{}", ids[j]);
    i = j + 1;
  }
  return out;
}

std::vector<topo::device_id> recordable_devices(const scenario& s) {
  const layout l(s.parallelism);
  const auto& p = s.parallelism;
  std::vector<topo::device_id> out;
  for (int r = 0; r < simulated_replicas(s); ++r) {
    for (int st = 0; st < p.pp; ++st) {
      for (int e = 0; e < p.ep; ++e) out.push_back(l.device({0, e, r, st}));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void check_trace_devices(const scenario& written, const std::vector<topo::device_id>& devices) {
  // A disaggregated run traces cluster devices: its instances' layouts side by side.
  const bool disaggregated = written.workload.serve && written.workload.serve->disaggregation;
  const scenario s = disaggregated ? whole_cluster(written) : written;
  const long long n = s.parallelism.devices();
  for (const topo::device_id d : devices) {
    if (d < 0 || d >= n) {
      throw std::invalid_argument(
          fmt::format("device {} is out of range: the layout has {} devices (0-{})", d, n, n - 1));
    }
  }
  const std::vector<topo::device_id> recorded = recordable_devices(s);
  for (const topo::device_id d : devices) {
    if (std::binary_search(recorded.begin(), recorded.end(), d)) return;
  }
  // Name a few recordable devices, not all 1024 of a large run.
  std::vector<topo::device_id> some = recorded;
  if (some.size() > 16) some.resize(16);
  throw std::invalid_argument(
      fmt::format("none of the devices {} has a timeline: {}; the {} recorded devices start {}{}",
                  format_device_ranges(devices), unrecorded_reason(s), recorded.size(),
                  format_device_ranges(some), some.size() < recorded.size() ? ", ..." : ""));
}

trace_plan plan_trace(const scenario& s, const topo::topology& t, const trace_selection& sel,
                      trace_recorder& trace) {
  const auto& p = s.parallelism;
  const layout l(p);
  const std::vector<topo::device_id> recorded = recordable_devices(s);
  trace_plan plan;
  std::string rule;
  if (!sel.devices.empty()) {
    std::set_intersection(sel.devices.begin(), sel.devices.end(), recorded.begin(), recorded.end(),
                          std::back_inserter(plan.devices));
    rule = fmt::format("requested: {}", format_device_ranges(sel.devices));
  } else if (sel.device_budget <= 0) {
    plan.devices = recorded;
    rule = fmt::format("requested: all {} recorded devices", recorded.size());
  } else if (static_cast<int>(recorded.size()) <= sel.device_budget) {
    plan.devices = recorded;
    rule = fmt::format("default: all {} recorded devices (within the budget of {})",
                       recorded.size(), sel.device_budget);
  } else {
    const int k = std::clamp(sel.device_budget / p.pp, 1, p.ep);
    for (int st = 0; st < p.pp; ++st) {
      for (int e = 0; e < k; ++e) plan.devices.push_back(l.device({0, e, 0, st}));
    }
    std::sort(plan.devices.begin(), plan.devices.end());
    rule = fmt::format(
        "default: the {} recorded devices exceed the budget of {}; traced EP ranks {} of "
        "data-parallel replica 0 on each of the {} pipeline stages",
        recorded.size(), sel.device_budget, k == 1 ? "0" : fmt::format("0-{}", k - 1), p.pp);
  }
  const auto devices = static_cast<topo::device_id>(p.devices());
  std::vector<bool> traced(static_cast<std::size_t>(devices), false);
  for (const topo::device_id d : plan.devices) traced[static_cast<std::size_t>(d)] = true;
  std::vector<topo::device_id> untraced;
  for (topo::device_id d = 0; d < devices; ++d) {
    if (!traced[static_cast<std::size_t>(d)]) untraced.push_back(d);
  }

  // Links: everything when nothing recorded is left out, else those of the traced devices and
  // their NICs, and those between switches.
  const bool all = plan.devices.size() == recorded.size();
  std::vector<bool> near(static_cast<std::size_t>(t.vertex_count()), false);
  for (const topo::device_id d : plan.devices) {
    near[static_cast<std::size_t>(d)] = true;
    const topo::vertex_id nic = t.devices[static_cast<std::size_t>(d)].nic;
    if (nic != topo::none) near[static_cast<std::size_t>(nic)] = true;
  }
  const auto between_switches = [&](topo::vertex_id v) {
    const auto k = t.vertex(v).kind;
    return k != topo::vertex_kind::device && k != topo::vertex_kind::host &&
           k != topo::vertex_kind::nic;
  };
  plan.links.assign(static_cast<std::size_t>(t.link_count()), false);
  int eligible = 0;
  int kept = 0;
  for (topo::link_id id = 0; id < t.link_count(); ++id) {
    const auto& link = t.link(id);
    if (link.kind == topo::link_kind::pcie) continue;
    ++eligible;
    const bool keep = all || near[static_cast<std::size_t>(link.src)] ||
                      near[static_cast<std::size_t>(link.dst)] ||
                      (between_switches(link.src) && between_switches(link.dst));
    plan.links[static_cast<std::size_t>(id)] = keep;
    kept += keep ? 1 : 0;
  }

  trace.set_window(sel.from, sel.to);
  trace.note("traced_devices", format_device_ranges(plan.devices));
  trace.note("untraced_devices", format_device_ranges(untraced));
  trace.note("device_selection", rule);
  if (const std::string why = unrecorded_reason(s); !why.empty()) {
    trace.note("unrecorded_devices", why);
  }
  trace.note("window",
             (sel.from <= 0 && sel.to == time_max
                  ? std::string("whole run")
                  : fmt::format("{} to {}: events overlapping it, kept whole", micros(sel.from),
                                sel.to == time_max ? "the end" : micros(sel.to))) +
                 (sel.window_rule.empty() ? "" : " (" + sel.window_rule + ")"));
  trace.note(
      "links",
      all ? fmt::format("counters of all {} non-PCIe links (those at least half busy)", eligible)
          : fmt::format("counters of {} of the {} non-PCIe links (those at least half "
                        "busy): the links of traced devices and their NICs, and the "
                        "links between switches; {} links of untraced devices left out",
                        kept, eligible, eligible - kept));
  return plan;
}

std::pair<time_ps, time_ps> default_serve_trace_window(const scenario& s) {
  const double duration = s.workload.serve ? s.workload.serve->requests.duration_s : 0.0;
  const time_ps from = duration > 0 ? ps_from_seconds(duration / 2) : 0;
  return {from, from + default_serve_trace_window_ps};
}

}  // namespace moesim::sim::run
