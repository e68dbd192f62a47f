#include "sim/run/expert_placement.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "models/model_params.hpp"

namespace moesim::sim::run {

expert_placement::expert_placement(int experts, int ep, int layers,
                                   std::span<const moesim::serve::expert_replica> replicas)
    : experts_(experts),
      ep_(ep),
      per_rank_(ep > 0 ? experts / ep : 0),
      layer_index_(static_cast<std::size_t>(std::max(layers, 0)), -1) {
  if (replicas.empty()) return;
  if (ep <= 0 || experts % ep != 0) {
    throw std::invalid_argument(
        fmt::format("expert_placement: {} experts do not split over {} EP ranks", experts, ep));
  }
  const auto n_e = static_cast<std::size_t>(experts);
  // copies[layer][e]: the ranks holding expert e, home first, then the replicas as listed.
  std::vector<std::vector<std::vector<int>>> copies(layer_index_.size());
  for (const auto& r : replicas) {
    if (r.expert < 0 || r.expert >= experts) {
      throw std::invalid_argument(
          fmt::format("expert_placement: expert {} outside [0, {})", r.expert, experts));
    }
    std::vector<int> in = r.layers;
    if (in.empty()) {
      for (int l = 0; l < layers; ++l) in.push_back(l);
    }
    for (const int l : in) {
      if (l < 0 || l >= layers) {
        throw std::invalid_argument(
            fmt::format("expert_placement: layer {} outside [0, {})", l, layers));
      }
      auto& per_layer = copies[static_cast<std::size_t>(l)];
      if (per_layer.empty()) per_layer.resize(n_e);
      auto& held = per_layer[static_cast<std::size_t>(r.expert)];
      if (held.empty()) held.push_back(home(r.expert));
      for (const int rank : r.ranks) {
        if (rank < 0 || rank >= ep || std::find(held.begin(), held.end(), rank) != held.end()) {
          throw std::invalid_argument(fmt::format(
              "expert_placement: rank {} for expert {} in layer {} is out of [0, {}) or holds it "
              "already",
              rank, r.expert, l, ep));
        }
        held.push_back(rank);
      }
    }
  }
  for (std::size_t l = 0; l < copies.size(); ++l) {
    if (copies[l].empty()) continue;
    layer_map m;
    m.dispatch.resize(static_cast<std::size_t>(ep) * n_e);
    m.replicas_on.resize(static_cast<std::size_t>(ep));
    for (int e = 0; e < experts; ++e) {
      const std::vector<int>& held = copies[l][static_cast<std::size_t>(e)];
      if (held.size() <= 1) {
        for (int s = 0; s < ep; ++s) m.dispatch[static_cast<std::size_t>(s) * n_e + e] = home(e);
        continue;
      }
      for (std::size_t c = 1; c < held.size(); ++c) {
        m.replicas_on[static_cast<std::size_t>(held[c])].push_back(e);
      }
      // Each copy serves its own rank; the other sources, in rank order, the least-served copy.
      std::vector<int> served(held.size(), 1);
      for (int s = 0; s < ep; ++s) {
        const auto own = std::find(held.begin(), held.end(), s);
        std::size_t pick = static_cast<std::size_t>(own - held.begin());
        if (own == held.end()) {
          pick = static_cast<std::size_t>(std::min_element(served.begin(), served.end()) -
                                          served.begin());
          ++served[pick];
        }
        m.dispatch[static_cast<std::size_t>(s) * n_e + static_cast<std::size_t>(e)] = held[pick];
      }
    }
    layer_index_[l] = static_cast<int>(layers_.size());
    layers_.push_back(std::move(m));
  }
}

const expert_placement::layer_map* expert_placement::map_of(int layer) const noexcept {
  if (layer < 0 || static_cast<std::size_t>(layer) >= layer_index_.size()) return nullptr;
  const int i = layer_index_[static_cast<std::size_t>(layer)];
  return i < 0 ? nullptr : &layers_[static_cast<std::size_t>(i)];
}

int expert_placement::dispatch_rank(int layer, int src, int e) const noexcept {
  const layer_map* m = map_of(layer);
  if (m == nullptr) return home(e);
  return m->dispatch[static_cast<std::size_t>(src) * static_cast<std::size_t>(experts_) +
                     static_cast<std::size_t>(e)];
}

std::vector<std::int64_t> expert_placement::rank_pairs(const layer_routing& lr, int layer) const {
  const auto n_ep = static_cast<std::size_t>(ep_);
  std::vector<std::int64_t> pair(n_ep * n_ep, 0);
  const layer_map* m = map_of(layer);
  for (std::size_t src = 0; src < n_ep; ++src) {
    const std::int64_t* row = lr.copies.data() + src * static_cast<std::size_t>(lr.experts);
    if (m == nullptr) {
      for (std::size_t dst = 0; dst < n_ep; ++dst) {
        std::int64_t copies = 0;
        const std::int64_t* e = row + dst * static_cast<std::size_t>(per_rank_);
        for (int x = 0; x < per_rank_; ++x) copies += e[x];
        pair[src * n_ep + dst] = copies;
      }
      continue;
    }
    const int* to = m->dispatch.data() + src * static_cast<std::size_t>(experts_);
    for (int e = 0; e < experts_; ++e) pair[src * n_ep + static_cast<std::size_t>(to[e])] += row[e];
  }
  return pair;
}

expert_placement::rank_load expert_placement::load(const layer_routing& lr, int layer,
                                                   int rank) const {
  rank_load out;
  const layer_map* m = map_of(layer);
  if (m == nullptr) {
    for (int x = rank * per_rank_; x < (rank + 1) * per_rank_; ++x) {
      const std::int64_t n = lr.expert_load[static_cast<std::size_t>(x)];
      out.copies += static_cast<double>(n);
      out.active += n > 0 ? 1 : 0;
    }
    return out;
  }
  // The copies each of the rank's experts (home ones, then replicas) receives from the sources
  // it serves.
  auto received = [&](int e) {
    std::int64_t n = 0;
    for (int s = 0; s < ep_; ++s) {
      const auto at = static_cast<std::size_t>(s) * static_cast<std::size_t>(experts_) +
                      static_cast<std::size_t>(e);
      if (m->dispatch[at] == rank) n += lr.copies[at];
    }
    return n;
  };
  auto add = [&](int e) {
    const std::int64_t n = received(e);
    out.copies += static_cast<double>(n);
    out.active += n > 0 ? 1 : 0;
  };
  for (int x = rank * per_rank_; x < (rank + 1) * per_rank_; ++x) add(x);
  for (const int x : m->replicas_on[static_cast<std::size_t>(rank)]) add(x);
  return out;
}

std::int64_t expert_placement::most_replicas_on_a_rank() const {
  std::vector<std::int64_t> held(static_cast<std::size_t>(ep_), 0);
  for (const layer_map& m : layers_) {
    for (std::size_t r = 0; r < m.replicas_on.size(); ++r) {
      held[r] += static_cast<std::int64_t>(m.replicas_on[r].size());
    }
  }
  return held.empty() ? 0 : *std::max_element(held.begin(), held.end());
}

rank_spread spread_of(const expert_placement& p, const layer_routing& lr, int layer) {
  double tokens_max = 0;
  double tokens_sum = 0;
  double unique_max = 0;
  double unique_sum = 0;
  for (int r = 0; r < p.ranks(); ++r) {
    const expert_placement::rank_load l = p.load(lr, layer, r);
    tokens_max = std::max(tokens_max, l.copies);
    tokens_sum += l.copies;
    unique_max = std::max(unique_max, static_cast<double>(l.active));
    unique_sum += l.active;
  }
  const double n = p.ranks();
  rank_spread out;
  if (tokens_sum > 0) out.tokens_max_over_mean = tokens_max / (tokens_sum / n);
  if (unique_sum > 0) out.unique_max_over_mean = unique_max / (unique_sum / n);
  return out;
}

namespace {

const moesim::serve::speculative_spec* speculative_of(const scenario& s) {
  if (s.workload.kind != workload_kind::serve || !s.workload.serve ||
      !s.workload.serve->speculative) {
    return nullptr;
  }
  return &*s.workload.serve->speculative;
}

/// The replicas as a placement over the target's layers (none for a dense model).
expert_placement replicas_of(const scenario& s, bool with_replicas) {
  const int experts = s.model.moe ? s.model.moe->experts : 0;
  const moesim::serve::speculative_spec* sp = speculative_of(s);
  if (!with_replicas || sp == nullptr || !s.model.moe) {
    return {experts, s.parallelism.ep, s.model.layers};
  }
  return {experts, s.parallelism.ep, s.model.layers, sp->replicas};
}

}  // namespace

expert_placement placement_of(const scenario& s) {
  const moesim::serve::speculative_spec* sp = speculative_of(s);
  return replicas_of(s, sp != nullptr && sp->policy == moesim::serve::speculation_policy::divided);
}

double replica_weight_bytes(const scenario& s) {
  const moesim::serve::speculative_spec* sp = speculative_of(s);
  if (sp == nullptr || sp->replicas.empty() || !s.model.moe) return 0;
  using moesim::serve::speculation_policy;
  const bool divided = sp->policy == speculation_policy::divided ||
                       std::find(sp->policies.begin(), sp->policies.end(),
                                 speculation_policy::divided) != sp->policies.end();
  if (!divided) return 0;
  const double held = static_cast<double>(replicas_of(s, true).most_replicas_on_a_rank());
  return held * static_cast<double>(models::expert_params(s.model)) *
         models::bytes_per_param(s.model.dtype) / s.parallelism.tp;
}

}  // namespace moesim::sim::run
