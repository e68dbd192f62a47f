#include "models/batch_scaling.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>

namespace moesim::models {
namespace {

batch_counts make_counts(int experts, std::span<const std::int64_t> tokens_per_device,
                         const expert_grouping& grouping) {
  if (!grouping.expert_group.empty()) {
    if (grouping.expert_group.size() != static_cast<std::size_t>(experts) || grouping.groups <= 0) {
      throw std::invalid_argument("batch counts: expert grouping has " +
                                  std::to_string(grouping.expert_group.size()) + " entries for " +
                                  std::to_string(experts) + " experts");
    }
    for (int g : grouping.expert_group) {
      if (g < 0 || g >= grouping.groups) {
        throw std::invalid_argument("batch counts: group " + std::to_string(g) + " outside [0, " +
                                    std::to_string(grouping.groups) + ")");
      }
    }
  }
  if (!grouping.group_parent.empty()) {
    if (grouping.expert_group.empty() ||
        grouping.group_parent.size() != static_cast<std::size_t>(grouping.groups) ||
        grouping.parents <= 0) {
      throw std::invalid_argument("batch counts: group parents need one entry per group (" +
                                  std::to_string(grouping.groups) + ")");
    }
    for (int p : grouping.group_parent) {
      if (p < 0 || p >= grouping.parents) {
        throw std::invalid_argument("batch counts: parent " + std::to_string(p) + " outside [0, " +
                                    std::to_string(grouping.parents) + ")");
      }
    }
  }
  for (std::int64_t b : tokens_per_device) {
    if (b < 0) throw std::invalid_argument("batch counts: negative tokens on a device");
  }
  batch_counts c;
  c.devices = static_cast<int>(tokens_per_device.size());
  c.experts = experts;
  c.groups = grouping.expert_group.empty() ? 0 : grouping.groups;
  c.device_tokens.assign(tokens_per_device.begin(), tokens_per_device.end());
  c.device_expert.assign(static_cast<std::size_t>(c.devices) * static_cast<std::size_t>(experts),
                         0);
  c.device_group_tokens.assign(
      static_cast<std::size_t>(c.devices) * static_cast<std::size_t>(c.groups), 0);
  c.parents = grouping.group_parent.empty() ? 0 : grouping.parents;
  c.device_parent_tokens.assign(
      static_cast<std::size_t>(c.devices) * static_cast<std::size_t>(c.parents), 0);
  c.expert_load.assign(static_cast<std::size_t>(experts), 0);
  return c;
}

/// Adds `copies` tokens with experts `ids` to device `d`'s rows (only: expert totals are summed
/// from the rows afterwards, so workers on disjoint devices never share a write).
class accumulator {
 public:
  accumulator(batch_counts& c, const expert_grouping& g)
      : c_(c),
        g_(g),
        group_seen_(static_cast<std::size_t>(std::max(c.groups, 1)), -1),
        parent_seen_(static_cast<std::size_t>(std::max(c.parents, 1)), -1) {}

  /// Appends the distinct groups of `ids` to `groups` and their distinct parents to `parents`.
  void distinct(std::span<const expert_index> ids, std::vector<int>& groups,
                std::vector<int>& parents) {
    ++stamp_;
    for (expert_index e : ids) {
      const int g = g_.expert_group[static_cast<std::size_t>(e)];
      if (group_seen_[static_cast<std::size_t>(g)] == stamp_) continue;
      group_seen_[static_cast<std::size_t>(g)] = stamp_;
      groups.push_back(g);
      if (c_.parents == 0) continue;
      const int p = g_.group_parent[static_cast<std::size_t>(g)];
      if (parent_seen_[static_cast<std::size_t>(p)] == stamp_) continue;
      parent_seen_[static_cast<std::size_t>(p)] = stamp_;
      parents.push_back(p);
    }
  }

