#pragma once
// The token source's parameters (models/token_source.hpp), apart from the generator so that
// configuration headers read them without parsing Eigen.
namespace moesim::models {

inline constexpr double default_token_skew = 0.15;

struct token_source_config {
  int hidden = 0;
  int topics = 64;
  double zipf_exponent = 1.0;
  double skew = default_token_skew;
  double sequence_correlation = 0.5;  ///< rho of the AR(1) per-token part, in [0, 1)
};

}  // namespace moesim::models
