#include "models/capacity.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace moesim::models {

std::string_view to_string(drop_policy p) noexcept {
  return p == drop_policy::position ? "position" : "lowest_score";
}

drop_policy parse_drop_policy(std::string_view name) {
  if (name == "lowest_score") return drop_policy::lowest_score;
  if (name == "position") return drop_policy::position;
  throw std::invalid_argument("drop policy '" + std::string(name) +
                              "' is not one of lowest_score|position");
}

std::int64_t expert_capacity(std::int64_t tokens, int experts, int top_k, double capacity_factor) {
  if (!std::isfinite(capacity_factor) || capacity_factor < 0.0) {
    throw std::invalid_argument("capacity_factor must be >= 0 (0 = dropless), got " +
                                std::to_string(capacity_factor));
  }
  if (experts <= 0 || top_k <= 0 || tokens < 0) {
    throw std::invalid_argument("expert_capacity: need experts > 0, top_k > 0, tokens >= 0; got " +
                                std::to_string(experts) + ", " + std::to_string(top_k) + ", " +
                                std::to_string(tokens));
  }
  if (capacity_factor == dropless) return unlimited_capacity;
  const double exact =
      static_cast<double>(top_k) * static_cast<double>(tokens) / experts * capacity_factor;
  // A relative slack of 1e-12 keeps exact products (8 * 4096 / 256 * 1.25 = 160) from rounding
  // up to the next integer because of the last bit of a division.
  return static_cast<std::int64_t>(std::ceil(exact * (1.0 - 1e-12)));
}

capacity_result apply_capacity(const routing& r, std::int64_t capacity, drop_policy policy) {
  if (capacity < 0) {
    throw std::invalid_argument("apply_capacity: capacity must be >= 0, got " +
                                std::to_string(capacity));
  }
  const auto n = static_cast<std::size_t>(r.assignments());
  if (static_cast<std::uint64_t>(capacity) >= n) {
    // No expert can be offered more than every assignment: nothing drops, no order needed.
    capacity_result out;
    out.capacity = capacity;
    out.dropped_per_expert.assign(static_cast<std::size_t>(r.experts), 0);
    out.kept = r;
    return out;
  }
  // Assignment indices in priority order.
  std::vector<std::int32_t> order;
  order.reserve(n);
  if (policy == drop_policy::position) {
    int max_rank = 0;
    for (int t = 0; t < r.tokens; ++t) max_rank = std::max(max_rank, r.count(t));
    for (int j = 0; j < max_rank; ++j) {
      for (int t = 0; t < r.tokens; ++t) {
        if (j < r.count(t)) order.push_back(r.offsets[static_cast<std::size_t>(t)] + j);
      }
    }
  } else {
    // Assignment indices grow with token then rank, so index order breaks score ties.
    order.resize(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
      return r.scores[static_cast<std::size_t>(a)] > r.scores[static_cast<std::size_t>(b)];
    });
  }
  capacity_result out;
  out.capacity = capacity;
  out.dropped_per_expert.assign(static_cast<std::size_t>(r.experts), 0);
  std::vector<std::int64_t> used(static_cast<std::size_t>(r.experts), 0);
  std::vector<char> keep(n, 0);
  for (std::int32_t a : order) {
    const auto e = static_cast<std::size_t>(r.expert_ids[static_cast<std::size_t>(a)]);
    if (used[e] < capacity) {
      ++used[e];
      keep[static_cast<std::size_t>(a)] = 1;
    } else {
      ++out.dropped_per_expert[e];
      ++out.dropped;
    }
  }
  routing& k = out.kept;
  k.tokens = r.tokens;
  k.experts = r.experts;
  k.offsets.assign(static_cast<std::size_t>(r.tokens) + 1, 0);
  k.expert_ids.reserve(n - static_cast<std::size_t>(out.dropped));
  k.weights.reserve(k.expert_ids.capacity());
  k.scores.reserve(k.expert_ids.capacity());
  for (int t = 0; t < r.tokens; ++t) {
    const auto b = static_cast<std::size_t>(r.offsets[static_cast<std::size_t>(t)]);
    const auto e = static_cast<std::size_t>(r.offsets[static_cast<std::size_t>(t) + 1]);
    for (std::size_t a = b; a < e; ++a) {
      if (!keep[a]) continue;
      k.expert_ids.push_back(r.expert_ids[a]);
      k.weights.push_back(r.weights[a]);
      k.scores.push_back(r.scores[a]);
    }
    k.offsets[static_cast<std::size_t>(t) + 1] = static_cast<std::int32_t>(k.expert_ids.size());
    if (e > b &&
        k.offsets[static_cast<std::size_t>(t) + 1] == k.offsets[static_cast<std::size_t>(t)]) {
      ++out.tokens_fully_dropped;
    }
  }
  out.drop_rate = n > 0 ? static_cast<double>(out.dropped) / static_cast<double>(n) : 0.0;
  return out;
}

capacity_result apply_capacity_factor(const routing& r, int top_k, double capacity_factor,
                                      drop_policy policy) {
  return apply_capacity(r, expert_capacity(r.tokens, r.experts, top_k, capacity_factor), policy);
}

}  // namespace moesim::models
