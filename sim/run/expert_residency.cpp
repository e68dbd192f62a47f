#include "sim/run/expert_residency.hpp"
#include "sim/run/routing_sampler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>

#include "models/model_params.hpp"
#include "models/routing_trace.hpp"
#include "sim/place/rebalance.hpp"

namespace moesim::sim::run {

namespace {

/// Torus: hops between two devices of one slice (wrapping axes the short way).
int torus_hops(const topo::topology& t, topo::device_id a, topo::device_id b) {
  const auto& da = t.devices[static_cast<std::size_t>(a)];
  const auto& db = t.devices[static_cast<std::size_t>(b)];
  const topo::torus_slice& sl = t.slices[static_cast<std::size_t>(da.group)];
  const std::vector<int> ca = sl.coords(da.local);
  const std::vector<int> cb = sl.coords(db.local);
  int hops = 0;
  for (int x = 0; x < sl.axes(); ++x) {
    const int d = std::abs(ca[static_cast<std::size_t>(x)] - cb[static_cast<std::size_t>(x)]);
    hops += sl.wraps[static_cast<std::size_t>(x)]
                ? std::min(d, sl.dims[static_cast<std::size_t>(x)] - d)
                : d;
  }
  return hops;
}

double mean_of(const std::vector<double>& v, const std::vector<int>& epoch, bool first) {
  double sum = 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if ((epoch[i] == 0) != first) continue;
    sum += v[i];
    ++n;
  }
  return n > 0 ? sum / static_cast<double>(n) : 0;
}

}  // namespace

std::vector<weight_move> weight_diff(const expert_placement& before, const expert_placement& after,
                                     int layer, const std::vector<int>& distance) {
  const std::vector<std::vector<int>> was = before.experts_on(layer);
  const std::vector<std::vector<int>> now = after.experts_on(layer);
  const auto ep = static_cast<int>(now.size());
  std::vector<weight_move> out;
  for (int r = 0; r < ep; ++r) {
    const std::vector<int>& had = was[static_cast<std::size_t>(r)];
    for (const int e : now[static_cast<std::size_t>(r)]) {
      if (std::find(had.begin(), had.end(), e) != had.end()) continue;
      int from = -1;
      for (int q = 0; q < ep; ++q) {
        const std::vector<int>& h = was[static_cast<std::size_t>(q)];
        if (std::find(h.begin(), h.end(), e) == h.end()) continue;
        const auto d = [&](int x) {
          return distance.empty()
                     ? 0
                     : distance[static_cast<std::size_t>(x) * static_cast<std::size_t>(ep) +
                                static_cast<std::size_t>(r)];
        };
        if (from < 0 || d(q) < d(from)) from = q;
      }
      out.push_back({layer, e, from, r});
    }
  }
  return out;
}

