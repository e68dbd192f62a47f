#include "sim/run/expert_offload.hpp"

#include <algorithm>
#include <cmath>

#include "models/model_params.hpp"
#include "sim/run/machine.hpp"

namespace moesim::sim::run {

namespace {

/// Ahead-of-use loads (gate prefetch, preload): makes `k`, not resident, resident in `cache`,
/// evicting per the policy (never one of `keep`) and dropping the victim's flow and prefetch
/// records; false when it was resident or found no room. (A template: the flow records are the
/// class's own type.)
template <class Flows>
bool admit(Flows& flows, std::map<std::int64_t, bool>& prefetched, expert_cache& cache,
           std::int64_t k, std::span<const std::int64_t> keep) {
  if (cache.contains(k)) return false;
  bool inserted = false;
  const std::int64_t evicted = cache.insert(k, keep, &inserted);
  if (!inserted) return false;
  if (evicted >= 0) {
    flows.erase(evicted);
    prefetched.erase(evicted);
  }
  return true;
}

}  // namespace

void expert_cache::touch(std::int64_t key) {
  entry& e = entries_.at(key);
  e.last_use = ++clock_;
  ++e.uses;
}

std::int64_t expert_cache::insert(std::int64_t key, std::span<const std::int64_t> pinned,
                                  bool* inserted) {
  *inserted = false;
  if (contains(key)) {
    touch(key);
    *inserted = true;
    return -1;
  }
  if (capacity_ <= 0) return -1;
  std::int64_t victim = -1;
  if (static_cast<int>(entries_.size()) >= capacity_) {
    const entry* best = nullptr;
    for (const auto& [k, e] : entries_) {
      if (std::find(pinned.begin(), pinned.end(), k) != pinned.end()) continue;
      const bool better =
          best == nullptr ||
          (policy_ == offload_policy::lfu
               ? (e.uses < best->uses || (e.uses == best->uses && e.last_use < best->last_use))
               : e.last_use < best->last_use);
      if (better) {
        best = &e;
        victim = k;
      }
    }
    if (victim < 0) return -1;  // every resident is in use: stream through a transient buffer
    entries_.erase(victim);
  }
  entries_[key] = entry{++clock_, 1};
  *inserted = true;
  return victim;
}

double offload_expert_bytes(const scenario& s) {
  return static_cast<double>(models::expert_params(s.model)) *
         models::expert_bytes_per_param(s.model);
}

int offload_cache_experts(const scenario& s, int moe_layers) {
  const offload_config& o = *s.offload;
  if (o.cache_experts_per_layer) return *o.cache_experts_per_layer * moe_layers;
  if (o.cache_experts) return *o.cache_experts;
  return static_cast<int>(std::floor(o.cache_bytes.value_or(0) / offload_expert_bytes(s)));
}

std::vector<int> predict_experts(std::span<const int> truth, int per_rank, double accuracy,
                                 rng& gen) {
  std::vector<int> predicted;
  for (const int x : truth) {
    if (gen.uniform01() < accuracy) {
      predicted.push_back(x);
      continue;
    }
    std::vector<int> wrong;
    for (int y = 0; y < per_rank; ++y) {
      const bool used = std::find(truth.begin(), truth.end(), y) != truth.end();
      const bool taken = std::find(predicted.begin(), predicted.end(), y) != predicted.end();
      if (!used && !taken) wrong.push_back(y);
    }
    if (wrong.empty()) continue;
    predicted.push_back(wrong[static_cast<std::size_t>(gen.below(wrong.size()))]);
  }
  return predicted;
}

double host_expert_seconds(const scenario& s, const topo::host_cpu_spec& cpu, double copies) {
  const double params = static_cast<double>(models::expert_params(s.model));
  const double rate = s.model.dtype == models::weight_dtype::bf16 && cpu.bf16_flops_per_s > 0
                          ? cpu.bf16_flops_per_s
                          : cpu.fp32_flops_per_s;
  return std::max(2.0 * params * copies / rate,
                  params * models::expert_bytes_per_param(s.model) / cpu.dram_bytes_per_s);
}

expert_offload::expert_offload(machine& m, const scenario& s)
    : m_(m),
      s_(s),
      cfg_(*s.offload),
      experts_(s.model.moe->experts),
      per_rank_(s.model.moe->experts / s.parallelism.ep),
      moe_layers_(models::moe_layer_count(s.model)),
      expert_bytes_(offload_expert_bytes(s)),
      token_bytes_(static_cast<double>(s.model.hidden) * models::bytes_per_param(s.model.dtype)),
      gen_(rng::stream(s.seed, "offload prefetch")) {
  int ordinal = 0;
  for (int l = 0; l < s.model.layers; ++l) {
    if (models::is_moe_layer(s.model, l)) moe_ordinal_[l] = ordinal++;
  }
  capacity_ = cfg_.cache_experts_per_layer ? *cfg_.cache_experts_per_layer
                                           : offload_cache_experts(s, moe_layers_);
  layer_hits_.assign(static_cast<std::size_t>(moe_layers_), 0);
  layer_lookups_.assign(static_cast<std::size_t>(moe_layers_), 0);
  routed_.assign(static_cast<std::size_t>(moe_layers_) * static_cast<std::size_t>(experts_), 0);
}

expert_offload::device_caches& expert_offload::caches_of(topo::device_id d, int rank) {
  auto it = devices_.find(d);
  if (it != devices_.end()) return it->second;
  device_caches c;
  const int n = cfg_.cache_experts_per_layer ? moe_layers_ : 1;
  for (int i = 0; i < n; ++i) c.caches.emplace_back(capacity_, cfg_.policy);
  // Loaded before the run: each layer's first experts, layer by layer for one shared cache.
  bool in = false;
  for (int x = 0; x < per_rank_; ++x) {
    for (const auto& [layer, ordinal] : moe_ordinal_) {
      expert_cache& cache =
          c.caches[cfg_.cache_experts_per_layer ? static_cast<std::size_t>(ordinal) : 0];
      if (static_cast<int>(cache.size()) < cache.capacity()) {
        cache.insert(key(layer, rank * per_rank_ + x), {}, &in);
      }
    }
  }
  return devices_.emplace(d, std::move(c)).first->second;
}

expert_cache& expert_offload::cache_for(device_caches& c, int layer) {
  const std::size_t i =
      cfg_.cache_experts_per_layer ? static_cast<std::size_t>(moe_ordinal_.at(layer)) : 0;
  return c.caches[i];
}

std::shared_ptr<expert_offload::inflight> expert_offload::fetch(topo::device_id d, double bytes) {
  auto rec = std::make_shared<inflight>();
  const topo::topology& topo = m_.topology();
  const auto& att = topo.devices.at(static_cast<std::size_t>(d));
  net::route_set routes;
  const net::link_id path[] = {static_cast<net::link_id>(att.from_host)};
  routes.add_path(topo, {-1, d, 0}, path);
  const double b[] = {bytes};
  const std::uint32_t group[] = {0};
  simulation& sim = m_.sim();
  bytes_fetched_ += bytes;
  m_.network().start_groups(routes, b, group, 1, [rec, &sim](std::size_t) {
    rec->done_at = sim.now();
    auto waiters = std::move(rec->waiters);
    for (auto& w : waiters) w(rec->done_at);
  });
  return rec;
}

void expert_offload::prefetch(topo::device_id d, int rank, int layer,
                              std::span<const int> predicted,
                              std::span<const std::int64_t> pinned) {
  device_caches& dc = caches_of(d, rank);
  expert_cache& cache = cache_for(dc, layer);
  std::vector<std::int64_t> keep(pinned.begin(), pinned.end());
  for (const int x : predicted) keep.push_back(key(layer, rank * per_rank_ + x));
  for (const int x : predicted) {
    const std::int64_t k = key(layer, rank * per_rank_ + x);
    if (!admit(dc.flows, dc.prefetched, cache, k, keep)) continue;
    dc.flows[k] = fetch(d, expert_bytes_);
    dc.prefetched[k] = false;
    prefetched_ += 1;
  }
}

std::shared_ptr<expert_offload::layer_plan> expert_offload::begin_layer(
    int rep, int stage, int layer, const layer_routing& lr, const layer_routing* next,
    int next_layer) {
  simulation& sim = m_.sim();
  const time_ps now = sim.now();
  const int ep = s_.parallelism.ep;
  auto plan = std::make_shared<layer_plan>();
  plan->ready.assign(static_cast<std::size_t>(ep), static_cast<double>(now));
  plan->cpu_done.assign(static_cast<std::size_t>(ep), static_cast<double>(now));
  plan->gpu_copies.assign(static_cast<std::size_t>(ep), 0);
  plan->gpu_active.assign(static_cast<std::size_t>(ep), 0);
  plan->done = std::make_shared<countdown>(sim, 1);
  const std::size_t ordinal = static_cast<std::size_t>(moe_ordinal_.at(layer));
  for (int x = 0; x < experts_; ++x) {
    routed_[ordinal * static_cast<std::size_t>(experts_) + static_cast<std::size_t>(x)] +=
        static_cast<double>(lr.expert_load[static_cast<std::size_t>(x)]);
  }
  for (int e = 0; e < ep; ++e) {
    const topo::device_id d = m_.device(rep, stage, e);
    device_caches& dc = caches_of(d, e);
    expert_cache& cache = cache_for(dc, layer);
    const auto ue = static_cast<std::size_t>(e);
    std::vector<int> active;
    std::vector<std::int64_t> pinned;
    for (int x = 0; x < per_rank_; ++x) {
      if (lr.expert_load[static_cast<std::size_t>(e * per_rank_ + x)] > 0) {
        active.push_back(x);
        pinned.push_back(key(layer, e * per_rank_ + x));
      }
    }
    // Prefetch bookkeeping: experts prefetched for this layer and now used.
    for (auto& [k, used] : dc.prefetched) {
      if (!used && std::find(pinned.begin(), pinned.end(), k) != pinned.end()) {
        used = true;
        prefetch_used_ += 1;
      }
    }
    auto wait_for = [&](const std::shared_ptr<inflight>& f) {
      if (f->done_at >= 0) {
        plan->ready[ue] = std::max(plan->ready[ue], static_cast<double>(f->done_at));
        return;
      }
      ++plan->done->left;
      f->waiters.push_back([plan, ue](time_ps t) {
        plan->ready[ue] = std::max(plan->ready[ue], static_cast<double>(t));
        plan->done->one();
      });
    };
    for (const int x : active) {
      const std::int64_t k = key(layer, e * per_rank_ + x);
      const double copies = static_cast<double>(lr.expert_load[static_cast<std::size_t>(
          e * per_rank_ + x)]);
      layer_lookups_[ordinal] += 1;
      lookups_ += 1;
      if (cache.contains(k)) {
        cache.touch(k);
        hits_ += 1;
        layer_hits_[ordinal] += 1;
        plan->gpu_copies[ue] += copies;
        plan->gpu_active[ue] += 1;
        auto f = dc.flows.find(k);
        if (f != dc.flows.end()) wait_for(f->second);
        continue;
      }
      if (cfg_.miss == offload_miss::cpu) {
        // Activations to the host, the CPU's expert, outputs back (Fiddler).
        cpu_experts_ += 1;
        const topo::topology& topo = m_.topology();
        const auto& att = topo.devices.at(static_cast<std::size_t>(d));
        const double act_bytes = copies * token_bytes_;
        const time_ps cpu_ps =
            ps_from_seconds(host_expert_seconds(s_, *s_.cluster.host, copies));
        ++plan->done->left;
        net::route_set up;
        const net::link_id up_path[] = {static_cast<net::link_id>(att.to_host)};
        up.add_path(topo, {d, -1, 0}, up_path);
        const double b[] = {act_bytes};
        const std::uint32_t g[] = {0};
        const int host = att.host;
        m_.network().start_groups(up, b, g, 1, [this, plan, ue, &sim, cpu_ps, host, d,
                                                act_bytes](std::size_t) {
          time_ps& free = host_free_[host];
          const time_ps start = std::max(free, sim.now());
          free = start + cpu_ps;
          cpu_busy_ps_ += cpu_ps;
          sim.schedule_at(free, [this, plan, ue, &sim, d, act_bytes] {
            const topo::topology& t = m_.topology();
            const auto& a = t.devices.at(static_cast<std::size_t>(d));
            net::route_set down;
            const net::link_id down_path[] = {static_cast<net::link_id>(a.from_host)};
            down.add_path(t, {-1, d, 0}, down_path);
            const double bb[] = {act_bytes};
            const std::uint32_t gg[] = {0};
            m_.network().start_groups(down, bb, gg, 1, [plan, ue, &sim](std::size_t) {
              plan->cpu_done[ue] = std::max(plan->cpu_done[ue], static_cast<double>(sim.now()));
              plan->done->one();
            });
          });
        });
        continue;
      }
      // Fetch over the host link; the expert enters the cache when there is room.
      plan->gpu_copies[ue] += copies;
      plan->gpu_active[ue] += 1;
      bool inserted = false;
      const std::int64_t evicted = cache.insert(k, pinned, &inserted);
      if (evicted >= 0) {
        dc.flows.erase(evicted);
        dc.prefetched.erase(evicted);
      }
      auto f = fetch(d, expert_bytes_);
      if (inserted) dc.flows[k] = f;
      wait_for(f);
    }
    // Prefetch the next MoE layer's experts of this device.
    if (next_layer >= 0 && cfg_.prefetch != offload_prefetch::none) {
      std::vector<int> predicted;
      if (cfg_.prefetch == offload_prefetch::gate && next != nullptr) {
        std::vector<int> truth;
        for (int x = 0; x < per_rank_; ++x) {
          if (next->expert_load[static_cast<std::size_t>(e * per_rank_ + x)] > 0) {
            truth.push_back(x);
          }
        }
        predicted = predict_experts(truth, per_rank_, cfg_.prefetch_accuracy, gen_);
      } else if (cfg_.prefetch == offload_prefetch::previous_token) {
        auto it = last_active_.find({d, next_layer});
        if (it != last_active_.end()) predicted = it->second;
      }
      prefetch(d, e, next_layer, predicted, pinned);
    }
    last_active_[{d, layer}] = active;
  }
  plan->done->one();
  return plan;
}

std::span<const double> expert_offload::routed(int layer) const {
  const auto ordinal = static_cast<std::size_t>(moe_ordinal_.at(layer));
  return std::span<const double>(routed_).subspan(ordinal * static_cast<std::size_t>(experts_),
                                                  static_cast<std::size_t>(experts_));
}

std::vector<expert_offload::layer_experts> expert_offload::preload(
    int rep, int stage, int rank, std::span<const layer_experts> wanted) {
  const topo::device_id d = m_.device(rep, stage, rank);
  device_caches& dc = caches_of(d, rank);
  std::vector<std::int64_t> keep;
  for (const layer_experts& w : wanted) {
    for (const int x : w.experts) keep.push_back(key(w.layer, rank * per_rank_ + x));
  }
  std::vector<layer_experts> fetched;
  for (const layer_experts& w : wanted) {
    fetched.push_back({w.layer, {}});
    expert_cache& cache = cache_for(dc, w.layer);
    for (const int x : w.experts) {
      const std::int64_t k = key(w.layer, rank * per_rank_ + x);
      if (!admit(dc.flows, dc.prefetched, cache, k, keep)) continue;
      auto rec = std::make_shared<inflight>();
      dc.flows[k] = rec;
      dc.queue.push_back(std::move(rec));
      fetched.back().experts.push_back(x);
    }
  }
  pump(d, dc);
  return fetched;
}

void expert_offload::pump(topo::device_id d, device_caches& c) {
  if (c.copying || c.queue_next >= c.queue.size()) {
    if (c.queue_next >= c.queue.size()) {
      c.queue.clear();
      c.queue_next = 0;
    }
    return;
  }
  std::shared_ptr<inflight> rec = c.queue[c.queue_next++];
  c.copying = true;
  // Through fetch(), as every host -> device copy; the queued record completes with it (an
  // evicted one is still copied: the stream had it).
  const std::shared_ptr<inflight> wire = fetch(d, expert_bytes_);
  wire->waiters.push_back([this, d, &c, rec](time_ps t) {
    rec->done_at = t;
    auto waiters = std::move(rec->waiters);
    for (auto& w : waiters) w(t);
    c.copying = false;
    pump(d, c);
  });
}

offload_report expert_offload::report(std::uint32_t steps, double tokens_per_s) const {
  offload_report r;
  r.hit_rate = lookups_ > 0 ? hits_ / lookups_ : 0;
  r.bytes_fetched = bytes_fetched_;
  const double per_step = steps > 0 ? 1.0 / steps : 0;
  r.stall_s = seconds(stall_ps_) * per_step;
  r.tokens_per_s = tokens_per_s;
  for (std::size_t i = 0; i < layer_hits_.size(); ++i) {
    r.per_layer.push_back(layer_lookups_[i] > 0 ? layer_hits_[i] / layer_lookups_[i] : 0);
  }
  r.cached_experts = capacity_ * (cfg_.cache_experts_per_layer ? moe_layers_ : 1);
  r.expert_bytes = expert_bytes_;
  r.prefetched = prefetched_;
  r.prefetch_accuracy = prefetched_ > 0 ? prefetch_used_ / prefetched_ : 0;
  r.prefetch_wasted_bytes = (prefetched_ - prefetch_used_) * expert_bytes_;
  r.cpu_share = lookups_ > 0 ? cpu_experts_ / lookups_ : 0;
  r.cpu_busy_s = seconds(cpu_busy_ps_) * per_step;
  r.policy = cfg_.policy == offload_policy::lru ? "lru" : "lfu";
  r.miss = cfg_.miss == offload_miss::fetch ? "fetch" : "cpu";
  r.prefetch = cfg_.prefetch == offload_prefetch::none   ? "none"
               : cfg_.prefetch == offload_prefetch::gate ? "gate"
                                                         : "previous_token";
  return r;
}

}  // namespace moesim::sim::run
