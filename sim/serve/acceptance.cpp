#include "sim/serve/acceptance.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "models/token_source.hpp"
#include "sim/engine/random.hpp"

namespace moesim::serve {

std::vector<double> conditional_acceptance(const speculative_spec& spec) {
  const std::vector<double>& a = spec.acceptance;
  if (a.empty()) throw std::invalid_argument("speculative: the acceptance vector is empty");
  if (a.size() > spec.k) {
    // A grid's draft lengths share one vector: it may not be longer than the longest.
    throw std::invalid_argument(fmt::format(
        "speculative: {} acceptance entries for chains of k = {} drafts", a.size(), spec.k));
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] >= 0 && a[i] <= 1)) {
      throw std::invalid_argument(
          fmt::format("speculative: acceptance[{}] = {} is outside [0, 1]", i, a[i]));
    }
  }
  std::vector<double> c(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (spec.reading == acceptance_reading::conditional || i == 0) {
      c[i] = a[i];
      continue;
    }
    if (a[i] > a[i - 1]) {
      throw std::invalid_argument(fmt::format(
          "speculative: marginal acceptance[{}] = {} is above acceptance[{}] = {}: a position is "
          "reached only when the one before it was accepted",
          i, a[i], i - 1, a[i - 1]));
    }
    c[i] = a[i - 1] > 0 ? a[i] / a[i - 1] : 0;
  }
  c.resize(spec.k, c.back());
  return c;
}

const char* to_string(drafter_kind k) noexcept {
  switch (k) {
    case drafter_kind::draft_model:
      return "draft_model";
    case drafter_kind::mtp:
      return "mtp";
    case drafter_kind::eagle:
      return "eagle";
    case drafter_kind::ngram:
      return "ngram";
  }
  return "?";
}

const char* to_string(speculation_policy p) noexcept {
  switch (p) {
    case speculation_policy::none:
      return "none";
    case speculation_policy::naive:
      return "naive";
    case speculation_policy::grouped:
      return "grouped";
    case speculation_policy::deferral:
      return "deferral";
    case speculation_policy::blockwise:
      return "blockwise";
    case speculation_policy::divided:
      return "divided";
    case speculation_policy::prefetch:
      return "prefetch";
  }
  return "?";
}

const char* to_string(prefetch_source p) noexcept {
  return p == prefetch_source::draft ? "draft" : "prompt";
}

acceptance_model::acceptance_model(std::vector<double> conditional, double topic_spread,
                                   std::uint64_t seed)
    : conditional_(std::move(conditional)), spread_(topic_spread), seed_(seed) {
  if (conditional_.empty()) throw std::invalid_argument("acceptance: no positions");
  for (const double c : conditional_) {
    if (!(c >= 0 && c <= 1)) {
      throw std::invalid_argument(fmt::format("acceptance: rate {} outside [0, 1]", c));
    }
  }
  if (!(topic_spread >= 0 && topic_spread <= 1)) {
    throw std::invalid_argument(
        fmt::format("acceptance: topic_spread {} outside [0, 1]", topic_spread));
  }
  // The routing's token source's topics and popularity (its defaults are the one definition).
  cdf_ = models::topic_cdf(models::token_source_config{});
  popularity_.resize(cdf_.size());
  for (std::size_t t = 0; t < cdf_.size(); ++t)
    popularity_[t] = cdf_[t] - (t > 0 ? cdf_[t - 1] : 0);
  // Each topic's raw ease, centred on the popularity-weighted mean, scaled into [-1, 1].
  ease_.resize(cdf_.size());
  double mean = 0;
  for (std::size_t t = 0; t < ease_.size(); ++t) {
    rng gen = rng::stream(seed_, "speculative.topic_ease").fork(t);
    ease_[t] = gen.uniform(-1, 1);
    mean += popularity_[t] * ease_[t];
  }
  double most = 0;
  for (double& e : ease_) {
    e -= mean;
    most = std::max(most, std::abs(e));
  }
  if (most > 0) {
    for (double& e : ease_) e /= most;
  }
}

int acceptance_model::topic_of(std::uint64_t request) const {
  rng gen = rng::stream(seed_, "speculative.topic").fork(request);
  return models::draw_topic(cdf_, gen);
}

double acceptance_model::rate(int topic, int position) const {
  const double c = conditional_.at(static_cast<std::size_t>(position));
  return std::clamp(c + spread_ * ease(topic) * std::min(c, 1 - c), 0.0, 1.0);
}

int acceptance_model::accepted(std::uint64_t request, std::int64_t step, int drafts) const {
  if (drafts < 0 || drafts > k()) {
    throw std::invalid_argument(
        fmt::format("acceptance: {} drafts for chains of at most {}", drafts, k()));
  }
  const int topic = topic_of(request);
  rng gen =
      rng::stream(seed_, "speculative.accept").fork(request).fork(static_cast<std::uint64_t>(step));
  int n = 0;
  while (n < drafts && gen.uniform01() < rate(topic, n)) ++n;
  return n;
}

double acceptance_model::expected_accepted(int drafts) const {
  double total = 0;
  for (int t = 0; t < topics(); ++t) {
    double reach = 1;
    double sum = 0;
    for (int j = 0; j < drafts; ++j) {
      reach *= rate(t, j);
      sum += reach;
    }
    total += popularity_[static_cast<std::size_t>(t)] * sum;
  }
  return total;
}

}  // namespace moesim::serve
