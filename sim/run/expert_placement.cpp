#include "sim/run/expert_placement.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "models/model_params.hpp"

namespace moesim::sim::run {

expert_placement::layer_copies expert_placement::split_copies() const {
  layer_copies lc;
  lc.copies.resize(static_cast<std::size_t>(experts_));
  lc.held.resize(static_cast<std::size_t>(ep_));
  lc.extra.assign(static_cast<std::size_t>(ep_), 0);
  for (int e = 0; e < experts_; ++e) {
    lc.copies[static_cast<std::size_t>(e)].push_back(home(e));
    lc.held[static_cast<std::size_t>(home(e))].push_back(e);
  }
  return lc;
}

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
      int& index = layer_index_[static_cast<std::size_t>(l)];
      if (index < 0) {
        index = static_cast<int>(layers_.size());
        layers_.push_back(split_copies());
      }
      layer_copies& lc = layers_[static_cast<std::size_t>(index)];
      auto& held = lc.copies[static_cast<std::size_t>(r.expert)];
      for (const int rank : r.ranks) {
        if (rank < 0 || rank >= ep) {
          throw std::invalid_argument(
              fmt::format("expert_placement: rank {} for expert {} in layer {} is outside [0, {})",
                          rank, r.expert, l, ep));
        }
        if (std::find(held.begin(), held.end(), rank) != held.end()) {
          throw std::invalid_argument(fmt::format(
              "expert_placement: rank {} holds expert {} in layer {} already", rank, r.expert, l));
        }
        held.push_back(rank);
        lc.held[static_cast<std::size_t>(rank)].push_back(r.expert);
        ++lc.extra[static_cast<std::size_t>(rank)];
      }
    }
  }
}

void expert_placement::set_layer(int layer, std::span<const int> phy2log) {
  const auto slots = static_cast<int>(phy2log.size());
  if (layer < 0 || static_cast<std::size_t>(layer) >= layer_index_.size()) {
    throw std::invalid_argument(
        fmt::format("expert_placement: layer {} outside [0, {})", layer, layer_index_.size()));
  }
  if (ep_ <= 0 || experts_ % ep_ != 0 || slots < experts_ || slots % ep_ != 0) {
    throw std::invalid_argument(fmt::format(
        "expert_placement: {} slots for {} experts do not split over {} EP ranks (need at least "
        "the experts and a multiple of the ranks)",
        slots, experts_, ep_));
  }
  layer_copies lc;
  lc.copies.resize(static_cast<std::size_t>(experts_));
  lc.held.resize(static_cast<std::size_t>(ep_));
  lc.extra.assign(static_cast<std::size_t>(ep_), slots / ep_ - per_rank_);
  const int per = slots / ep_;
  bool split = slots == experts_;
  for (int slot = 0; slot < slots; ++slot) {
    const int e = phy2log[static_cast<std::size_t>(slot)];
    if (e < 0 || e >= experts_) {
      throw std::invalid_argument(
          fmt::format("expert_placement: slot {} of layer {} holds expert {} outside [0, {})", slot,
                      layer, e, experts_));
    }
    split = split && e == slot;
    const int rank = slot / per;
    auto& c = lc.copies[static_cast<std::size_t>(e)];
    if (std::find(c.begin(), c.end(), rank) != c.end()) continue;  // a second slot, same rank
    c.push_back(rank);
    lc.held[static_cast<std::size_t>(rank)].push_back(e);
  }
  for (int e = 0; e < experts_; ++e) {
    if (lc.copies[static_cast<std::size_t>(e)].empty()) {
      throw std::invalid_argument(
          fmt::format("expert_placement: no slot of layer {} holds expert {}", layer, e));
    }
  }
  int& index = layer_index_[static_cast<std::size_t>(layer)];
  if (split) {
    index = -1;  // the contiguous split's fast path
    return;
  }
  lc.table.assign(phy2log.begin(), phy2log.end());
  if (index < 0) {
    index = static_cast<int>(layers_.size());
    layers_.push_back(std::move(lc));
  } else {
    layers_[static_cast<std::size_t>(index)] = std::move(lc);
  }
}

