#include "sim/serve/draft_tree.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace moesim::serve {

std::uint64_t tree_capacity(std::uint32_t steps, std::uint32_t top_k) noexcept {
  if (steps == 0 || top_k == 0) return 0;
  const std::uint64_t k = top_k;
  return k + (static_cast<std::uint64_t>(steps) - 1) * k * k;
}

namespace {

void check_rates(std::span<const double> rates, std::size_t needed, const char* what) {
  if (rates.size() < needed) {
    throw std::invalid_argument(
        fmt::format("draft tree: {} {} rates for {} needed", rates.size(), what, needed));
  }
  for (const double r : rates) {
    if (!(r >= 0 && r <= 1)) {
      throw std::invalid_argument(fmt::format("draft tree: {} rate {} outside [0, 1]", what, r));
    }
  }
}

}  // namespace

draft_tree::draft_tree(int steps, int top_k, int drafts, std::span<const double> depth_rate,
                       std::span<const double> rank_rate)
    : steps_(steps), top_k_(top_k) {
  if (steps < 1 || top_k < 1) {
    throw std::invalid_argument(
        fmt::format("draft tree: steps {} and top_k {} must be at least 1", steps, top_k));
  }
  const std::uint64_t capacity =
      tree_capacity(static_cast<std::uint32_t>(steps), static_cast<std::uint32_t>(top_k));
  if (drafts < 1 || static_cast<std::uint64_t>(drafts) > capacity) {
    throw std::invalid_argument(
        fmt::format("draft tree: {} drafts; steps {} with top_k {} hold 1 to {}", drafts, steps,
                    top_k, capacity));
  }
  check_rates(depth_rate, static_cast<std::size_t>(steps), "depth");
  check_rates(rank_rate, static_cast<std::size_t>(top_k - 1), "rank");
  rank_rate_.assign(rank_rate.begin(), rank_rate.begin() + (top_k - 1));
  // The share of walks at a depth-d node that go on to its rank-r child.
  const auto step_prob = [&](int d, int r) {
    double miss = 1;
    for (int m = 0; m < r; ++m) miss *= 1 - (m == 0 ? depth_rate[d] : rank_rate_[m - 1]);
    return miss * (r == 0 ? depth_rate[d] : rank_rate_[r - 1]);
  };
  // Every candidate SGLang generates, in its generation order.
  std::vector<node> pool;
  pool.reserve(capacity);
  std::vector<int> frontier{-1};
  for (int d = 0; d < steps; ++d) {
    const std::size_t first = pool.size();
    for (const int parent : frontier) {
      const double reach = parent < 0 ? 1.0 : pool[static_cast<std::size_t>(parent)].reach;
      for (int r = 0; r < top_k; ++r) pool.push_back({parent, d + 1, r, reach * step_prob(d, r)});
    }
    // The next frontier: this pass's top_k best candidates (stable: generation order on ties).
    std::vector<int> order(pool.size() - first);
    std::iota(order.begin(), order.end(), static_cast<int>(first));
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return pool[static_cast<std::size_t>(a)].reach > pool[static_cast<std::size_t>(b)].reach;
    });
    order.resize(std::min<std::size_t>(order.size(), static_cast<std::size_t>(top_k)));
    frontier = std::move(order);
  }
  // The drafts best-reached of the pool; a child's reach is at most its parent's and the parent
  // comes first in generation order, so parents precede children.
  std::vector<int> order(pool.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return pool[static_cast<std::size_t>(a)].reach > pool[static_cast<std::size_t>(b)].reach;
  });
  order.resize(static_cast<std::size_t>(drafts));
  std::vector<int> index(pool.size(), -1);
  child_.assign(static_cast<std::size_t>(drafts + 1) * static_cast<std::size_t>(top_k), -1);
  for (const int p : order) {
    node x = pool[static_cast<std::size_t>(p)];
    x.parent = x.parent < 0 ? -1 : index[static_cast<std::size_t>(x.parent)];
    if (x.depth > 1 && x.parent < 0)
      throw std::logic_error("draft tree: a child before its parent");
    index[static_cast<std::size_t>(p)] = static_cast<int>(nodes_.size());
    child_[static_cast<std::size_t>(x.parent + 1) * static_cast<std::size_t>(top_k) +
           static_cast<std::size_t>(x.rank)] = static_cast<int>(nodes_.size());
    nodes_.push_back(x);
  }
}

int draft_tree::depth(int n) const {
  int d = 0;
  for (int i = 0; i < std::min(n, size()); ++i)
    d = std::max(d, nodes_[static_cast<std::size_t>(i)].depth);
  return d;
}

double draft_tree::expected_accepted(int n) const {
  double sum = 0;
  for (int i = 0; i < std::min(n, size()); ++i) sum += nodes_[static_cast<std::size_t>(i)].reach;
  return sum;
}

int draft_tree::accepted(int n, std::span<const double> depth_rate, rng& gen) const {
  if (depth_rate.size() < static_cast<std::size_t>(steps_)) {
    throw std::invalid_argument("draft tree: fewer depth rates than steps");
  }
  int at = -1;  // the root
  int d = 0;
  while (d < steps_) {
    int next = -1;
    bool hit = false;
    for (int r = 0; r < top_k_ && !hit; ++r) {
      const double rate = r == 0 ? depth_rate[static_cast<std::size_t>(d)] : rank_rate_[r - 1];
      if (gen.uniform01() < rate) {
        hit = true;
        next = child_[static_cast<std::size_t>(at + 1) * static_cast<std::size_t>(top_k_) +
                      static_cast<std::size_t>(r)];
      }
    }
    // No rank accepted, or the accepted candidate is not among the first n nodes.
    if (next < 0 || next >= n) break;
    at = next;
    ++d;
  }
  return d;
}

int draft_tree::accepted(const acceptance_model& a, std::uint64_t seed, std::uint64_t request,
                         std::int64_t step, int n) const {
  const int topic = a.topic_of(request);
  std::vector<double> rates(static_cast<std::size_t>(steps_));
  for (int d = 0; d < steps_; ++d) rates[static_cast<std::size_t>(d)] = a.rate(topic, d);
  rng gen =
      rng::stream(seed, "speculative.tree").fork(request).fork(static_cast<std::uint64_t>(step));
  return accepted(n, rates, gen);
}

}  // namespace moesim::serve
