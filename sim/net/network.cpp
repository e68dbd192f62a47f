#include "sim/net/network.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "sim/net/all_to_all_load.hpp"

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

}  // namespace

network::network(simulation& sim, const topo::topology& topo, network_params params)
    : sim_(sim), topo_(topo), params_(params), router_(topo), detour_(topo) {
  capacity_.reserve(static_cast<std::size_t>(topo.link_count()));
  batch_bytes_.assign(static_cast<std::size_t>(topo.link_count()), 0.0);
  link_done_.assign(static_cast<std::size_t>(topo.link_count()), 0);
  link_free_.assign(static_cast<std::size_t>(topo.link_count()), 0);
  for (const auto& l : topo.links()) {
    capacity_.push_back(l.bytes_per_s * efficiency_for(l.kind, params_));
    solver_.add_link(capacity_.back());
  }
}

// Routes are computed on demand (ECMP by the flow's tag), not cached: a cache keyed by tag
// would grow with every layer and step of a long run.
time_ps network::route(const flow_request& f) {
  route_live({f.src, f.dst, f.tag});
  scratch_path_.clear();
  time_ps latency = 0;
  for (auto l : route_scratch_) {
    scratch_path_.push_back(detail::to_solver(l));
    latency += topo_.link(l).latency_ps;
  }
  return latency;
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
  batches_[b].start = sim_.now();
  batches_[b].traffic.clear();
  return b;
}

std::vector<network::link_traffic> network::take_charges() {
  std::vector<link_traffic> out;
  out.reserve(touched_.size());
  for (const auto l : touched_) {
    if (batch_bytes_[l] > 0.0) out.push_back({static_cast<link_id>(l), batch_bytes_[l]});
    batch_bytes_[l] = 0.0;
  }
  touched_.clear();
  return out;
}

void network::start_batch(std::span<const flow_request> flows, done_fn on_done) {
  if (flows.empty()) return;
  if (next_fault_ < faults_.size()) apply_due_faults();
  const std::uint32_t b = new_batch(std::move(on_done), flows.size());
  stats_.flows += flows.size();
  for (const auto& f : flows) stats_.bytes += f.src == f.dst ? 0.0 : f.bytes;
  if (params_.model == timing_model::flow) {
    start_flow_model(flows, b);
  } else {
    start_analytical(flows, b);
  }
}

void network::start_all_to_all(std::span<const topo::device_id> ranks, double bytes_per_pair,
                               std::function<void()> on_done) {
  if (!(bytes_per_pair >= 0.0)) {
    throw std::invalid_argument("start_all_to_all: bytes per pair must be >= 0, got " +
                                std::to_string(bytes_per_pair));
  }
  const auto n = static_cast<double>(ranks.size());
  if (next_fault_ < faults_.size()) apply_due_faults();
  if (ranks.size() < 2) {
    sim_.schedule_in(0, std::move(on_done));
    return;
  }
  if (params_.model == timing_model::flow) {
    std::vector<flow_request> flows;
    flows.reserve(ranks.size() * (ranks.size() - 1));
    for (const auto s : ranks) {
      for (const auto d : ranks) {
        if (s != d) flows.push_back({s, d, bytes_per_pair, 0});
      }
    }
    auto left = std::make_shared<std::size_t>(flows.size());
    start_batch(flows, [left, done = std::move(on_done)](std::size_t) {
      if (--*left == 0) done();
    });
    return;
  }
  stats_.flows += static_cast<std::uint64_t>(n * (n - 1));
  stats_.bytes += n * (n - 1) * bytes_per_pair;
  const auto slice = whole_torus_slice(topo_, ranks);
  const all_to_all_estimate e = slice
                                    ? all_to_all_on_torus(topo_, capacity_, *slice, bytes_per_pair)
                                    : all_to_all_streamed(topo_, capacity_, ranks, bytes_per_pair);
  sim_.schedule_in(e.finish_ps, std::move(on_done));
}

// Delivers completion of flow `index` of batch `b` after `after` picoseconds.
void network::finish(std::uint32_t b, std::uint32_t index, time_ps after) {
  sim_.schedule_in(after, [this, b, index] {
    batch& bt = batches_[b];
    // Not the last flow: the batch stays put (a deque) and its slot busy while the callback
    // starts new batches, so it is called in place; copying it would copy its captures (an
    // allocation and atomic reference counts) once per flow.
    if (--bt.outstanding > 0) {
      bt.on_done(index);
      return;
    }
    // The last: the slot is freed first (the callback may reuse it), so the callback moves out.
    done_fn cb = std::move(bt.on_done);
    bt.on_done = nullptr;
    free_batches_.push_back(b);
    if (observer_ && !bt.traffic.empty()) {
      const std::vector<link_traffic> traffic = std::move(bt.traffic);
      bt.traffic.clear();
      observer_(bt.start, sim_.now(), traffic);
    }
    cb(index);
  });
}

