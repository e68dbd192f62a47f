#include "models/capacity.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
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

std::vector<std::int32_t> priority_order(const routing& r, drop_policy policy) {
  const auto n = static_cast<std::size_t>(r.assignments());
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
  return order;
}

capacity_result apply_capacities(const routing& r, std::span<const std::int32_t> order,
                                 std::span<const std::int64_t> capacity) {
  const auto n = static_cast<std::size_t>(r.assignments());
  if (capacity.size() != static_cast<std::size_t>(r.experts) || order.size() != n) {
    throw std::invalid_argument("apply_capacities: " + std::to_string(capacity.size()) +
                                " capacities and " + std::to_string(order.size()) +
                                " ordered assignments for " + std::to_string(r.experts) +
                                " experts and " + std::to_string(n) + " assignments");
  }
  capacity_result out;
  out.capacity = 0;
  for (const std::int64_t c : capacity) {
    if (c < 0) {
      throw std::invalid_argument("apply_capacities: capacity must be >= 0, got " +
                                  std::to_string(c));
    }
    out.capacity = std::max(out.capacity, c);
  }
  out.dropped_per_expert.assign(static_cast<std::size_t>(r.experts), 0);
  std::vector<std::int64_t> used(static_cast<std::size_t>(r.experts), 0);
  std::vector<char> keep(n, 0);
  for (std::int32_t a : order) {
    const auto e = static_cast<std::size_t>(r.expert_ids[static_cast<std::size_t>(a)]);
    if (used[e] < capacity[e]) {
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
  const std::vector<std::int64_t> each(static_cast<std::size_t>(r.experts), capacity);
  capacity_result out = apply_capacities(r, priority_order(r, policy), each);
  out.capacity = capacity;
  return out;
}

capacity_result apply_capacity_factor(const routing& r, int top_k, double capacity_factor,
                                      drop_policy policy) {
  return apply_capacity(r, expert_capacity(r.tokens, r.experts, top_k, capacity_factor), policy);
}

double expected_overflow(double mean, double variance, double capacity) {
  if (!std::isfinite(variance) || variance < 0.0) {
    throw std::invalid_argument("expected_overflow: variance must be finite and >= 0, got " +
                                std::to_string(variance));
  }
  const double excess = mean - capacity;
  if (variance == 0.0) return std::max(0.0, excess);
  // E[(Y - c)+] = sigma phi(z) + (mu - c) Phi(-z) with z = (c - mu) / sigma.
  const double sigma = std::sqrt(variance);
  const double z = -excess / sigma;
  const double pdf = std::exp(-0.5 * z * z) / std::sqrt(2.0 * std::numbers::pi);
  const double upper = 0.5 * std::erfc(z / std::numbers::sqrt2);
  return std::max(0.0, sigma * pdf + excess * upper);
}

std::vector<double> expected_batch_drops(std::span<const std::int64_t> sample_load,
                                         std::int64_t sample_tokens, std::int64_t batch_tokens,
                                         std::int64_t capacity) {
  if (sample_tokens <= 0 || batch_tokens < sample_tokens) {
    throw std::invalid_argument("expected_batch_drops: need 0 < sample tokens <= batch tokens, got " +
                                std::to_string(sample_tokens) + " and " +
                                std::to_string(batch_tokens));
  }
  const auto experts = sample_load.size();
  const double s = static_cast<double>(sample_tokens);
  const double n = static_cast<double>(batch_tokens);
  const double scale = n / s;
  double mean = 0.0;
  for (const std::int64_t l : sample_load) {
    if (l < 0 || l > sample_tokens) {
      throw std::invalid_argument("expected_batch_drops: an expert took " + std::to_string(l) +
                                  " of " + std::to_string(sample_tokens) + " sampled tokens");
    }
    mean += static_cast<double>(l);
  }
  std::vector<double> out(experts, 0.0);
  if (experts == 0) return out;
  mean /= static_cast<double>(experts);
  double spread = 0.0;
  for (const std::int64_t l : sample_load) {
    spread += (static_cast<double>(l) - mean) * (static_cast<double>(l) - mean);
  }
  const double noise = mean * (1.0 - mean / s);
  double w = 1.0;
  if (experts >= 2) {
    spread /= static_cast<double>(experts - 1);
    const double signal = std::max(0.0, spread - noise);
    w = signal + noise > 0.0 ? signal / (signal + noise) : 1.0;
  }
  const double c = static_cast<double>(capacity);
  for (std::size_t e = 0; e < experts; ++e) {
    const double load = mean + w * (static_cast<double>(sample_load[e]) - mean);
    const double q = std::clamp(load / s, 0.0, 1.0);
    out[e] = expected_overflow(scale * load, n * q * (1.0 - q) + scale * scale * w * noise, c);
  }
  return out;
}

}  // namespace moesim::models
