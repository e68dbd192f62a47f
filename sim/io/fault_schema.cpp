#include "sim/io/fault_schema.hpp"

#include <fmt/format.h>

#include <optional>
#include <string>
#include <vector>

#include "sim/io/error.hpp"
#include "sim/net/faults.hpp"
#include "sim/run/device_loss.hpp"
#include "sim/run/fault_rates.hpp"
#include "topologies/cluster.hpp"

namespace moesim::io {

using sim::run::fault_event;
using sim::run::fault_kind;
using sim::run::fault_link;

namespace {

// Concrete faults a scenario's rates may expand to: device losses (an event each), stragglers
// and link faults (a step simulation each).
constexpr double max_expanded_faults = 1e6;
constexpr double max_slow_faults = 1000;
// A serving run's drawn faults: its faults report simulates the run once more with each alone.
constexpr double max_serving_faults = 32;

// "a decode workload", "a train workload without resilience".
std::string workload_name(const sim::run::scenario& s) {
  switch (s.workload.kind) {
    case sim::run::workload_kind::decode:
      return "a decode workload";
    case sim::run::workload_kind::prefill:
      return "a prefill workload";
    case sim::run::workload_kind::train:
      return "a train workload without resilience";
    case sim::run::workload_kind::serve:
      return "a serve workload whose arrivals do not end at a time (a count only)";
  }
  return "?";
}

const object_type<fault_link>& fault_link_type() {
  static const auto t = [] {
    object_type<fault_link> o("link",
                              "A cable between two vertices named as `moesim topo --dot` prints "
                              "them (dev12, leaf4, spine2, nic5, dcn0); both directions fail");
    o.required("from", &fault_link::from, string_spec{}, "one end, e.g. dev0")
        .required("to", &fault_link::to, string_spec{}, "the other end, e.g. dev1");
    return o;
  }();
  return t;
}

// Refuses key `key` of item n for faults of another kind.
void refuse_key(const doc::node& n, const std::string& path, const char* key, fault_kind kind) {
  if (const doc::node* k = n.find(key)) {
    detail::fail(*k, detail::join_path(path, key),
                 std::string("not a key of a ") + sim::run::to_string(kind) + " fault");
  }
}

}  // namespace

const object_type<fault_event>& fault_type() {
  static const auto t = [] {
    object_type<fault_event> o("fault", "A fault at a simulated time, or faults at a rate");
    const number_spec factor{0, 1, true};
    const number_spec slowdown{1, 1e6};
    o.required(
         "kind", &fault_event::kind,
         enum_spec<fault_kind>{{{"link_down", fault_kind::link_down},
                                {"link_degraded", fault_kind::link_degraded},
                                {"straggler", fault_kind::straggler},
                                {"device_loss", fault_kind::device_loss}}},
         "link_down: a cable fails, traffic re-routes; link_degraded: its bandwidth "
         "drops; straggler: a device computes slower; device_loss: a device dies "
         "(training: the job restarts from its last checkpoint; serving: its experts fail over "
         "to surviving copies or are lost, its requests move to the survivors and "
         "recompute their KV)")
        .optional("at_s", &fault_event::at_s, number_spec{0, max_simulated_seconds},
                  "when it takes effect, simulated seconds from the start (not with mtbf_h)")
        .optional("link", &fault_event::link,
                  optional_spec<fault_link, object_spec<fault_link>>{nested(fault_link_type())},
                  "link_down, link_degraded: the cable (with mtbf_h: omit it for every cable)")
        .optional("bandwidth_factor", &fault_event::bandwidth_factor,
                  optional_spec<double, number_spec>{factor},
                  "link_degraded: its capacity is multiplied by this, in (0, 1]")
        .optional("device", &fault_event::device,
                  optional_spec<std::int32_t, integer_spec<std::int32_t>>{{0, 1 << 30}},
                  "straggler, device_loss: the cluster device id (with mtbf_h: omit it for "
                  "every device)")
        .optional("compute_factor", &fault_event::compute_factor, slowdown,
                  "straggler: its FLOP-bound op time is multiplied by this (>= 1)")
        .optional("hbm_factor", &fault_event::hbm_factor, slowdown,
                  "straggler: its HBM-bound op time is multiplied by this (>= 1)")
        .optional("mtbf_h", &fault_event::mtbf_h,
                  optional_spec<double, number_spec>{number_spec{0, 1e12, true}},
                  "instead of at_s: faults at a rate, mean hours between failures of each "
                  "device (straggler, device_loss) or cable (link faults) named, or of every "
                  "one of the cluster when none is; drawn from the seed over the training "
                  "run's workload.training.resilience.run_hours")
        .check([](const fault_event& f, const doc::node& n, const std::string& path) {
          if (f.mtbf_h && n.find("at_s") != nullptr) {
            detail::fail(*n.find("at_s"), detail::join_path(path, "at_s"),
                         "give at_s (one fault) or mtbf_h (faults at a rate), not both");
          }
          const bool device_fault =
              f.kind == fault_kind::straggler || f.kind == fault_kind::device_loss;
          if (!device_fault) {
            if (!f.link && !f.mtbf_h) {
              detail::fail(n, path,
                           "missing required key 'link' of a link fault (or mtbf_h for faults "
                           "at a rate on every cable)");
            }
            refuse_key(n, path, "device", f.kind);
            refuse_key(n, path, "compute_factor", f.kind);
            refuse_key(n, path, "hbm_factor", f.kind);
          } else {
            if (!f.device && !f.mtbf_h) {
              detail::fail(n, path,
                           std::string("missing required key 'device' of a ") +
                               sim::run::to_string(f.kind) +
                               " (or mtbf_h for faults at a rate on every device)");
            }
            refuse_key(n, path, "link", f.kind);
            refuse_key(n, path, "bandwidth_factor", f.kind);
          }
          if (f.kind == fault_kind::device_loss) {
            refuse_key(n, path, "compute_factor", f.kind);
            refuse_key(n, path, "hbm_factor", f.kind);
          }
          if (f.kind == fault_kind::link_down) refuse_key(n, path, "bandwidth_factor", f.kind);
          if (f.kind == fault_kind::link_degraded && !f.bandwidth_factor) {
            detail::fail(n, path,
                         "missing required key 'bandwidth_factor' of a link_degraded fault");
          }
        });
    return o;
  }();
  return t;
}

void resolve_faults(const sim::run::scenario& s, const doc::node& root) {
  if (s.faults.empty()) return;
  const doc::node& list = *root.find("faults");
  const auto item = [&](std::size_t i) -> const doc::node& { return list.items()[i]; };
  const auto path = [](std::size_t i, const std::string& key) {
    return "faults[" + std::to_string(i) + "]" + (key.empty() ? "" : "." + key);
  };
  const topo::topology topo = topo::build_cluster(s.cluster, s.chip);
  const sim::run::resilience_config* long_run = s.workload.kind == sim::run::workload_kind::train &&
                                                        s.workload.training &&
                                                        s.workload.training->resilience
                                                    ? &*s.workload.training->resilience
                                                    : nullptr;
  const sim::run::fault_targets targets = sim::run::targets_of(topo);
  const std::optional<double> horizon_s = sim::run::fault_horizon_s(s);
  const bool serving = s.workload.kind == sim::run::workload_kind::serve;
  // How the messages name the horizon.
  const std::string over = long_run != nullptr
                               ? fmt::format("run_hours {:g}", long_run->run_hours)
                               : fmt::format("the arrival window ({:g} s)", horizon_s.value_or(0));
  double expected = 0;       // device losses the items give over the horizon
  double expected_slow = 0;  // stragglers and link faults
  std::vector<std::string> names;
  std::vector<std::uint8_t> down(static_cast<std::size_t>(topo.link_count()), 0);
  bool any_link = false;
  for (std::size_t i = 0; i < s.faults.size(); ++i) {
    const fault_event& f = s.faults[i];
    if (!horizon_s && f.mtbf_h) {
      detail::fail(*item(i).find("mtbf_h"), path(i, "mtbf_h"),
                   "faults at a rate need a horizon: a training run with "
                   "workload.training.resilience (run_hours), or a serving run whose arrivals "
                   "end (duration_s, or a request trace); this is " +
                       workload_name(s));
    }
    if (serving && f.mtbf_h && f.kind == fault_kind::device_loss) {
      detail::fail(*item(i).find("mtbf_h"), path(i, "mtbf_h"),
                   "device_loss at a rate is for training runs "
                   "(workload.training.resilience); a serving run loses a device at a time "
                   "(at_s)");
    }
    if (long_run != nullptr && !f.mtbf_h && f.at_s >= *horizon_s) {
      detail::fail(item(i).find("at_s") ? *item(i).find("at_s") : item(i), path(i, "at_s"),
                   fmt::format("at {:g} s is beyond the run (run_hours {:g} = {:g} s)", f.at_s,
                               long_run->run_hours, *horizon_s));
    }
    if (long_run != nullptr || (serving && f.mtbf_h)) {
      // Training: a straggler or link fault costs a step simulation, a device loss an event.
      // Serving: each drawn fault costs a serving run in the faults report (timed ones are not
      // drawn, and count as the user wrote them).
      const bool slow = f.kind != fault_kind::device_loss;
      (slow ? expected_slow : expected) += sim::run::expected_faults(f, targets, *horizon_s);
      const double slow_limit = serving ? max_serving_faults : max_slow_faults;
      if (expected > max_expanded_faults || expected_slow > slow_limit) {
        detail::fail(
            item(i), path(i, ""),
            fmt::format("the {} expected over {} ({:.3g} up to this item) exceed the "
                        "limit of {:g}; raise mtbf_h or shorten {}",
                        slow ? "stragglers and link faults" : "device losses", over,
                        slow ? expected_slow : expected, slow ? slow_limit : max_expanded_faults,
                        serving ? "duration_s" : "run_hours"));
      }
    }
    if (f.kind == fault_kind::straggler || f.kind == fault_kind::device_loss) {
      if (!f.device) continue;
      if (*f.device >= topo.device_count()) {
        detail::fail(*item(i).find("device"), path(i, "device"),
                     "device " + std::to_string(*f.device) +
                         " is not in the cluster (devices 0 to " +
                         std::to_string(topo.device_count() - 1) + ")");
      }
      continue;
    }
    any_link = true;
    if (!f.link) continue;  // at a rate on every cable
    if (names.empty()) {
      for (topo::vertex_id v = 0; v < topo.vertex_count(); ++v) names.push_back(topo.name(v));
    }
    const doc::node& link = *item(i).find("link");
    topo::vertex_id ends[2] = {0, 0};
    for (int e = 0; e < 2; ++e) {
      const char* key = e == 0 ? "from" : "to";
      const std::string& name = e == 0 ? f.link->from : f.link->to;
      const auto v = sim::net::find_vertex(topo, name);
      if (!v) {
        const std::string guess = did_you_mean(name, names);
        detail::fail(*link.find(key), path(i, std::string("link.") + key),
                     "no vertex '" + name + "' in the cluster" +
                         (guess.empty() ? "" : "; did you mean '" + guess + "'?") +
                         " (devices dev0 to dev" + std::to_string(topo.device_count() - 1) +
                         "; `moesim topo --dot` names every vertex)");
      }
      ends[e] = *v;
    }
    const auto l = sim::net::find_link(topo, ends[0], ends[1]);
    if (!l) {
      detail::fail(link, path(i, "link"),
                   "no link joins " + f.link->from + " and " + f.link->to + " in the cluster");
    }
    if (f.kind == fault_kind::link_down && !f.mtbf_h) {
      down[static_cast<std::size_t>(*l)] = 1;
      down[static_cast<std::size_t>(topo.link(*l).reverse)] = 1;
    }
  }
  if (const auto bad = sim::run::check_device_losses(s)) {
    const doc::node& at = *item(bad->fault).find(bad->key);
    detail::fail(at, path(bad->fault, bad->key), bad->message);
  }
  if (!any_link) return;
  if (s.network.model == sim::run::network_model::analytical) {
    detail::fail(list, "faults",
                 "link faults need network.model flow (the analytical model times batches "
                 "without re-sharing or re-routing in flight)");
  }
  // Every link that fails at any time, at once: a pair cut off then has no route at that time.
  // Faults at rates are drawn here as the run will draw them.
  std::size_t drawn = 0;  // cables the rates take down over the run
  if (horizon_s) {
    for (const auto& t : sim::run::expand_faults(s.faults, targets, s.seed, *horizon_s)) {
      if (t.event.kind != fault_kind::link_down || !t.from_rate) continue;
      const auto l = sim::net::find_link(topo, *sim::net::find_vertex(topo, t.event.link->from),
                                         *sim::net::find_vertex(topo, t.event.link->to));
      drawn += down[static_cast<std::size_t>(*l)] == 0 ? 1 : 0;
      down[static_cast<std::size_t>(*l)] = 1;
      down[static_cast<std::size_t>(topo.link(*l).reverse)] = 1;
    }
  }
  if (const auto cut = sim::net::first_cut_pair(topo, down)) {
    detail::fail(
        list, "faults",
        "the failed links leave no route from " + topo.name(cut->first) + " to " +
            topo.name(cut->second) +
            (drawn > 0 ? fmt::format(" (link_down faults at a rate drawn with seed {} take "
                                     "down {} of the {} cables over {}; raise "
                                     "mtbf_h or change the seed)",
                                     s.seed, drawn, targets.cables.size(), over)
                       : std::string()));
  }
}

}  // namespace moesim::io
