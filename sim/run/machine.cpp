#include "sim/run/machine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "sim/cluster/profile_table.hpp"
#include "topologies/cluster.hpp"

namespace moesim::sim::run {

namespace {

net::network_params network_params_of(const scenario& s) {
  net::network_params p = net::network_params_for(net::collective_params_for(s.chip),
                                                  s.network.model == network_model::flow
                                                      ? net::timing_model::flow
                                                      : net::timing_model::analytical);
  p.resolve_quantum = s.network.resolve_quantum;
  return p;
}

}  // namespace

std::vector<net::link_fault> link_faults_of(std::span<const fault_event> faults,
                                            const topo::topology& topo) {
  std::vector<net::link_fault> out;
  for (std::size_t i = 0; i < faults.size(); ++i) {
    const fault_event& f = faults[i];
    if (f.kind == fault_kind::straggler || !f.link) continue;
    const auto from = net::find_vertex(topo, f.link->from);
    const auto to = net::find_vertex(topo, f.link->to);
    const auto l = from && to ? net::find_link(topo, *from, *to) : std::nullopt;
    if (!l) {
      throw std::invalid_argument("faults: no link joins " + f.link->from + " and " + f.link->to);
    }
    const double factor = f.kind == fault_kind::link_down ? 0.0 : f.bandwidth_factor.value_or(1.0);
    const time_ps at = ps_from_seconds(f.at_s);
    out.push_back({*l, at, factor, i});
    out.push_back({topo.link(*l).reverse, at, factor, i});
  }
  return out;
}

cluster::number_format format_of(models::weight_dtype d) {
  switch (d) {
    case models::weight_dtype::fp8:
      return cluster::number_format::fp8;
    case models::weight_dtype::int8:
    case models::weight_dtype::int4:
      return cluster::number_format::int8;
    default:
      return cluster::number_format::bf16;
  }
}

const char* format_name(cluster::number_format f) {
  switch (f) {
    case cluster::number_format::fp8:
      return "fp8";
    case cluster::number_format::int8:
      return "int8";
    default:
      return "bf16";
  }
}

cluster_fabric::cluster_fabric(const scenario& s, trace_recorder& trace, const trace_selection& sel)
    : trace_(trace),
      topo_(topo::build_cluster(s.cluster, s.chip)),
      sim_(s.seed),
      net_(sim_, topo_, network_params_of(s)),
      cparams_(net::collective_params_for(s.chip)) {
  net_.add_link_faults(link_faults_of(s.faults, topo_));
  if (!trace_.enabled()) return;
  trace_plan plan = plan_trace(s, topo_, sel, trace_);
  traced_ = std::move(plan.devices);
  trace_links_ = std::move(plan.links);
  net_.observe_traffic(
      [this](time_ps start, time_ps end, std::span<const net::network::link_traffic> links) {
        trace_link_traffic(start, end, links);
      });
}

machine::machine(const scenario& s, trace_recorder& trace, const trace_selection& sel)
    : own_(std::make_unique<cluster_fabric>(s, trace, sel)),
      f_(*own_),
      s_(s),
      trace_(trace),
      rates_(cluster::rates_for(s.chip, format_of(s.model.dtype), launch_overhead_ps,
                                format_of(s.precision.attention_or(s.model.dtype)))),
      layout_(s.parallelism),
      dtype_name_(format_name(format_of(s.model.dtype))),
      dev_(static_cast<std::size_t>(layout_.devices())) {
  add_tracks();
  add_stragglers();
}

machine::machine(cluster_fabric& fabric, const scenario& s, topo::device_id first_device)
    : f_(fabric),
      first_(first_device),
      s_(s),
      trace_(fabric.trace()),
      rates_(cluster::rates_for(s.chip, format_of(s.model.dtype), launch_overhead_ps,
                                format_of(s.precision.attention_or(s.model.dtype)))),
      layout_(s.parallelism),
      dtype_name_(format_name(format_of(s.model.dtype))),
      dev_(static_cast<std::size_t>(layout_.devices())) {
  if (first_ < 0 || first_ + layout_.devices() > f_.topology().device_count()) {
    throw std::invalid_argument(
        fmt::format("a machine of {} devices from device {} does not fit the cluster's {} devices",
                    layout_.devices(), first_, f_.topology().device_count()));
  }
  add_tracks();
  add_stragglers();
}

void machine::add_stragglers() {
  for (const fault_event& f : s_.faults) {
    if (f.kind != fault_kind::straggler || !f.device) continue;
    if (*f.device < first_ || *f.device >= first_ + layout_.devices()) continue;
    straggler st{*f.device, ps_from_seconds(f.at_s), std::max(f.compute_factor, f.hbm_factor),
                 rates_};
    st.rates.flops_per_s /= f.compute_factor;
    st.rates.attention_flops_per_s /= f.compute_factor;
    st.rates.hbm_bytes_per_s /= f.hbm_factor;
    for (auto& g : st.rates.gemm_hbm) g.bytes_per_s /= f.hbm_factor;
    stragglers_.push_back(std::move(st));
  }
  std::stable_sort(stragglers_.begin(), stragglers_.end(),
                   [](const straggler& a, const straggler& b) { return a.at < b.at; });
}

void machine::add_tracks() {
  for (const topo::device_id d : f_.traced_devices()) {
    if (d < first_ || d >= first_ + layout_.devices()) continue;
    auto& ds = dev(d);
    const std::string name = fmt::format("device {}", d);
    ds.trace_compute = trace_.track(name, "compute");
    ds.trace_hbm = trace_.track(name, "hbm");
    ds.trace_net = trace_.track(name, "network");
  }
}

std::vector<topo::device_id> machine::tp_group(int ep_rank, int rep, int stage) const {
  std::vector<topo::device_id> g = layout_.tp_group(ep_rank, rep, stage);
  for (auto& d : g) d += first_;
  return g;
}

cluster::stream_slot machine::compute(topo::device_id d, category c, const std::string& name,
                                      time_ps at, std::span<const cluster::op_cost> kernels,
                                      const profile_key& key) {
  device_state& st = dev(d);
  const time_ps dur = duration(kernels, key, d, at);
  const auto slot = st.compute.enqueue(at, dur, st.compute_op);
  if (trace_.records(st.trace_compute)) {
    double flops = 0;
    double bytes = 0;
    for (const auto& k : kernels) {
      flops += k.flops;
      bytes += k.bytes;
    }
    trace_.span(st.trace_compute, name, std::string(to_string(c)), slot.start, dur,
                {{"flops", fmt::format("{:.6g}", flops), true},
                 {"hbm_bytes", fmt::format("{:.6g}", bytes), true}});
  }
  return slot;
}

time_ps machine::duration(std::span<const cluster::op_cost> kernels, const profile_key& key,
                          topo::device_id d, time_ps at) const {
  const straggler* slow = nullptr;  // the latest straggler fault of d in force at `at`
  for (const straggler& st : stragglers_) {
    if (st.device == d && st.at <= at) slow = &st;
  }
  if (s_.profile && key.op != nullptr) {
    const std::string op = std::string(key.op) + (key.backward ? "_backward" : "");
    if (const auto t = s_.profile->lookup(op, dtype_name_, key.tokens, key.context)) {
      return slow ? static_cast<time_ps>(std::llround(static_cast<double>(*t) * slow->factor)) : *t;
    }
  }
  return cluster::op_time(slow ? slow->rates : rates_, kernels);
}

void machine::mark_compute(int rep, int stage, op_id op) {
  for (int e = 0; e < layout_.config().ep; ++e) dev(device(rep, stage, e)).compute_op = op;
}

std::pair<time_ps, op_id> machine::group_compute(int rep, int stage, category c,
                                                 const std::string& name, time_ps at,
                                                 std::span<const cluster::op_cost> kernels,
                                                 op_id dep, const profile_key& key) {
  return group_compute_each(rep, stage, c, at, dep, [&](int, topo::device_id d) {
    return compute(d, c, name, at, kernels, key);
  });
}

std::pair<time_ps, op_id> machine::record_group(int rep, int stage, category c,
                                                const cluster::stream_slot& slowest, op_id dep) {
  const op_id deps[] = {dep, slowest.previous_op};
  const op_id op = ops_.add(c, slowest.start, slowest.end, deps, stage);
  mark_compute(rep, stage, op);
  return {slowest.end, op};
}

std::shared_ptr<countdown> machine::collective(
    const std::shared_ptr<const net::collective_plan>& plan) {
  auto cd = std::make_shared<countdown>(sim(), 1);
  net::run_collective(network(), sim(), plan, collective_params(), net::protocol::simple,
                      [cd](time_ps) { cd->one(); });
  return cd;
}

op_id machine::network_op(category c, time_ps start, op_id dep, int owner) {
  const op_id deps[] = {dep};
  return ops_.add(c, start, sim().now(), deps, owner);
}

void machine::note_network(int rep, int stage, category c, const std::string& tag, time_ps start,
                           const std::vector<time_ps>& arrived) {
  for (int e = 0; e < layout_.config().ep; ++e) {
    device_state& st = dev(device(rep, stage, e));
    const time_ps end = arrived[static_cast<std::size_t>(e)];
    st.network_busy += end - start;
    if (trace_.records(st.trace_net) && end > start) {
      trace_.span(st.trace_net, std::string(to_string(c)) + " " + tag, std::string(to_string(c)),
                  start, end - start);
    }
  }
}

op_id machine::latest(op_id a, op_id b) const {
  if (a < 0) return b;
  if (b < 0) return a;
  return ops_.end_of(a) >= ops_.end_of(b) ? a : b;
}

/// Trace counters of the links a batch of flows (an expert exchange, a pipeline send, one phase
/// of a TP or DP collective) kept at least half busy: its average rate over the batch, from its
/// start to its last byte, for InfiniBand, DCN and ICI links (NVLink and PCIe legs are the
/// devices' own network tracks; quieter links would swell a large run's trace). A later batch
/// on the same link overwrites the value.
void cluster_fabric::trace_link_traffic(time_ps start, time_ps end,
                                        std::span<const net::network::link_traffic> links) {
  if (end <= start) return;
  const double span_s = seconds(end - start);
  for (const auto& [link, b] : links) {
    const auto l = static_cast<topo::link_id>(link);
    if (!trace_links_[static_cast<std::size_t>(l)]) continue;  // not selected
    if (b / span_s < 0.5 * net_.capacity_bytes_per_s(l)) continue;
    const auto& info = topo_.link(l);
    if (info.kind == topo::link_kind::pcie) continue;
    const std::string name = fmt::format("{} {}->{} GB/s", to_string(info.kind),
                                         topo_.name(info.src), topo_.name(info.dst));
    trace_.counter_interval("links", name, start, end, b / span_s / 1e9);
  }
}

}  // namespace moesim::sim::run
