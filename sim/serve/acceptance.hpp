#pragma once
// Which drafted tokens the target accepts: per sequence and verification step, position i is
// accepted with its conditional rate given that positions 0..i-1 were (sim/serve/
// speculative_spec.hpp says why the conditional reading, and converts the marginal one); the
// first rejection ends the chain, so `accepted` is the length of the accepted prefix and the
// step emits accepted + 1 tokens (the target's own token at the first rejected position, or
// after the last draft when all were accepted: the "bonus" token).
//
// Some sequences are easier to draft than others (Spec-Bench, Xia et al. 2024,
// arXiv:2401.07851, reports each drafter's mean accepted tokens per task: multi-turn
// conversation, translation, summarisation, QA, maths, RAG, and they differ by task). Here a
// sequence's ease follows its topic: each request draws a topic from the token source's Zipf
// popularity (models/token_source.hpp, the same topics and exponent the routing's tokens use), each
// topic t has an ease e_t in [-1, 1] whose popularity-weighted mean is 0, and position i of a
// sequence of topic t is accepted with
//     p_i(t) = c_i + topic_spread * e_t * min(c_i, 1 - c_i),
// so p_i(t) stays in [0, 1] and the mean of p_i(t) over the topic popularity is c_i exactly:
// the scenario's vector is the population's conditional rate, topic_spread (0 to 1) only says
// how unevenly it is spread over sequences. A request's topic is a pure function of (seed,
// request id); its draws at step n of (seed, request id, n): deterministic whatever the batch.
#include <cstdint>
#include <span>
#include <vector>

#include "sim/serve/speculative_spec.hpp"

namespace moesim::serve {

class acceptance_model {
 public:
  /// `conditional`: c_0..c_{k-1} (conditional_acceptance()), each in [0, 1];
  /// `topic_spread` in [0, 1]. Throws std::invalid_argument otherwise. O(k + topics).
  acceptance_model(std::vector<double> conditional, double topic_spread, std::uint64_t seed);

  /// The topic of `request` (Zipf over the token source's topics). O(log topics).
  [[nodiscard]] int topic_of(std::uint64_t request) const;
  /// p_i(t) above, for position i < k.
  [[nodiscard]] double rate(int topic, int position) const;
  /// Topic t's ease e_t in [-1, 1].
  [[nodiscard]] double ease(int topic) const { return ease_.at(static_cast<std::size_t>(topic)); }
  [[nodiscard]] int topics() const noexcept { return static_cast<int>(ease_.size()); }
  /// Topic popularity (the Zipf probabilities), index = topic.
  [[nodiscard]] std::span<const double> popularity() const noexcept { return popularity_; }

  /// Drafts accepted (0..drafts) when `request` verifies `drafts` <= k tokens at its
  /// verification step `step` (0, 1, ... over the request's life). O(drafts).
  [[nodiscard]] int accepted(std::uint64_t request, std::int64_t step, int drafts) const;

  /// Expected accepted drafts of a chain of `drafts` tokens over the topic popularity:
  /// sum over t of popularity(t) * sum_{j<drafts} prod_{i<=j} p_i(t). O(topics * drafts).
  [[nodiscard]] double expected_accepted(int drafts) const;

  [[nodiscard]] int k() const noexcept { return static_cast<int>(conditional_.size()); }

 private:
  std::vector<double> conditional_;
  double spread_;
  std::uint64_t seed_;
  std::vector<double> popularity_;
  std::vector<double> cdf_;
  std::vector<double> ease_;
};

}  // namespace moesim::serve
