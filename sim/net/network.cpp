#include "sim/net/network.hpp"

#include <cmath>

namespace moesim::sim::net {

namespace {
double efficiency_for(topo::link_kind kind, const network_params& p) {
  switch (kind) {
    case topo::link_kind::ici:
    case topo::link_kind::nvlink:
      return p.scale_up_efficiency;
    case topo::link_kind::ib:
    case topo::link_kind::dcn:
      return p.scale_out_efficiency;
    case topo::link_kind::pcie:
      return 1.0;
  }
  return 1.0;
}

link_id to_solver(topo::link_id l) { return static_cast<link_id>(static_cast<std::uint32_t>(l)); }
}  // namespace

network::network(simulation& sim, const topo::topology& topo, network_params params)
    : sim_(sim), topo_(topo), params_(params), router_(topo), paths_(router_) {
  capacity_.reserve(static_cast<std::size_t>(topo.link_count()));
  for (const auto& l : topo.links()) {
    capacity_.push_back(l.bytes_per_s * efficiency_for(l.kind, params_));
    solver_.add_link(capacity_.back());
  }
}

time_ps network::path_latency(std::span<const topo::link_id> path) const {
  time_ps t = 0;
  for (auto l : path) t += topo_.link(l).latency_ps;
  return t;
}

std::uint32_t network::new_batch(done_fn on_done, std::size_t count) {
  std::uint32_t b = 0;
  if (free_batches_.empty()) {
    b = static_cast<std::uint32_t>(batches_.size());
    batches_.emplace_back();
  } else {
    b = free_batches_.back();
    free_batches_.pop_back();
  }
  batches_[b].on_done = std::move(on_done);
  batches_[b].outstanding = count;
  return b;
}

void network::start_batch(std::span<const flow_request> flows, done_fn on_done) {
  if (flows.empty()) return;
  const std::uint32_t b = new_batch(std::move(on_done), flows.size());
  stats_.flows += flows.size();
  for (const auto& f : flows) stats_.bytes += f.src == f.dst ? 0.0 : f.bytes;
  if (params_.model == timing_model::flow) {
    start_flow_model(flows, b);
  } else {
    start_analytical(flows, b);
  }
}

// Delivers completion of flow `index` of batch `b` after `after` picoseconds.
void network::finish(std::uint32_t b, std::uint32_t index, time_ps after) {
  sim_.schedule_in(after, [this, b, index] {
    batch& bt = batches_[b];
    // Copy: the callback may start new batches, which may reallocate batches_.
    done_fn cb = bt.on_done;
    if (--bt.outstanding == 0) {
      bt.on_done = nullptr;
      free_batches_.push_back(b);
    }
    cb(index);
  });
}

void network::start_analytical(std::span<const flow_request> flows, std::uint32_t b) {
  // One pass charges every link; a second times each flow by the busiest link on its path.
  link_load load(capacity_);
  std::vector<std::span<const topo::link_id>> routes;
  routes.reserve(flows.size());
  for (const auto& f : flows) {
    routes.push_back(f.src == f.dst ? std::span<const topo::link_id>{}
                                    : paths_.get(f.src, f.dst, f.tag));
  }
  for (std::size_t i = 0; i < flows.size(); ++i) {
    scratch_path_.clear();
    for (auto l : routes[i]) scratch_path_.push_back(to_solver(l));
    load.add(scratch_path_, flows[i].bytes);
  }
  for (std::size_t i = 0; i < flows.size(); ++i) {
    double worst_s = 0;
    for (auto l : routes[i]) {
      worst_s = std::max(worst_s, load.bytes(to_solver(l)) / capacity_[static_cast<std::size_t>(l)]);
    }
    finish(b, static_cast<std::uint32_t>(i), ps_from_seconds(worst_s) + path_latency(routes[i]));
  }
}

void network::start_flow_model(std::span<const flow_request> flows, std::uint32_t b) {
  for (std::size_t i = 0; i < flows.size(); ++i) {
    const auto& f = flows[i];
    if (f.src == f.dst || f.bytes <= 0) {
      const time_ps latency =
          f.src == f.dst ? 0 : path_latency(paths_.get(f.src, f.dst, f.tag));
      finish(b, static_cast<std::uint32_t>(i), latency);
      continue;
    }
    const auto route = paths_.get(f.src, f.dst, f.tag);
    scratch_path_.clear();
    for (auto l : route) scratch_path_.push_back(to_solver(l));
    const flow_id id = solver_.add_flow(scratch_path_);
    const auto slot = static_cast<std::size_t>(id);
    if (slot >= flows_.size()) flows_.resize(slot + 1);
    flows_[slot] = {f.bytes, 0.0, sim_.now(), path_latency(route), {}, b,
                    static_cast<std::uint32_t>(i), true};
  }
  request_solve();
}

// Coalesces all starts and finishes of one instant into one solve, run after them.
void network::request_solve() {
  if (solve_scheduled_) return;
  solve_scheduled_ = true;
  sim_.schedule_in(0, [this] { solve_now(); });
}

void network::solve_now() {
  solve_scheduled_ = false;
  solver_.solve();
  ++stats_.solves;
  const time_ps now = sim_.now();
  for (const flow_id id : solver_.changed_flows()) {
    active_flow& f = flows_[static_cast<std::size_t>(id)];
    // Bytes sent since the last rate change, at the old rate.
    f.remaining_bytes -= f.rate * seconds(now - f.last_update);
    if (f.remaining_bytes < 0) f.remaining_bytes = 0;
    f.last_update = now;
    f.rate = solver_.rate_bytes_per_s(id);
    sim_.cancel(f.completion);
    if (f.rate > 0) {
      const time_ps dt = transfer_ps(f.remaining_bytes, f.rate);
      f.completion = sim_.schedule_in(dt, [this, id] { on_flow_complete(id); });
    } else {
      f.completion = {};  // stalled (a failed link): waits for capacity to return
    }
  }
}

void network::on_flow_complete(flow_id id) {
  active_flow& f = flows_[static_cast<std::size_t>(id)];
  f.live = false;
  solver_.remove_flow(id);
  finish(f.batch, f.index, f.latency);
  request_solve();
}

}  // namespace moesim::sim::net