expert_residency::expert_residency(machine& m, const scenario& s, std::int64_t tokens_per_source,
                                   bool training)
    : m_(m),
      s_(s),
      cfg_(*s.moe.placement),
      layers_(models::routed_layers(s.model, training)),
      placement_(s.model.moe->experts, s.parallelism.ep, layers_.empty() ? 0 : layers_.back() + 1) {
  const int ep = s.parallelism.ep;
  const int experts = s.model.moe->experts;
  // Each EP rank's node: its NVSwitch node, or its x-ring of a torus slice.
  const topo::topology& t = m.topology();
  std::map<std::pair<int, int>, int> ids;
  std::vector<topo::device_id> dev(static_cast<std::size_t>(ep));
  for (int e = 0; e < ep; ++e) {
    dev[static_cast<std::size_t>(e)] = m.device(0, 0, e);
    const auto& a = t.devices[static_cast<std::size_t>(dev[static_cast<std::size_t>(e)])];
    const bool torus = t.family == topo::topology_family::torus;
    const int sub = torus ? a.local / t.slices[static_cast<std::size_t>(a.group)].dims[0] : 0;
    const auto key = std::make_pair(static_cast<int>(a.group), sub);
    const auto [it, fresh] = ids.emplace(key, static_cast<int>(ids.size()));
    node_.push_back(it->second);
  }
  distance_.assign(static_cast<std::size_t>(ep) * static_cast<std::size_t>(ep), 0);
  for (int a = 0; a < ep; ++a) {
    for (int b = 0; b < ep; ++b) {
      const auto da = dev[static_cast<std::size_t>(a)];
      const auto db = dev[static_cast<std::size_t>(b)];
      int d = 0;
      if (a != b) {
        const bool same_group = t.devices[static_cast<std::size_t>(da)].group ==
                                t.devices[static_cast<std::size_t>(db)].group;
        if (!same_group) {
          d = 1000;
        } else if (t.family == topo::topology_family::torus) {
          d = torus_hops(t, da, db);
        } else {
          d = 1;
        }
        if (node_[static_cast<std::size_t>(a)] != node_[static_cast<std::size_t>(b)]) d += 1;
      }
      distance_[static_cast<std::size_t>(a) * static_cast<std::size_t>(ep) +
                static_cast<std::size_t>(b)] = d;
    }
  }
  // The placement problem's nodes: equal node-major blocks of ranks, else one.
  nodes_ = static_cast<int>(ids.size());
  for (int e = 0; e < ep && nodes_ > 1; ++e) {
    if (ep % nodes_ != 0 || node_[static_cast<std::size_t>(e)] != e / (ep / nodes_)) nodes_ = 1;
  }
  const bool reads_loads = place::has_replicas(cfg_.strategy);
  const auto n_l = layers_.size();
  std::vector<std::vector<double>> loads(n_l,
                                         std::vector<double>(static_cast<std::size_t>(experts)));
  std::vector<std::vector<double>> coact;
  if (reads_loads) {
    routing_sampler sampler(s, ep, tokens_per_source, 1, node_);
    const bool topo_aware = cfg_.strategy == place::strategy::topology_aware;
    if (topo_aware) {
      coact.assign(n_l, std::vector<double>(static_cast<std::size_t>(experts) *
                                            static_cast<std::size_t>(experts)));
    }
    for (int p = 0; p < static_cast<int>(cfg_.warmup); ++p) {
      for (std::size_t i = 0; i < n_l; ++i) {
        const sampled_decisions d = sampler.decide(0, p, layers_[i], sampler.sample_for(0));
        const std::vector<std::int64_t> counts(static_cast<std::size_t>(ep), tokens_per_source);
        const layer_routing lr = sampler.count(d, counts);
        for (int e = 0; e < experts; ++e) {
          loads[i][static_cast<std::size_t>(e)] +=
              static_cast<double>(lr.expert_load[static_cast<std::size_t>(e)]);
        }
        if (!topo_aware) continue;
        const models::routing& k = d.cap.kept;
        for (int tok = 0; tok < k.tokens; ++tok) {
          const auto b = static_cast<std::size_t>(k.offsets[static_cast<std::size_t>(tok)]);
          const auto n = static_cast<std::size_t>(k.count(tok));
          for (std::size_t x = 0; x < n; ++x) {
            for (std::size_t y = x + 1; y < n; ++y) {
              const auto ex = static_cast<std::size_t>(k.expert_ids[b + x]);
              const auto ey = static_cast<std::size_t>(k.expert_ids[b + y]);
              coact[i][ex * static_cast<std::size_t>(experts) + ey] += 1;
              coact[i][ey * static_cast<std::size_t>(experts) + ex] += 1;
            }
          }
        }
      }
    }
    warmup_tokens_ = static_cast<double>(cfg_.warmup);
  }
  placed_ = place::place(cfg_.strategy, problem_of(std::move(loads), std::move(coact)));
  placement_ = tables_of(placed_);
  window_.resize(n_l);
}

std::vector<std::vector<int>> expert_residency::single_copy_ranks() const {
  if (s_.moe.exchange == exchange_kind::per_copy || cfg_.redundant_experts > 0 ||
      cfg_.rebalance || layers_.empty()) {
    return {};
  }
  std::vector<std::vector<int>> out(static_cast<std::size_t>(layers_.back()) + 1);
  const int per = s_.model.moe->experts / s_.parallelism.ep;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const std::vector<int>& row = placed_.phy2log[i];
    auto& ranks = out[static_cast<std::size_t>(layers_[i])];
    ranks.assign(row.size(), 0);
    for (std::size_t slot = 0; slot < row.size(); ++slot) {
      ranks[static_cast<std::size_t>(row[slot])] = static_cast<int>(slot) / per;
    }
  }
  return out;
}

place::problem expert_residency::problem_of(std::vector<std::vector<double>> loads,
                                            std::vector<std::vector<double>> coact) const {
  place::problem p;
  p.loads = std::move(loads);
  p.physical_experts = s_.model.moe->experts + static_cast<int>(cfg_.redundant_experts);
  const int groups = s_.model.moe->router.n_groups;
  p.groups = groups > 0 && s_.model.moe->experts % groups == 0 ? groups : 1;
  p.nodes = nodes_;
  p.devices = s_.parallelism.ep;
  p.seed = s_.seed;
  p.coactivation = std::move(coact);
  return p;
}

expert_placement expert_residency::tables_of(const place::placement& placed) const {
  expert_placement e(s_.model.moe->experts, s_.parallelism.ep,
                     layers_.empty() ? 0 : layers_.back() + 1);
  for (std::size_t i = 0; i < layers_.size(); ++i) e.set_layer(layers_[i], placed.phy2log[i]);
  e.set_choice(cfg_.choice,
               cfg_.choice == replica_choice::nearest ? distance_ : std::vector<int>{});
  return e;
}