  void add(int d, std::span<const expert_index> ids, std::int64_t copies) {
    if (copies == 0) return;
    add_experts(d, ids, copies);
    if (c_.groups == 0) return;
    // distinct() and add_groups() in one pass, without the lists (the relabelled picks' path);
    // up to 64 groups (and parents) the distinct sets are bit masks held in registers.
    if (c_.groups <= 64 && c_.parents <= 64) {
      std::uint64_t groups = 0;
      for (expert_index e : ids) {
        groups |= std::uint64_t{1} << g_.expert_group[static_cast<std::size_t>(e)];
      }
      add_masks(d, groups, copies);
      return;
    }
    ++stamp_;
    std::int64_t* grow = c_.device_group_tokens.data() +
                         static_cast<std::size_t>(d) * static_cast<std::size_t>(c_.groups);
    std::int64_t* prow = c_.device_parent_tokens.data() +
                         static_cast<std::size_t>(d) * static_cast<std::size_t>(c_.parents);
    for (expert_index e : ids) {
      const int g = g_.expert_group[static_cast<std::size_t>(e)];
      if (group_seen_[static_cast<std::size_t>(g)] == stamp_) continue;
      group_seen_[static_cast<std::size_t>(g)] = stamp_;
      grow[g] += copies;
      if (c_.parents == 0) continue;
      const int p = g_.group_parent[static_cast<std::size_t>(g)];
      if (parent_seen_[static_cast<std::size_t>(p)] == stamp_) continue;
      parent_seen_[static_cast<std::size_t>(p)] = stamp_;
      prow[p] += copies;
    }
  }

  /// As add(), with the token's distinct groups and parents known.
  void add(int d, std::span<const expert_index> ids, std::span<const int> groups,
           std::span<const int> parents, std::int64_t copies) {
    if (copies == 0) return;
    add_experts(d, ids, copies);
    add_groups(d, groups, parents, copies);
  }

 private:
  void add_experts(int d, std::span<const expert_index> ids, std::int64_t copies) {
    std::int64_t* row = c_.device_expert.data() +
                        static_cast<std::size_t>(d) * static_cast<std::size_t>(c_.experts);
    for (expert_index e : ids) row[e] += copies;
  }

  void add_masks(int d, std::uint64_t groups, std::int64_t copies) {
    std::int64_t* grow = c_.device_group_tokens.data() +
                         static_cast<std::size_t>(d) * static_cast<std::size_t>(c_.groups);
    std::uint64_t parents = 0;
    for (std::uint64_t m = groups; m != 0; m &= m - 1) {
      const int g = std::countr_zero(m);
      grow[g] += copies;
      if (c_.parents > 0)
        parents |= std::uint64_t{1} << g_.group_parent[static_cast<std::size_t>(g)];
    }
    std::int64_t* prow = c_.device_parent_tokens.data() +
                         static_cast<std::size_t>(d) * static_cast<std::size_t>(c_.parents);
    for (std::uint64_t m = parents; m != 0; m &= m - 1) prow[std::countr_zero(m)] += copies;
  }

  void add_groups(int d, std::span<const int> groups, std::span<const int> parents,
                  std::int64_t copies) {
    std::int64_t* grow = c_.device_group_tokens.data() +
                         static_cast<std::size_t>(d) * static_cast<std::size_t>(c_.groups);
    for (int g : groups) grow[g] += copies;
    std::int64_t* prow = c_.device_parent_tokens.data() +
                         static_cast<std::size_t>(d) * static_cast<std::size_t>(c_.parents);
    for (int p : parents) prow[p] += copies;
  }

