#include "models/routing.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace moesim::models {

routing make_fixed_k_routing(int tokens, int experts, int k) {
  if (tokens < 0 || experts <= 0 || k < 0) {
    throw std::invalid_argument("routing: need tokens >= 0, experts > 0, k >= 0; got tokens " +
                                std::to_string(tokens) + ", experts " + std::to_string(experts) +
                                ", k " + std::to_string(k));
  }
  routing r;
  r.tokens = tokens;
  r.experts = experts;
  const auto n = static_cast<std::size_t>(tokens) * static_cast<std::size_t>(k);
  r.offsets.resize(static_cast<std::size_t>(tokens) + 1);
  for (std::size_t t = 0; t < r.offsets.size(); ++t) {
    r.offsets[t] = static_cast<std::int32_t>(t * static_cast<std::size_t>(k));
  }
  r.expert_ids.assign(n, 0);
  r.weights.assign(n, 0.0f);
  r.scores.assign(n, 0.0f);
  return r;
}

void validate(const routing& r) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("routing: " + what); };
  if (r.tokens < 0 || r.experts <= 0) {
    fail("tokens " + std::to_string(r.tokens) + " must be >= 0 and experts " +
         std::to_string(r.experts) + " > 0");
  }
  if (r.offsets.size() != static_cast<std::size_t>(r.tokens) + 1 || r.offsets.front() != 0) {
    fail("offsets must have tokens + 1 = " + std::to_string(r.tokens + 1) +
         " entries starting at 0, got " + std::to_string(r.offsets.size()));
  }
  if (static_cast<std::size_t>(r.offsets.back()) != r.expert_ids.size() ||
      r.weights.size() != r.expert_ids.size() || r.scores.size() != r.expert_ids.size()) {
    fail("offsets end at " + std::to_string(r.offsets.back()) + " but there are " +
         std::to_string(r.expert_ids.size()) + " expert ids, " + std::to_string(r.weights.size()) +
         " weights and " + std::to_string(r.scores.size()) + " scores");
  }
  std::vector<int> seen(static_cast<std::size_t>(r.experts), -1);
  for (int t = 0; t < r.tokens; ++t) {
    if (r.offsets[static_cast<std::size_t>(t) + 1] < r.offsets[static_cast<std::size_t>(t)]) {
      fail("offsets decrease at token " + std::to_string(t));
    }
    for (expert_index e : r.experts_of(t)) {
      if (e < 0 || e >= r.experts) {
        fail("token " + std::to_string(t) + ": expert id " + std::to_string(e) + " outside [0, " +
             std::to_string(r.experts) + ")");
      }
      if (seen[static_cast<std::size_t>(e)] == t) {
        fail("token " + std::to_string(t) + ": expert id " + std::to_string(e) + " repeated");
      }
      seen[static_cast<std::size_t>(e)] = t;
    }
  }
}

std::vector<std::int64_t> expert_load(const routing& r) {
  std::vector<std::int64_t> load(static_cast<std::size_t>(r.experts), 0);
  for (expert_index e : r.expert_ids) ++load[static_cast<std::size_t>(e)];
  return load;
}

int unique_experts(const routing& r) {
  const std::vector<std::int64_t> load = expert_load(r);
  return static_cast<int>(std::count_if(load.begin(), load.end(), [](auto c) { return c > 0; }));
}

routing slice_tokens(const routing& r, int first, int count) {
  if (first < 0 || count < 0 || first + count > r.tokens) {
    throw std::invalid_argument("routing: slice [" + std::to_string(first) + ", " +
                                std::to_string(first + count) + ") outside " +
                                std::to_string(r.tokens) + " tokens");
  }
  routing s;
  s.tokens = count;
  s.experts = r.experts;
  const auto b = static_cast<std::size_t>(r.offsets[static_cast<std::size_t>(first)]);
  const auto e = static_cast<std::size_t>(r.offsets[static_cast<std::size_t>(first + count)]);
  s.offsets.resize(static_cast<std::size_t>(count) + 1);
  for (int t = 0; t <= count; ++t) {
    s.offsets[static_cast<std::size_t>(t)] =
        r.offsets[static_cast<std::size_t>(first + t)] - static_cast<std::int32_t>(b);
  }
  s.expert_ids.assign(r.expert_ids.begin() + static_cast<std::ptrdiff_t>(b),
                      r.expert_ids.begin() + static_cast<std::ptrdiff_t>(e));
  s.weights.assign(r.weights.begin() + static_cast<std::ptrdiff_t>(b),
                   r.weights.begin() + static_cast<std::ptrdiff_t>(e));
  s.scores.assign(r.scores.begin() + static_cast<std::ptrdiff_t>(b),
                  r.scores.begin() + static_cast<std::ptrdiff_t>(e));
  return s;
}

}  // namespace moesim::models
