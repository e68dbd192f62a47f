#include "sim/serve/speculation_policies.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "sim/engine/random.hpp"

namespace moesim::serve {

k_controller::k_controller(int k_max, int test_iterations, int set_iterations)
    : k_max_(k_max),
      test_(test_iterations),
      set_(set_iterations),
      tokens_(static_cast<std::size_t>(std::max(k_max, 0)) + 1, 0.0),
      seconds_(tokens_.size(), 0.0) {
  if (k_max < 0 || test_iterations < 1 || set_iterations < 1) {
    throw std::invalid_argument(fmt::format(
        "grouped speculation needs k >= 0 and phases of >= 1 iteration, got k {}, test {}, set {}",
        k_max, test_iterations, set_iterations));
  }
}

void k_controller::observe(std::int64_t tokens, double seconds) {
  if (tokens < 0 || !(seconds > 0)) {
    throw std::invalid_argument(
        fmt::format("grouped speculation: {} tokens in {} s", tokens, seconds));
  }
  const int k = this->k();
  tokens_[static_cast<std::size_t>(k)] += static_cast<double>(tokens);
  seconds_[static_cast<std::size_t>(k)] += seconds;
  ++done_;
  if (!testing_) {
    if (done_ < set_) return;
    // A new test phase: what earlier phases measured counts half as much at each one.
    testing_ = true;
    candidate_ = 0;
    best_ = 0;
    done_ = 0;
    for (double& t : tokens_) t /= 2;
    for (double& t : seconds_) t /= 2;
    return;
  }
  if (done_ < test_) return;
  done_ = 0;
  // Candidates in increasing K; testing stops at the first that does not beat the best so far
  // (K 1 below K 0 is Cascade's utility below one: speculation off).
  if (candidate_ > 0 && utility(candidate_) <= utility(best_)) {
    chosen_ = best_;
    testing_ = false;
    return;
  }
  best_ = candidate_;
  if (candidate_ < k_max_) {
    ++candidate_;
    return;
  }
  chosen_ = best_;
  testing_ = false;
}

double k_controller::utility(int k) const {
  const auto i = static_cast<std::size_t>(k);
  return seconds_[i] > 0 ? tokens_[i] / seconds_[i] : 0;
}

confidence_model::confidence_model(const acceptance_model& acceptance, double threshold,
                                   double concentration, std::uint64_t seed)
    : acceptance_(acceptance), threshold_(threshold), concentration_(concentration), seed_(seed) {
  if (!(threshold >= 0 && threshold <= 1) || !(concentration > 0 && std::isfinite(concentration))) {
    throw std::invalid_argument(
        fmt::format("deferral needs a threshold in [0, 1] and a concentration > 0, got {} and {}",
                    threshold, concentration));
  }
}

double confidence_model::confidence(std::uint64_t request, std::int64_t step, int position) const {
  const double p = acceptance_.rate(acceptance_.topic_of(request), position);
  if (p <= 0 || p >= 1) return p;
  rng gen = rng::stream(seed_, "speculative.confidence")
                .fork(request)
                .fork(static_cast<std::uint64_t>(step))
                .fork(static_cast<std::uint64_t>(position));
  // Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
  const double x = gen.gamma(concentration_ * p);
  const double y = gen.gamma(concentration_ * (1 - p));
  return x + y > 0 ? x / (x + y) : p;
}

deferral_chain confidence_model::chain(std::uint64_t request, std::int64_t step,
                                       int max_drafts) const {
  if (max_drafts < 0 || max_drafts > acceptance_.k()) {
    throw std::invalid_argument(
        fmt::format("deferral: {} drafts for chains of at most {}", max_drafts, acceptance_.k()));
  }
  deferral_chain c;
  rng accept = rng::stream(seed_, "speculative.confidence_accept")
                   .fork(request)
                   .fork(static_cast<std::uint64_t>(step));
  bool accepting = true;
  for (int i = 0; i < max_drafts; ++i) {
    const double conf = confidence(request, step, i);
    ++c.steps;
    if (conf < threshold_) break;
    ++c.drafts;
    // Accepted with probability equal to its confidence, the first rejection ending the prefix.
    accepting = accepting && accept.uniform01() < conf;
    if (accepting) ++c.accepted;
  }
  return c;
}

double block_tally::mean_block() const {
  double n = 0;
  double sum = 0;
  for (std::size_t s = 0; s < counts_.size(); ++s) {
    n += static_cast<double>(counts_[s]);
    sum += static_cast<double>(counts_[s]) * static_cast<double>(s + 1);
  }
  return n > 0 ? sum / n : 0;
}

}  // namespace moesim::serve