  batch_counts& c_;
  const expert_grouping& g_;
  std::vector<std::int64_t> group_seen_;
  std::vector<std::int64_t> parent_seen_;
  std::int64_t stamp_ = 0;
};

}  // namespace

batch_counts count_batch(const routing& r, std::span<const std::int64_t> tokens_per_device,
                         const expert_grouping& grouping) {
  const std::int64_t total =
      std::accumulate(tokens_per_device.begin(), tokens_per_device.end(), std::int64_t{0});
  if (total != r.tokens) {
    throw std::invalid_argument("count_batch: devices hold " + std::to_string(total) +
                                " tokens but the routing has " + std::to_string(r.tokens));
  }
  batch_counts c = make_counts(r.experts, tokens_per_device, grouping);
  accumulator acc(c, grouping);
  int t = 0;
  for (int d = 0; d < c.devices; ++d) {
    for (std::int64_t i = 0; i < tokens_per_device[static_cast<std::size_t>(d)]; ++i, ++t) {
      acc.add(d, r.experts_of(t), 1);
    }
  }
  for (int d = 0; d < c.devices; ++d) {
    for (int e = 0; e < c.experts; ++e) c.expert_load[static_cast<std::size_t>(e)] += c.at(d, e);
  }
  return c;
}

double relabel_fraction(const routing& sample) {
  if (sample.tokens < 2) return 1.0;
  const std::vector<std::int64_t> load = expert_load(sample);
  const double s = sample.tokens;
  const double mean = static_cast<double>(sample.assignments()) / sample.experts;
  double spread = 0.0;
  double noise = 0.0;
  for (std::int64_t x : load) {
    const double xd = static_cast<double>(x);
    spread += (xd - mean) * (xd - mean);
    noise += xd * (s - xd) / (s - 1.0);
  }
  if (spread <= 0.0) return 1.0;
  const double keep = std::sqrt(std::max(0.0, 1.0 - noise / spread));
  return 1.0 - keep;
}

batch_counts scale_to_batch(const routing& sample, std::span<const std::int64_t> tokens_per_device,
                            int router_groups, rng& gen, const expert_grouping& grouping,
                            int threads) {
  if (sample.tokens <= 0) throw std::invalid_argument("scale_to_batch: empty sample");
  if (router_groups <= 0 || sample.experts % router_groups != 0) {
    throw std::invalid_argument("scale_to_batch: router groups " + std::to_string(router_groups) +
                                " must divide experts " + std::to_string(sample.experts));
  }
  batch_counts c = make_counts(sample.experts, tokens_per_device, grouping);
  c.relabel_fraction = relabel_fraction(sample);
  const double lambda = c.relabel_fraction;
  const int group_size = sample.experts / router_groups;
  // Each expert's (group, index in group), so that a shift needs no division on the hot path.
  std::vector<int> group_of(static_cast<std::size_t>(sample.experts));
  std::vector<int> index_of(static_cast<std::size_t>(sample.experts));
  for (int e = 0; e < sample.experts; ++e) {
    group_of[static_cast<std::size_t>(e)] = e / group_size;
    index_of[static_cast<std::size_t>(e)] = e % group_size;
  }
  const auto s = static_cast<std::int64_t>(sample.tokens);
  // With a grouping: each sample token's distinct groups and parents, found once here rather
  // than at each of its (many) picks; relabelled picks move experts across groups and are
  // grouped as drawn.
  std::vector<int> token_groups;
  std::vector<int> token_parents;
  std::vector<std::size_t> groups_at(c.groups > 0 ? sample.tokens + 1 : 0, 0);
  std::vector<std::size_t> parents_at(c.groups > 0 ? sample.tokens + 1 : 0, 0);
  if (c.groups > 0) {
    accumulator finder(c, grouping);
    for (int t = 0; t < sample.tokens; ++t) {
      finder.distinct(sample.experts_of(t), token_groups, token_parents);
      groups_at[static_cast<std::size_t>(t) + 1] = token_groups.size();
      parents_at[static_cast<std::size_t>(t) + 1] = token_parents.size();
    }
  }
  auto add_sampled = [&](accumulator& acc, int d, int t, std::int64_t copies) {
    if (c.groups == 0) {
      acc.add(d, sample.experts_of(t), copies);
      return;
    }
    const auto at = static_cast<std::size_t>(t);
    acc.add(d, sample.experts_of(t),
            std::span<const int>(token_groups.data() + groups_at[at],
                                 groups_at[at + 1] - groups_at[at]),
            std::span<const int>(token_parents.data() + parents_at[at],
                                 parents_at[at + 1] - parents_at[at]),
            copies);
  };
  // Device d draws from its own stream gen.fork(d), so the counts do not depend on `threads`.
  const rng base = gen;
  (void)gen();

  // The rows of devices [first, last), with one accumulator (and scratch) per worker.
  auto fill = [&](int first, int last) {
    accumulator acc(c, grouping);
    std::vector<expert_index> shifted(static_cast<std::size_t>(sample.experts));
    for (int d = first; d < last; ++d) {
      rng g = base.fork(static_cast<std::uint64_t>(d));
      auto add_relabelled = [&](int token) {
        const auto a = static_cast<int>(g.below(static_cast<std::uint64_t>(router_groups)));
        const auto b = static_cast<int>(g.below(static_cast<std::uint64_t>(group_size)));
        std::size_t n = 0;
        for (expert_index e : sample.experts_of(token)) {
          int gi = group_of[static_cast<std::size_t>(e)] + a;  // (e / group_size + a) % groups
          if (gi >= router_groups) gi -= router_groups;
          int j = index_of[static_cast<std::size_t>(e)] + b;  // (e % group_size + b) % size
          if (j >= group_size) j -= group_size;
          shifted[n++] = gi * group_size + j;
        }
        acc.add(d, std::span<const expert_index>(shifted.data(), n), 1);
      };
      const std::int64_t b = tokens_per_device[static_cast<std::size_t>(d)];
      // b independent uniform picks: the multinomial itself, O(b) cheap draws. Past 16 picks
      // per sample token, sequential binomials over the sample (O(S), each dearer) win.
      if (b < 16 * s) {
        for (std::int64_t i = 0; i < b; ++i) {
          const auto token = static_cast<int>(g.below(static_cast<std::uint64_t>(s)));
          if (lambda > 0.0 && g.uniform01() < lambda) {
            add_relabelled(token);
          } else {
            add_sampled(acc, d, token, 1);
          }
        }
        continue;
      }
      std::int64_t remaining = b;  // sequential binomials, O(S)
      for (std::int64_t i = 0; i < s; ++i) {
        const std::int64_t n =
            i + 1 == s ? remaining
                       : static_cast<std::int64_t>(g.binomial(static_cast<std::uint64_t>(remaining),
                                                              1.0 / static_cast<double>(s - i)));
        remaining -= n;
        const std::int64_t moved =
            lambda > 0.0
                ? static_cast<std::int64_t>(g.binomial(static_cast<std::uint64_t>(n), lambda))
                : 0;
        add_sampled(acc, d, static_cast<int>(i), n - moved);
        for (std::int64_t m = 0; m < moved; ++m) add_relabelled(static_cast<int>(i));
      }
    }
  };
  // A worker thread costs tens of microseconds to start: only worth it for many picks.
  constexpr std::int64_t picks_per_worker = 1 << 17;
  const std::int64_t picks =
      std::accumulate(tokens_per_device.begin(), tokens_per_device.end(), std::int64_t{0});
  const int workers = static_cast<int>(std::clamp<std::int64_t>(
      std::min<std::int64_t>(threads, picks / picks_per_worker), 1, std::max(c.devices, 1)));
  if (workers == 1) {
    fill(0, c.devices);
  } else {
    std::vector<std::thread> pool;
    for (int w = 1; w < workers; ++w) {
      pool.emplace_back(fill, w * c.devices / workers, (w + 1) * c.devices / workers);
    }
    fill(0, c.devices / workers);
    for (auto& t : pool) t.join();
  }
  // Per-expert totals from the rows (the workers only write their own devices' rows).
  for (int d = 0; d < c.devices; ++d) {
    for (int e = 0; e < c.experts; ++e) {
      c.expert_load[static_cast<std::size_t>(e)] += c.at(d, e);
    }
  }
  return c;
}

}  // namespace moesim::models