template <class F>
void network::analytical_finishes(const route_set& routes, std::span<const double> bytes,
                                  bool skip_empty, bool count, F&& at) {
  // One pass loads the links of every path; a second times each flow by the busiest link on
  // its path. Only the links and connections the batch uses are visited, so a small batch on a
  // large topology, or a sparse exchange over many connections, costs O(its paths).
  for (const auto l : touched_) batch_bytes_[l] = 0.0;  // the previous batch's, even if it threw
  touched_.clear();
  // 1. Check the sizes; the connections with a flow (all of them unless skip_empty).
  with_flow_.clear();
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const double b = bytes[i];
    if (!(b >= 0.0 && std::isfinite(b))) {
      throw std::invalid_argument("network: flow bytes must be finite and >= 0, got " +
                                  std::to_string(b));
    }
    if (!skip_empty || b != 0.0) with_flow_.push_back(static_cast<std::uint32_t>(i));
  }
  if (count) {
    // Locals, added in connection order as count_flows does.
    double total = stats_.bytes;
    for (const std::uint32_t i : with_flow_)
      total += routes.at(i).src == routes.at(i).dst ? 0.0 : bytes[i];
    stats_.flows += with_flow_.size();
    stats_.bytes = total;
  }
  // 2. The links' loads: link by link when most connections carry bytes, else path by path.
  const time_ps now = sim_.now();
  if (skip_empty && routes.indexed() && !observer_ && with_flow_.size() * 4 >= routes.size()) {
    load_indexed(routes, bytes);
  } else {
    for (const std::uint32_t i : with_flow_) charge(routes.links(i), bytes[i]);
    // A link still carrying an earlier batch's bytes takes this batch's after them (FIFO): its
    // last byte of this batch leaves at max(now, free) + bytes / capacity.
    for (const auto l : touched_) settle_link(l, batch_bytes_[l], now);
  }
  // 3. Each flow by the busiest link on its path.
  for (const std::uint32_t i : with_flow_) {
    time_ps worst = now;
    for (const link_id l : routes.links(i)) {
      worst = std::max(worst, link_done_[static_cast<std::size_t>(l)]);
    }
    at(i, worst - now + routes.latency(i));
  }
}

void network::settle_link(std::size_t l, double load, time_ps now) {
  link_done_[l] = std::max(now, link_free_[l]) + ps_from_seconds(load / capacity_[l]);
  link_free_[l] = link_done_[l];
}

void network::load_indexed(const route_set& routes, std::span<const double> bytes) {
  // Each link's load, summed over the connections crossing it in connection order: the same
  // additions, in the same order, as charging path by path (a connection of 0 bytes adds
  // nothing), so the same doubles; a link with no load keeps its times. Four links at a time
  // (the set orders them by crossing count, so the four are of similar length): four
  // independent chains of additions instead of one.
  const time_ps now = sim_.now();
  const auto used = routes.used_links();
  const auto settle = [&](std::size_t k, double load) {
    if (load != 0.0) settle_link(static_cast<std::size_t>(used[k]), load, now);
  };
  const auto finish_sum = [&](std::span<const std::uint32_t> c, std::size_t from, double load) {
    for (std::size_t j = from; j < c.size(); ++j) load += bytes[c[j]];
    return load;
  };
  std::size_t k = 0;
  for (; k + 4 <= used.size(); k += 4) {
    const auto c0 = routes.crossing(k);
    const auto c1 = routes.crossing(k + 1);
    const auto c2 = routes.crossing(k + 2);
    const auto c3 = routes.crossing(k + 3);
    const std::size_t common = std::min({c0.size(), c1.size(), c2.size(), c3.size()});
    double s0 = 0.0;
    double s1 = 0.0;
    double s2 = 0.0;
    double s3 = 0.0;
    for (std::size_t j = 0; j < common; ++j) {
      s0 += bytes[c0[j]];
      s1 += bytes[c1[j]];
      s2 += bytes[c2[j]];
      s3 += bytes[c3[j]];
    }
    settle(k, finish_sum(c0, common, s0));
    settle(k + 1, finish_sum(c1, common, s1));
    settle(k + 2, finish_sum(c2, common, s2));
    settle(k + 3, finish_sum(c3, common, s3));
  }
  for (; k < used.size(); ++k) settle(k, finish_sum(routes.crossing(k), 0, 0.0));
}

