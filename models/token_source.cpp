#include "models/token_source.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace moesim::models {

token_source::token_source(const token_source_config& cfg, std::uint64_t seed) : cfg_(cfg) {
  if (cfg.hidden <= 0 || cfg.topics <= 0) {
    throw std::invalid_argument("token source: hidden " + std::to_string(cfg.hidden) +
                                " and topics " + std::to_string(cfg.topics) + " must be > 0");
  }
  if (!(cfg.zipf_exponent >= 0.0) || !(cfg.skew >= 0.0)) {
    throw std::invalid_argument("token source: zipf_exponent " + std::to_string(cfg.zipf_exponent) +
                                " and skew " + std::to_string(cfg.skew) + " must be >= 0");
  }
  if (!(cfg.sequence_correlation >= 0.0 && cfg.sequence_correlation < 1.0)) {
    throw std::invalid_argument("token source: sequence_correlation must be in [0, 1), got " +
                                std::to_string(cfg.sequence_correlation));
  }
  rng gen = rng::stream(seed, "token_source.topics");
  topics_.resize(cfg.topics, cfg.hidden);
  for (Eigen::Index i = 0; i < topics_.size(); ++i)
    topics_.data()[i] = static_cast<float>(gen.normal());
  topic_cdf_ = topic_cdf(cfg);
}

std::vector<double> topic_cdf(const token_source_config& cfg) {
  std::vector<double> cdf(static_cast<std::size_t>(std::max(cfg.topics, 0)));
  double sum = 0.0;
  for (int r = 0; r < cfg.topics; ++r) {
    sum += std::pow(static_cast<double>(r + 1), -cfg.zipf_exponent);
    cdf[static_cast<std::size_t>(r)] = sum;
  }
  for (double& c : cdf) c /= sum;
  return cdf;
}

int draw_topic(std::span<const double> cdf, rng& gen) {
  const double u = gen.uniform01();
  const auto it = std::upper_bound(cdf.begin(), cdf.end(), u);
  return static_cast<int>(
      std::min<std::ptrdiff_t>(it - cdf.begin(), static_cast<std::ptrdiff_t>(cdf.size()) - 1));
}

int token_source::draw_topic(rng& gen) const {
  return models::draw_topic(topic_cdf_, gen);
}

row_matrix token_source::generate(int sequences, int tokens_per_sequence, rng& gen) const {
  if (sequences < 0 || tokens_per_sequence < 0) {
    throw std::invalid_argument("token source: sequences " + std::to_string(sequences) +
                                " and tokens_per_sequence " + std::to_string(tokens_per_sequence) +
                                " must be >= 0");
  }
  const int h = cfg_.hidden;
  row_matrix x(static_cast<Eigen::Index>(sequences) * tokens_per_sequence, h);
  const double rho = cfg_.sequence_correlation;
  const double innovation = std::sqrt(1.0 - rho * rho);
  const double norm = 1.0 / std::sqrt(1.0 + cfg_.skew * cfg_.skew);
  std::vector<double> e(static_cast<std::size_t>(h));
  for (int s = 0; s < sequences; ++s) {
    const int topic = draw_topic(gen);
    const float* u = topics_.row(topic).data();
    for (int i = 0; i < tokens_per_sequence; ++i) {
      float* row = x.row(static_cast<Eigen::Index>(s) * tokens_per_sequence + i).data();
      for (int j = 0; j < h; ++j) {
        auto& ej = e[static_cast<std::size_t>(j)];
        ej = i == 0 ? gen.normal() : rho * ej + innovation * gen.normal();
        row[j] = static_cast<float>((cfg_.skew * u[j] + ej) * norm);
      }
    }
  }
  return x;
}

row_matrix uniform_logits(int tokens, int experts, rng& gen) {
  if (tokens < 0 || experts <= 0) {
    throw std::invalid_argument("uniform_logits: tokens " + std::to_string(tokens) +
                                " must be >= 0 and experts " + std::to_string(experts) + " > 0");
  }
  row_matrix s(tokens, experts);
  for (Eigen::Index i = 0; i < s.size(); ++i) {
    s.data()[i] = static_cast<float>(std::abs(gen.normal()) + 1.0);
  }
  return s;
}

}  // namespace moesim::models
