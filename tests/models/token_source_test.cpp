#include "models/token_source.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "models/router.hpp"
#include "models/routing_stats.hpp"
#include "tests/models/specs.hpp"

using namespace moesim::models;
using moesim::rng;
using moesim::test_specs::deepseek_router;

namespace {

struct sample_stats {
  double rank_max_over_mean;
  double expert_max_over_mean;
  double unique_experts_16;
};

/// DeepSeek-V3 routing of `tokens` decode tokens (one per sequence) at hidden size `hidden`.
sample_stats deepseek_stats(int hidden, int tokens, double skew, std::uint64_t seed) {
  token_source_config sc;
  sc.hidden = hidden;
  sc.skew = skew;
  const token_source src(sc, seed);
  rng gen = rng::stream(seed, "test.tokens");
  const row_matrix gate = make_gate_weights(hidden, 256, gen);
  const row_matrix x = src.generate(tokens, 1, gen);
  const routing r = route(x, gate, deepseek_router()).decisions;
  const auto load = expert_load(r);
  // Unique experts of 16-token batches (a decode step with drafts), averaged over the slices.
  double unique16 = 0;
  for (int b = 0; b + 16 <= tokens; b += 16) unique16 += unique_experts(slice_tokens(r, b, 16));
  return {max_over_mean(std::span<const std::int64_t>(group_load(load, 16))),
          max_over_mean(std::span<const std::int64_t>(load)), unique16 / (tokens / 16)};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

TEST_CASE("default skew: EP16 rank max/mean a few percent to tens of percent above 1",
          "[models][token_source]") {
  std::vector<double> rank;
  std::vector<double> uniform_rank;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    rank.push_back(deepseek_stats(256, 4096, default_token_skew, seed).rank_max_over_mean);
    uniform_rank.push_back(deepseek_stats(256, 4096, 0.0, seed).rank_max_over_mean);
  }
  const double m = median(rank);
  INFO("median rank max/mean " << m << " (skew 0: " << median(uniform_rank) << ")");
  CHECK(m > 1.03);
  CHECK(m < 1.30);
  CHECK(m > median(uniform_rank));  // the skew adds imbalance beyond sampling noise
}

TEST_CASE("the skew knob orders the imbalance", "[models][token_source]") {
  double previous = 0;
  for (double skew : {0.0, 0.5, 2.0}) {
    const double m = deepseek_stats(128, 2048, skew, 11).expert_max_over_mean;
    INFO("skew " << skew << " expert max/mean " << m);
    CHECK(m > previous);
    previous = m;
  }
}

TEST_CASE("routing statistics at reduced hidden size track the full size",
          "[models][token_source]") {
  // Full DeepSeek-V3 hidden size 7168 vs math_hidden 256, same token count and skew.
  std::vector<double> full_unique, small_unique, full_rank, small_rank;
  for (std::uint64_t seed = 1; seed <= 2; ++seed) {
    const auto full = deepseek_stats(7168, 512, default_token_skew, seed);
    full_unique.push_back(full.unique_experts_16);
    full_rank.push_back(full.rank_max_over_mean);
    for (std::uint64_t s2 = 0; s2 < 3; ++s2) {
      const auto small = deepseek_stats(256, 512, default_token_skew, seed * 10 + s2);
      small_unique.push_back(small.unique_experts_16);
      small_rank.push_back(small.rank_max_over_mean);
    }
  }
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
  };
  INFO("unique experts of 16 tokens: full " << mean(full_unique) << " reduced "
                                            << mean(small_unique));
  INFO("rank max/mean full " << mean(full_rank) << " reduced " << mean(small_rank));
  CHECK(std::abs(mean(small_unique) / mean(full_unique) - 1.0) < 0.03);
  CHECK(std::abs(mean(small_rank) - mean(full_rank)) < 0.08);
}

TEST_CASE("neighbouring tokens of a sequence share experts", "[models][token_source]") {
  auto unique_per_sequence = [](double rho) {
    token_source_config sc;
    sc.hidden = 128;
    sc.sequence_correlation = rho;
    const token_source src(sc, 3);
    rng gen(4);
    const row_matrix gate = make_gate_weights(128, 256, gen);
    const row_matrix x = src.generate(64, 4, gen);  // 64 sequences of 4 (draft) tokens
    const routing r = route(x, gate, deepseek_router()).decisions;
    double sum = 0;
    for (int s = 0; s < 64; ++s) sum += unique_experts(slice_tokens(r, s * 4, 4));
    return sum / 64;
  };
  const double independent = unique_per_sequence(0.0);
  const double correlated = unique_per_sequence(0.9);
  INFO("experts per 4-token sequence: rho 0 " << independent << ", rho 0.9 " << correlated);
  CHECK(correlated < independent - 3.0);
  CHECK(independent <= expected_unique_experts(256, 8, 4) + 0.5);
}

TEST_CASE("token source draws topics by Zipf and rejects bad settings", "[models][token_source]") {
  token_source_config sc;
  sc.hidden = 8;
  sc.topics = 4;
  sc.zipf_exponent = 1.0;
  const token_source src(sc, 1);
  rng gen(2);
  std::vector<int> counts(4, 0);
  for (int i = 0; i < 20000; ++i) ++counts[static_cast<std::size_t>(src.draw_topic(gen))];
  const double h = 1.0 + 0.5 + 1.0 / 3 + 0.25;
  for (int r = 0; r < 4; ++r) {
    CHECK(counts[static_cast<std::size_t>(r)] / 20000.0 == Approx(1.0 / (r + 1) / h).margin(0.015));
  }
  sc.sequence_correlation = 1.0;
  CHECK_THROWS_WITH(token_source(sc, 1), Catch::Contains("sequence_correlation must be in [0, 1)"));
  const row_matrix u = uniform_logits(10, 5, gen);
  CHECK(u.minCoeff() >= 1.0f);
}