void network::route_requests(std::span<const flow_request> flows) {
  batch_routes_.clear();
  batch_sizes_.clear();
  for (const auto& f : flows) {
    batch_routes_.add(topo_, router_, {f.src, f.dst, f.tag});
    batch_sizes_.push_back(f.bytes);
  }
}

std::size_t network::count_flows(const route_set& routes, std::span<const double> bytes,
                                 bool skip_empty) {
  // Locals, added in the same order: the members would be reloaded after every add.
  std::size_t count = 0;
  double total = stats_.bytes;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    if (skip_empty && bytes[i] == 0.0) continue;
    ++count;
    total += routes.at(i).src == routes.at(i).dst ? 0.0 : bytes[i];
  }
  stats_.flows += count;
  stats_.bytes = total;
  return count;
}

network::done_fn network::group_countdown(std::vector<std::size_t> left,
                                          std::span<const std::uint32_t> group_of,
                                          std::function<void(std::size_t)> on_group_done) {
  auto done = std::make_shared<std::function<void(std::size_t)>>(std::move(on_group_done));
  for (std::size_t g = 0; g < left.size(); ++g) {
    if (left[g] == 0) sim_.schedule_in(0, [done, g] { (*done)(g); });
  }
  return [done, left = std::make_shared<std::vector<std::size_t>>(std::move(left)),
          owner = std::vector<std::uint32_t>(group_of.begin(), group_of.end())](std::size_t i) {
    if (--(*left)[owner[i]] == 0) (*done)(owner[i]);
  };
}

void network::start_analytical(std::span<const flow_request> flows, std::uint32_t b) {
  route_requests(flows);
  analytical_finishes(batch_routes_, batch_sizes_, false, false, [&](std::size_t i, time_ps after) {
    finish(b, static_cast<std::uint32_t>(i), after);
  });
  if (observer_) batches_[b].traffic = take_charges();
}

route_set network::plan_routes(std::span<const connection> connections) {
  if (next_fault_ < faults_.size()) apply_due_faults();
  route_set out;
  out.reserve(connections.size(), connections.size() * 4);
  for (const auto& c : connections) {
    if (down_count_ == 0 || c.src == c.dst) {
      out.add(topo_, router_, c);
      continue;
    }
    route(flow_request{c.src, c.dst, 0.0, c.tag});
    out.add_path(topo_, c, scratch_path_);
  }
  out.index_links();
  return out;
}

void network::start_groups(std::span<const flow_request> flows,
                           std::span<const std::uint32_t> group_of, std::size_t groups,
                           std::function<void(std::size_t)> on_group_done) {
  assert(group_of.size() == flows.size());
  if (next_fault_ < faults_.size()) apply_due_faults();
  if (params_.model == timing_model::analytical) {
    route_requests(flows);
    start_groups_analytical(batch_routes_, batch_sizes_, false, group_of, groups,
                            std::move(on_group_done));
    return;
  }
  std::vector<std::size_t> left(groups, 0);
  for (auto g : group_of) ++left[g];
  start_batch(flows, group_countdown(std::move(left), group_of, std::move(on_group_done)));
}

void network::start_groups(const route_set& routes, std::span<const double> bytes,
                           std::span<const std::uint32_t> group_of, std::size_t groups,
                           std::function<void(std::size_t)> on_group_done) {
  assert(bytes.size() == routes.size() && group_of.size() == routes.size());
  if (next_fault_ < faults_.size()) apply_due_faults();
  if (params_.model == timing_model::analytical) {
    start_groups_analytical(routes, bytes, true, group_of, groups, std::move(on_group_done));
    return;
  }
  std::vector<std::size_t> left(groups, 0);
  for (std::size_t i = 0; i < routes.size(); ++i) {
    if (bytes[i] != 0.0) ++left[group_of[i]];
  }
  const std::size_t count = count_flows(routes, bytes, true);
  done_fn on_flow = group_countdown(std::move(left), group_of, std::move(on_group_done));
  if (count == 0) return;
  const std::uint32_t b = new_batch(std::move(on_flow), count);
  bool started = false;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    if (bytes[i] == 0.0) continue;
    if (routes.at(i).src == routes.at(i).dst) {
      finish(b, static_cast<std::uint32_t>(i), 0);
      continue;
    }
    std::span<const link_id> path = routes.links(i);
    time_ps latency = routes.latency(i);
    // Routes planned before a link failed: re-routed around it now.
    if (down_count_ > 0 && std::any_of(path.begin(), path.end(), [&](link_id l) {
          return down_[static_cast<std::size_t>(l)] != 0;
        })) {
      const connection& c = routes.at(i);
      latency = route(flow_request{c.src, c.dst, 0.0, c.tag});
      path = scratch_path_;
    }
    started |=
        add_solver_flow(b, static_cast<std::uint32_t>(i), bytes[i], path, latency, routes.at(i));
    if (observer_) charge(path, bytes[i]);
  }
  if (observer_) batches_[b].traffic = take_charges();
  if (started) request_solve(true);
}