void expert_residency::on_layer(int layer, const layer_routing& lr,
                                const expert_placement::pass_assignment& placed,
                                double token_bytes) {
  spread_.push_back(spread_of(placed).tokens_max_over_mean);
  epoch_.push_back(rebalances_);
  const auto ep = static_cast<std::size_t>(s_.parallelism.ep);
  const double tp = s_.parallelism.tp;
  for (std::size_t a = 0; a < ep; ++a) {
    for (std::size_t b = 0; b < ep; ++b) {
      if (a == b) continue;
      const double bytes = static_cast<double>(placed.pairs[a * ep + b]) * token_bytes * tp;
      dispatch_bytes_ += bytes;
      if (node_[a] != node_[b]) cross_node_bytes_ += bytes;
    }
  }
  if (!cfg_.rebalance) return;
  const auto it = std::lower_bound(layers_.begin(), layers_.end(), layer);
  auto& w = window_[static_cast<std::size_t>(it - layers_.begin())];
  w.push_back(lr.expert_load);
  while (w.size() > cfg_.rebalance->window) w.pop_front();
}

task expert_residency::step_end(int rep, int stage, int step, int steps,
                                const std::vector<int>& layers, op_id* last) {
  if (!cfg_.rebalance || step + 1 >= steps ||
      (step + 1) % static_cast<int>(cfg_.rebalance->every) != 0 || rep != 0) {
    co_return;
  }
  const int experts = s_.model.moe->experts;
  std::vector<std::vector<double>> loads(layers_.size(),
                                         std::vector<double>(static_cast<std::size_t>(experts)));
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    for (const auto& pass : window_[i]) {
      for (int e = 0; e < experts; ++e) {
        loads[i][static_cast<std::size_t>(e)] +=
            static_cast<double>(pass[static_cast<std::size_t>(e)]);
      }
    }
  }
  // Improved move by move (min_gain), or placed afresh on the window's loads and relabelled to
  // keep what the devices hold.
  const place::problem p = problem_of(std::move(loads), {});
  placed_ = cfg_.rebalance->min_gain
                ? place::rebalance_moves(p, placed_, *cfg_.rebalance->min_gain)
                : place::keep_in_place(p, placed_, place::place(cfg_.strategy, p));
  auto next = std::make_shared<expert_placement>(tables_of(placed_));
  // This stage's layers' moves, one group per layer, one flow per move and TP rank.
  const double bytes = static_cast<double>(models::expert_params(s_.model)) *
                       models::bytes_per_param(s_.model.dtype) / s_.parallelism.tp;
  std::vector<int> moe;
  for (const int l : layers) {
    if (std::binary_search(layers_.begin(), layers_.end(), l)) moe.push_back(l);
  }
  std::vector<net::flow_request> flows;
  std::vector<std::uint32_t> group;
  for (std::size_t g = 0; g < moe.size(); ++g) {
    for (const weight_move& mv : weight_diff(placement_, *next, moe[g], distance_)) {
      for (int t = 0; t < s_.parallelism.tp; ++t) {
        flows.push_back(
            {m_.device(rep, stage, mv.from, t), m_.device(rep, stage, mv.to, t), bytes, 1});
        group.push_back(static_cast<std::uint32_t>(g));
      }
      moved_bytes_ += bytes * s_.parallelism.tp;
    }
  }
  simulation& sim = m_.sim();
  const time_ps start = sim.now();
  auto cd = std::make_shared<countdown>(sim, static_cast<int>(moe.size()));
  const bool stop = cfg_.rebalance->mode == rebalance_mode::stop_the_world;
  m_.network().start_groups(flows, group, moe.size(), [this, next, moe, cd, stop](std::size_t g) {
    // Background: the layer switches once its own weights are in.
    if (!stop) placement_.copy_layer(moe[g], *next);
    cd->one();
  });
  ++rebalances_;
  if (!stop) co_return;
  co_await cd->done;
  for (const int l : moe) placement_.copy_layer(l, *next);
  stall_s_ += seconds(sim.now() - start);
  *last = m_.network_op(category::idle, start, *last, stage);
}

placement_report expert_residency::report(double steps) const {
  placement_report r;
  r.strategy = std::string(place::to_string(cfg_.strategy));
  r.physical_experts = s_.model.moe->experts + static_cast<int>(cfg_.redundant_experts);
  r.warmup_passes = static_cast<int>(warmup_tokens_);
  std::vector<double> sorted = spread_;
  std::sort(sorted.begin(), sorted.end());
  if (!sorted.empty()) {
    double sum = 0;
    for (const double x : spread_) sum += x;
    r.load_max_over_mean = sum / static_cast<double>(spread_.size());
    const auto at = [&](double q) {
      return sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5)];
    };
    r.load_max_over_mean_p50 = at(0.5);
    r.load_max_over_mean_p90 = at(0.9);
    r.load_max_over_mean_max = sorted.back();
  }
  r.dispatch_bytes_per_step = steps > 0 ? dispatch_bytes_ / steps : 0;
  r.cross_node_bytes_per_step = steps > 0 ? cross_node_bytes_ / steps : 0;
  r.rebalances = rebalances_;
  r.bytes_moved = moved_bytes_;
  r.stall_s = stall_s_;
  if (rebalances_ > 0) {
    r.load_max_over_mean_before = mean_of(spread_, epoch_, true);
    r.load_max_over_mean_after = mean_of(spread_, epoch_, false);
  }
  return r;
}

}  // namespace moesim::sim::run