void expert_placement::copy_layer(int layer, const expert_placement& from) {
  const layer_copies* lc = from.copies_of(layer);
  int& index = layer_index_.at(static_cast<std::size_t>(layer));
  if (lc == nullptr) {
    index = -1;
  } else if (index < 0) {
    index = static_cast<int>(layers_.size());
    layers_.push_back(*lc);
  } else {
    layers_[static_cast<std::size_t>(index)] = *lc;
  }
}

std::vector<std::vector<int>> expert_placement::experts_on(int layer) const {
  const layer_copies* lc = copies_of(layer);
  if (lc != nullptr) return lc->held;
  return split_copies().held;
}

void expert_placement::remove_rank(int rank) {
  if (rank < 0 || rank >= ep_) {
    throw std::invalid_argument(
        fmt::format("expert_placement: rank {} outside [0, {})", rank, ep_));
  }
  for (int& index : layer_index_) {
    if (index < 0) {
      index = static_cast<int>(layers_.size());
      layers_.push_back(split_copies());
    }
    layer_copies& lc = layers_[static_cast<std::size_t>(index)];
    for (std::vector<int>& c : lc.copies) std::erase(c, rank);
    lc.held[static_cast<std::size_t>(rank)].clear();
    lc.extra[static_cast<std::size_t>(rank)] = 0;
  }
}

void expert_placement::set_choice(replica_choice c, std::vector<int> rank_distance) {
  if (c == replica_choice::nearest &&
      rank_distance.size() != static_cast<std::size_t>(ep_) * static_cast<std::size_t>(ep_)) {
    throw std::invalid_argument(
        fmt::format("expert_placement: nearest needs {} x {} rank distances, got {}", ep_, ep_,
                    rank_distance.size()));
  }
  choice_ = c;
  distance_ = std::move(rank_distance);
}

bool expert_placement::contiguous() const noexcept {
  return std::all_of(layer_index_.begin(), layer_index_.end(), [this](int i) {
    return i < 0 || layers_[static_cast<std::size_t>(i)].table.empty();
  });
}

const expert_placement::layer_copies* expert_placement::copies_of(int layer) const noexcept {
  if (layer < 0 || static_cast<std::size_t>(layer) >= layer_index_.size()) return nullptr;
  const int i = layer_index_[static_cast<std::size_t>(layer)];
  return i < 0 ? nullptr : &layers_[static_cast<std::size_t>(i)];
}