void network::start_groups_analytical(const route_set& routes, std::span<const double> bytes,
                                      bool skip_empty, std::span<const std::uint32_t> group_of,
                                      std::size_t groups,
                                      std::function<void(std::size_t)> on_group_done) {
  auto done = std::make_shared<std::function<void(std::size_t)>>(std::move(on_group_done));
  std::vector<time_ps> last(groups, 0);
  analytical_finishes(routes, bytes, skip_empty, true, [&](std::size_t i, time_ps after) {
    auto& t = last[group_of[i]];
    t = std::max(t, after);
  });
  for (std::size_t g = 0; g < groups; ++g) {
    sim_.schedule_in(last[g], [done, g] { (*done)(g); });
  }
  if (observer_) {
    const std::vector<link_traffic> traffic = take_charges();
    const time_ps end =
        sim_.now() + (last.empty() ? 0 : *std::max_element(last.begin(), last.end()));
    if (!traffic.empty()) observer_(sim_.now(), end, traffic);
  }
}

// Adds one flow of batch b to the solver; false when it has no bytes (it completes after its
// path latency).
bool network::add_solver_flow(std::uint32_t b, std::uint32_t index, double bytes,
                              std::span<const link_id> path, time_ps latency,
                              const connection& conn) {
  if (bytes <= 0) {
    finish(b, index, latency);
    return false;
  }
  if (degraded_count_ > 0) {
    for (const link_id l : path) {
      const auto k = static_cast<std::size_t>(l);
      if (degraded_[k] != 0) ++fault_hits_[fault_of_[k]];
    }
  }
  const flow_id id = solver_.add_flow(path);
  const auto slot = static_cast<std::size_t>(id);
  if (slot >= flows_.size()) flows_.resize(slot + 1);
  if (slot >= epochs_.size()) epochs_.resize(slot + 1, 0);
  flows_[slot] = {bytes, 0.0, sim_.now(), latency, time_max, b, index, conn};
  if (live_++ == 0) {
    busy_since_ = sim_.now();
    if (next_fault_ < faults_.size()) arm_fault_event();
  }
  return true;
}

void network::start_flow_model(std::span<const flow_request> flows, std::uint32_t b) {
  bool started = false;
  for (std::size_t i = 0; i < flows.size(); ++i) {
    const auto& f = flows[i];
    if (f.src == f.dst) {
      finish(b, static_cast<std::uint32_t>(i), 0);
      continue;
    }
    const time_ps latency = route(f);
    started |= add_solver_flow(b, static_cast<std::uint32_t>(i), f.bytes, scratch_path_, latency,
                               {f.src, f.dst, f.tag});
    if (observer_) charge(scratch_path_, f.bytes);
  }
  if (observer_) batches_[b].traffic = take_charges();
  if (started) request_solve(true);
}

// Coalesces all starts and finishes of one instant into one solve, run after them. Starts
// solve at once; finishes may wait for the re-solve quantum (see the header).
void network::request_solve(bool starts) {
  time_ps at = sim_.now();
  if (!starts && params_.resolve_quantum > 0) {
    // The window is a fraction of the time the network has been busy: a completion delays the
    // re-solve by at most q of its own time since the busy period began, which bounds every
    // completion's relative lateness by about q.
    // Unless the finished flows freed more than q of the network's throughput: then waiting
    // would leave that much capacity idle, which matters most near the end of a busy period.
    const auto window = static_cast<time_ps>(params_.resolve_quantum *
                                             static_cast<double>(sim_.now() - busy_since_));
    if (freed_rate_ <= params_.resolve_quantum * (live_rate_ + freed_rate_)) {
      at = std::max(at, last_solve_ + window);
    }
  }
  if (solve_scheduled_) {
    if (at >= solve_event_at_) return;
    sim_.cancel(solve_event_);
  }
  solve_scheduled_ = true;
  solve_event_at_ = at;
  solve_event_ = sim_.schedule_at(at, [this] { solve_now(); });
}

void network::solve_now() {
  solve_scheduled_ = false;
  freed_rate_ = 0;
  solver_.solve();
  ++stats_.solves;
  last_solve_ = sim_.now();
  const time_ps now = sim_.now();
  const auto changed = solver_.changed_flows();
  // Many changes (a re-solve of one big component), or many invalid entries: set the keys,
  // then rebuild the heap in O(n).
  const bool rebuild =
      changed.size() > live_ / 8 || completions_.size() + changed.size() > 2 * live_ + 1024;
  for (const flow_id id : changed) {
    const auto slot = static_cast<std::uint32_t>(id);
    active_flow& f = flows_[slot];
    // Bytes sent since the last rate change, at the old rate.
    f.remaining_bytes -= f.rate * seconds(now - f.last_update);
    if (f.remaining_bytes < 0) f.remaining_bytes = 0;
    f.last_update = now;
    const double rate = solver_.rate_bytes_per_s(id);
    live_rate_ += rate - f.rate;
    f.rate = rate;
    // A flow on a failed (zero-capacity) link waits for capacity to return.
    f.finish = f.rate > 0 ? now + transfer_ps(f.remaining_bytes, f.rate) : time_max;
    if (rebuild) {
      rebuilt_.push_back(heap_entry_of(slot));
    } else {
      heap_push(heap_entry_of(slot));
    }
    ++stats_.rate_updates;
  }
  if (rebuild) heap_rebuild(rebuilt_);
  arm_completion_event();
}

// One engine event stands for the earliest projected finish.
void network::arm_completion_event() {
  heap_drop_invalid_top();
  const time_ps next = completions_.empty() ? time_max : completions_.front().finish;
  if (next == completion_event_at_) return;
  if (completion_event_at_ >= 0) sim_.cancel(completion_event_);
  completion_event_at_ = -1;
  if (next == time_max) return;
  completion_event_at_ = next;
  completion_event_ = sim_.schedule_at(next, [this] {
    completion_event_at_ = -1;
    retire_due();
  });
}

// Retires every flow whose last byte is due now, then asks for one re-solve.
void network::retire_due() {
  const time_ps now = sim_.now();
  bool retired = false;
  while (!completions_.empty() && completions_.front().finish <= now) {
    const heap_entry top = completions_.front();
    heap_pop();
    if (!heap_valid(top)) continue;
    const std::uint32_t slot = top.flow;
    active_flow& f = flows_[slot];
    ++epochs_[slot];  // no valid entry left
    solver_.remove_flow(static_cast<flow_id>(slot));
    --live_;
    live_rate_ -= f.rate;
    freed_rate_ += f.rate;
    finish(f.batch, f.index, f.latency);
    retired = true;
  }
  if (retired) request_solve(false);
  if (live_ == 0 && fault_event_armed_) {  // idle: the next fault waits for the next flows
    sim_.cancel(fault_event_);
    fault_event_armed_ = false;
  }
  arm_completion_event();
}

void network::heap_push(const heap_entry& e) {
  completions_.push_back(e);
  heap_sift_up(completions_.size() - 1);
}

void network::heap_pop() {
  completions_.front() = completions_.back();
  completions_.pop_back();
  if (!completions_.empty()) heap_sift_down(0);
}

void network::heap_drop_invalid_top() {
  while (!completions_.empty() && !heap_valid(completions_.front())) heap_pop();
}

// After a solve that moved many flows: the still-valid entries of unchanged flows, the new
// entries of the changed ones (`fresh`, cleared here), and a Floyd heapify: O(n) and sequential
// but for the 4-byte epoch reads, instead of one O(log n) random update per changed flow.
void network::heap_rebuild(std::vector<heap_entry>& fresh) {
  for (const heap_entry& e : completions_) {
    if (heap_valid(e)) fresh.push_back(e);
  }
  completions_.swap(fresh);
  fresh.clear();
  for (std::size_t i = completions_.size() / 4 + 1; i-- > 0;) {
    if (i < completions_.size()) heap_sift_down(i);
  }
}

void network::heap_sift_up(std::size_t i) {
  const heap_entry x = completions_[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / 4;
    if (!heap_before(x, completions_[parent])) break;
    completions_[i] = completions_[parent];
    i = parent;
  }
  completions_[i] = x;
}

void network::heap_sift_down(std::size_t i) {
  const heap_entry x = completions_[i];
  const std::size_t n = completions_.size();
  for (;;) {
    const std::size_t first = 4 * i + 1;
    if (first >= n) break;
    std::size_t best = first;
    for (std::size_t c = first + 1; c < std::min(first + 4, n); ++c) {
      if (heap_before(completions_[c], completions_[best])) best = c;
    }
    if (!heap_before(completions_[best], x)) break;
    completions_[i] = completions_[best];
    i = best;
  }
  completions_[i] = x;
}

}  // namespace moesim::sim::net