expert_placement::pass_assignment expert_placement::assign(const layer_routing& lr,
                                                           int layer) const {
  const auto n_ep = static_cast<std::size_t>(ep_);
  const auto n_e = static_cast<std::size_t>(experts_);
  pass_assignment a;
  a.pairs.assign(n_ep * n_ep, 0);
  a.ranks.resize(n_ep);
  const layer_copies* lc = copies_of(layer);
  if (lc == nullptr) {
    // The contiguous split: rank r holds experts [r * per_rank, (r + 1) * per_rank).
    for (std::size_t src = 0; src < n_ep; ++src) {
      const std::int64_t* row = lr.copies.data() + src * n_e;
      for (std::size_t dst = 0; dst < n_ep; ++dst) {
        std::int64_t copies = 0;
        const std::int64_t* e = row + dst * static_cast<std::size_t>(per_rank_);
        for (int x = 0; x < per_rank_; ++x) copies += e[x];
        a.pairs[src * n_ep + dst] = copies;
      }
    }
    for (int r = 0; r < ep_; ++r) {
      rank_load& out = a.ranks[static_cast<std::size_t>(r)];
      for (int x = r * per_rank_; x < (r + 1) * per_rank_; ++x) {
        const std::int64_t n = lr.expert_load[static_cast<std::size_t>(x)];
        out.copies += static_cast<double>(n);
        out.active += n > 0 ? 1 : 0;
      }
    }
    return a;
  }
  // 1 and 2: experts with one copy go there, holders of a copy keep their tokens.
  std::vector<std::int64_t> load(n_ep, 0);
  std::vector<std::vector<std::int64_t>> received(n_e);  // per expert, per copy
  struct pending {
    std::int64_t n;
    int expert;
    int src;
  };
  std::vector<pending> rest;
  for (int e = 0; e < experts_; ++e) {
    const std::vector<int>& held = lc->copies[static_cast<std::size_t>(e)];
    auto& got = received[static_cast<std::size_t>(e)];
    got.assign(held.size(), 0);
    for (int src = 0; src < ep_; ++src) {
      const std::int64_t n = lr.copies[static_cast<std::size_t>(src) * n_e + e];
      if (n == 0) continue;
      if (held.empty()) {  // every copy lost (remove_rank)
        a.dropped += n;
        continue;
      }
      std::size_t c = 0;
      if (held.size() > 1) {
        const auto own = std::find(held.begin(), held.end(), src);
        if (own == held.end()) {
          rest.push_back({n, e, src});
          continue;
        }
        c = static_cast<std::size_t>(own - held.begin());
      }
      const auto to = static_cast<std::size_t>(held[c]);
      got[c] += n;
      a.pairs[static_cast<std::size_t>(src) * n_ep + to] += n;
      load[to] += n;
    }
  }
  // 3: the rest, largest first, each to the nearest (then) least-loaded copy.
  std::sort(rest.begin(), rest.end(), [](const pending& x, const pending& y) {
    if (x.n != y.n) return x.n > y.n;
    return x.expert != y.expert ? x.expert < y.expert : x.src < y.src;
  });
  const bool nearest = choice_ == replica_choice::nearest;
  for (const pending& p : rest) {
    const std::vector<int>& held = lc->copies[static_cast<std::size_t>(p.expert)];
    const auto dist = [&](std::size_t c) {
      return nearest ? distance_[static_cast<std::size_t>(p.src) * n_ep +
                                 static_cast<std::size_t>(held[c])]
                     : 0;
    };
    std::size_t pick = 0;
    for (std::size_t c = 1; c < held.size(); ++c) {
      const int dc = dist(c);
      const int dp = dist(pick);
      if (dc < dp || (dc == dp && load[static_cast<std::size_t>(held[c])] <
                                      load[static_cast<std::size_t>(held[pick])])) {
        pick = c;
      }
    }
    const auto to = static_cast<std::size_t>(held[pick]);
    received[static_cast<std::size_t>(p.expert)][pick] += p.n;
    a.pairs[static_cast<std::size_t>(p.src) * n_ep + to] += p.n;
    load[to] += p.n;
  }
  // Each rank's experts with tokens, home or copy.
  for (int r = 0; r < ep_; ++r) {
    rank_load& out = a.ranks[static_cast<std::size_t>(r)];
    out.copies = static_cast<double>(load[static_cast<std::size_t>(r)]);
    for (const int x : lc->held[static_cast<std::size_t>(r)]) {
      const std::vector<int>& held = lc->copies[static_cast<std::size_t>(x)];
      const auto c =
          static_cast<std::size_t>(std::find(held.begin(), held.end(), r) - held.begin());
      out.active += received[static_cast<std::size_t>(x)][c] > 0 ? 1 : 0;
    }
  }
  return a;
}

std::int64_t expert_placement::most_replicas_on_a_rank() const {
  std::vector<std::int64_t> held(static_cast<std::size_t>(ep_), 0);
  for (const int i : layer_index_) {
    if (i < 0) continue;
    const layer_copies& lc = layers_[static_cast<std::size_t>(i)];
    for (std::size_t r = 0; r < lc.extra.size(); ++r) held[r] += lc.extra[r];
  }
  return held.empty() ? 0 : *std::max_element(held.begin(), held.end());
}

rank_spread spread_of(const expert_placement::pass_assignment& a) {
  double tokens_max = 0;
  double tokens_sum = 0;
  double unique_max = 0;
  double unique_sum = 0;
  for (const expert_placement::rank_load& l : a.ranks) {
    tokens_max = std::max(tokens_max, l.copies);
    tokens_sum += l.copies;
    unique_max = std::max(unique_max, static_cast<double>(l.active));
    unique_sum += l.active;
  }
  const auto n = static_cast<double>(a.ranks.size());
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
