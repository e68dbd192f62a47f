#include "models/router.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "models/routing_stats.hpp"
#include "models/token_source.hpp"
#include "tests/models/specs.hpp"

using namespace moesim::models;
using moesim::rng;
using moesim::test_specs::deepseek_router;

namespace {

router_config plain(int experts, int k, router_scoring scoring) {
  router_config c;
  c.experts = experts;
  c.top_k = k;
  c.scoring = scoring;
  return c;
}

row_matrix random_logits(int tokens, int experts, std::uint64_t seed) {
  rng gen(seed);
  row_matrix l(tokens, experts);
  for (Eigen::Index i = 0; i < l.size(); ++i) l.data()[i] = static_cast<float>(gen.normal());
  return l;
}

/// Reference selection by a full stable sort of (value desc, id asc) over eligible experts.
std::vector<int> reference_top_k(const std::vector<float>& v, int k, const std::vector<bool>& ok) {
  std::vector<int> ids;
  for (int e = 0; e < static_cast<int>(v.size()); ++e) {
    if (ok[static_cast<std::size_t>(e)]) ids.push_back(e);
  }
  std::stable_sort(ids.begin(), ids.end(), [&](int a, int b) {
    return v[static_cast<std::size_t>(a)] > v[static_cast<std::size_t>(b)];
  });
  ids.resize(static_cast<std::size_t>(k));
  return ids;
}

}  // namespace

TEST_CASE("top-k equals a full sort, softmax weights renormalised", "[models][router]") {
  const router_config cfg = plain(64, 6, router_scoring::softmax);
  row_matrix logits = random_logits(300, 64, 1);
  logits(0, 5) = logits(0, 9) = 10.0f;  // a tie: the lower id comes first
  const router_output out = route_logits(logits, cfg);
  REQUIRE_NOTHROW(validate(out.decisions));
  for (int t = 0; t < 300; ++t) {
    std::vector<float> p(64);
    for (int e = 0; e < 64; ++e) p[static_cast<std::size_t>(e)] = out.scores(t, e);
    const auto ref = reference_top_k(p, 6, std::vector<bool>(64, true));
    const auto got = out.decisions.experts_of(t);
    REQUIRE(std::vector<int>(got.begin(), got.end()) == ref);
    float sum = 0;
    for (int j = 0; j < 6; ++j) sum += out.decisions.weights[static_cast<std::size_t>(t * 6 + j)];
    CHECK(sum == Approx(1.0f).epsilon(1e-5));
    CHECK(out.scores.row(t).sum() == Approx(1.0f).epsilon(1e-5));
  }
  CHECK(out.decisions.expert_ids[0] == 5);
  CHECK(out.decisions.expert_ids[1] == 9);
}

TEST_CASE("top-2 and short rows take their own scans, with the same choices as a full sort",
          "[models][router]") {
  // Top-2 (Mixtral, GShard) and rows of at most 16 experts do not go through the bounded
  // scan; ties, equal maxima and a tie for second place keep the lower id.
  for (const auto& [experts, k] : {std::pair{8, 2}, std::pair{2, 2}, std::pair{64, 2},
                                   std::pair{16, 3}, std::pair{8, 1}, std::pair{12, 12}}) {
    const router_config cfg = plain(experts, k, router_scoring::softmax);
    row_matrix logits = random_logits(200, experts, 7 + static_cast<std::uint64_t>(experts));
    for (int e = 0; e < experts; ++e) logits(0, e) = 1.0f;  // all tied
    logits(1, experts - 1) = logits(1, 0) = 9.0f;           // first and last tied
    if (experts > 2) logits(2, 1) = 9.0f, logits(2, 2) = logits(2, experts - 1) = 8.0f;
    const router_output out = route_logits(logits, cfg);
    for (int t = 0; t < 200; ++t) {
      std::vector<float> p(static_cast<std::size_t>(experts));
      for (int e = 0; e < experts; ++e) p[static_cast<std::size_t>(e)] = out.scores(t, e);
      const auto ref =
          reference_top_k(p, k, std::vector<bool>(static_cast<std::size_t>(experts), true));
      const auto got = out.decisions.experts_of(t);
      INFO("experts " << experts << " k " << k << " token " << t);
      REQUIRE(std::vector<int>(got.begin(), got.end()) == ref);
    }
  }
}

TEST_CASE("DeepSeek-V3 routing: groups, bias for selection only, scaled weights",
          "[models][router]") {
  const router_config cfg = deepseek_router();
  const row_matrix logits = random_logits(200, 256, 2);
  std::vector<float> bias(256);
  rng gen(3);
  for (float& b : bias) b = static_cast<float>(gen.normal() * 0.3);
  const router_output out = route_logits(logits, cfg, {bias, 1});
  for (int t = 0; t < 200; ++t) {
    std::vector<float> choice(256);
    for (int e = 0; e < 256; ++e) {
      CHECK(out.scores(t, e) == Approx(1.0 / (1.0 + std::exp(-logits(t, e)))).epsilon(1e-6));
      choice[static_cast<std::size_t>(e)] = out.scores(t, e) + bias[static_cast<std::size_t>(e)];
    }
    // Reference group selection: sum of the two best choice values per group of 32.
    std::vector<float> group_score(8);
    for (int g = 0; g < 8; ++g) {
      std::vector<float> members(choice.begin() + g * 32, choice.begin() + (g + 1) * 32);
      std::partial_sort(members.begin(), members.begin() + 2, members.end(), std::greater<>());
      group_score[static_cast<std::size_t>(g)] = members[0] + members[1];
    }
    const auto groups = reference_top_k(group_score, 4, std::vector<bool>(8, true));
    std::vector<bool> ok(256, false);
    for (int g : groups) {
      for (int e = g * 32; e < (g + 1) * 32; ++e) ok[static_cast<std::size_t>(e)] = true;
    }
    const auto ref = reference_top_k(choice, 8, ok);
    const auto got = out.decisions.experts_of(t);
    REQUIRE(std::vector<int>(got.begin(), got.end()) == ref);
    std::set<int> touched_groups;
    double score_sum = 0;
    for (int e : ref) {
      touched_groups.insert(e / 32);
      score_sum += out.scores(t, e);
    }
    CHECK(touched_groups.size() <= 4);
    for (int j = 0; j < 8; ++j) {
      const auto a = static_cast<std::size_t>(t * 8 + j);
      CHECK(out.decisions.scores[a] == out.scores(t, ref[static_cast<std::size_t>(j)]));
      CHECK(out.decisions.weights[a] ==
            Approx(2.5 * out.decisions.scores[a] / score_sum).epsilon(1e-5));
    }
  }
}

TEST_CASE("route() equals gate GEMM + route_logits, whatever the thread count",
          "[models][router]") {
  rng gen(4);
  const row_matrix gate = make_gate_weights(96, 256, gen);
  token_source_config sc;
  sc.hidden = 96;
  const token_source src(sc, 5);
  const row_matrix x = src.generate(2500, 1, gen);  // > 2 chunks of route_chunk_tokens
  const router_config cfg = deepseek_router();
  const router_output one = route(x, gate, cfg, {{}, 1});
  const router_output two = route(x, gate, cfg, {{}, 2});
  const router_output three = route(x, gate, cfg, {{}, 3});
  CHECK(one.decisions.expert_ids == two.decisions.expert_ids);
  CHECK(one.decisions.weights == two.decisions.weights);
  CHECK(one.decisions.expert_ids == three.decisions.expert_ids);
  CHECK(one.scores == two.scores);
  const router_output via_logits = route_logits(gate_logits(x, gate), cfg);
  std::size_t same = 0;
  for (std::size_t i = 0; i < one.decisions.expert_ids.size(); ++i) {
    same += one.decisions.expert_ids[i] == via_logits.decisions.expert_ids[i];
  }
  // Chunked and whole GEMMs may round differently in the last bit; decisions agree.
  CHECK(static_cast<double>(same) / static_cast<double>(one.decisions.expert_ids.size()) > 0.999);
  CHECK_THROWS_WITH(route(x, make_gate_weights(95, 256, gen), cfg),
                    Catch::Contains("hidden states are 2500 x 96, gate 95 x 256"));
}

TEST_CASE("router config validation", "[models][router]") {
  router_config c = plain(8, 9, router_scoring::softmax);
  CHECK_THROWS_WITH(validate(c), Catch::Contains("top_k 9 must be in [1, experts 8]"));
  c = deepseek_router();
  c.n_groups = 3;
  CHECK_THROWS_WITH(validate(c), Catch::Contains("n_groups 3 must divide experts 256"));
  c = deepseek_router();
  std::vector<float> bias(10);
  CHECK_THROWS_WITH(route_logits(random_logits(2, 256, 1), c, {bias, 1}),
                    Catch::Contains("selection_bias has 10 values for 256 experts"));
}

TEST_CASE("bias balancing: update rule and convergence towards balance", "[models][router]") {
  std::vector<float> bias{0.0f, 0.0f, 0.0f, 0.0f};
  const std::vector<std::int64_t> load{10, 30, 20, 20};
  update_balance_bias(bias, load, 0.5f);
  CHECK(bias == std::vector<float>{0.5f, -0.5f, 0.0f, 0.0f});

  // A skewed stream routed repeatedly: the bias lowers max/mean load.
  rng gen(6);
  token_source_config sc;
  sc.hidden = 64;
  sc.skew = 2.0;
  const token_source src(sc, 7);
  const row_matrix gate = make_gate_weights(64, 64, gen);
  const router_config cfg = plain(64, 4, router_scoring::sigmoid);
  std::vector<float> b(64, 0.0f);
  const row_matrix first = src.generate(2048, 1, gen);
  const double before = compute_stats(route(first, gate, cfg).decisions).load_max_over_mean;
  for (int step = 0; step < 60; ++step) {
    const row_matrix x = src.generate(2048, 1, gen);
    const router_output out = route(x, gate, cfg, {b, 1});
    update_balance_bias(b, expert_load(out.decisions), 0.01f);
  }
  const row_matrix x = src.generate(2048, 1, gen);
  const double after = compute_stats(route(x, gate, cfg, {b, 1}).decisions).load_max_over_mean;
  INFO("max/mean before " << before << " after " << after);
  CHECK(after < before);
  CHECK(after < 1.0 + 0.5 * (before - 1.0));
}

TEST_CASE("noisy top-k: noise scaled by softplus of the noise gate", "[models][router]") {
  rng gen(8);
  const row_matrix gate = make_gate_weights(32, 16, gen);
  const row_matrix x = random_logits(100, 32, 9);
  const router_config cfg = plain(16, 2, router_scoring::softmax);
  const router_output plain_out = route(x, gate, cfg);
  // Zero noise gate: softplus(0) = log 2 > 0, so noise changes some decisions.
  rng noise_gen(10);
  const router_output noisy = route_noisy(x, gate, row_matrix::Zero(32, 16), cfg, noise_gen);
  CHECK(noisy.decisions.expert_ids != plain_out.decisions.expert_ids);
  // A noise gate driving softplus to ~0 (a constant input column times -100): no noise.
  row_matrix x_aug(100, 33);
  x_aug << x, row_matrix::Constant(100, 1, 1.0f);
  row_matrix gate_aug(33, 16);
  gate_aug << gate, row_matrix::Zero(1, 16);
  row_matrix noise_aug = row_matrix::Zero(33, 16);
  noise_aug.row(32).setConstant(-100.0f);
  rng noise_gen2(11);
  const router_output silent = route_noisy(x_aug, gate_aug, noise_aug, cfg, noise_gen2);
  CHECK(silent.decisions.expert_ids == route(x_aug, gate_aug, cfg).decisions.expert_ids);
}

TEST_CASE("expert-choice routing fills every expert to capacity", "[models][router]") {
  const row_matrix logits = random_logits(64, 8, 12);
  const routing r = route_expert_choice(logits, 2.0);
  REQUIRE_NOTHROW(validate(r));
  const auto load = expert_load(r);
  for (auto l : load) CHECK(l == 16);  // ceil(64 * 2 / 8)
  CHECK(r.assignments() == 128);
  // Each expert's chosen tokens are its 16 best by softmax probability.
  for (int e = 0; e < 8; ++e) {
    std::vector<std::pair<float, int>> col;
    for (int t = 0; t < 64; ++t) {
      const float m = logits.row(t).maxCoeff();
      const float z = (logits.row(t).array() - m).exp().sum();
      col.emplace_back(std::exp(logits(t, e) - m) / z, t);
    }
    std::sort(col.begin(), col.end(), [](auto a, auto b) { return a.first > b.first; });
    for (int j = 0; j < 16; ++j) {
      const auto ids = r.experts_of(col[static_cast<std::size_t>(j)].second);
      CHECK(std::find(ids.begin(), ids.end(), e) != ids.end());
    }
  }
  CHECK_THROWS(route_expert_choice(logits, 0.0));
}

TEST_CASE("hash routing is a fixed function of the token id", "[models][router]") {
  std::vector<std::uint32_t> ids(1000);
  std::iota(ids.begin(), ids.end(), 0u);
  ids[500] = 7;
  const routing r = route_hash(ids, 16, 2, 42);
  REQUIRE_NOTHROW(validate(r));
  CHECK(r.experts_of(500)[0] == r.experts_of(7)[0]);
  CHECK(r.experts_of(500)[1] == r.experts_of(7)[1]);
  const auto load = expert_load(r);
  for (auto l : load) CHECK(std::abs(static_cast<double>(l) - 125.0) < 5 * std::sqrt(125.0));
  CHECK(route_hash(ids, 16, 2, 43).expert_ids != r.expert_ids);
}

TEST_CASE("batch statistics and losses", "[models][router][stats]") {
  // Uniform probabilities, perfectly balanced routing: Switch loss 1, CV^2 0.
  const router_config cfg = plain(4, 1, router_scoring::softmax);
  row_matrix logits = row_matrix::Zero(8, 4);
  for (int t = 0; t < 8; ++t) logits(t, t % 4) = 1e-6f;
  const router_output out = route_logits(logits, cfg);
  const routing_stats s = compute_stats(out);
  CHECK(s.unique_experts == 4);
  CHECK(s.load_max_over_mean == Approx(1.0));
  CHECK(s.load_cv2 == Approx(0.0).margin(1e-12));
  CHECK(s.switch_aux_loss == Approx(1.0).epsilon(1e-5));
  CHECK(s.z_loss == Approx(std::log(4.0) * std::log(4.0)).epsilon(1e-5));
  // All tokens on one expert with probability ~1: loss -> E.
  row_matrix peaked = row_matrix::Constant(8, 4, -30.0f);
  peaked.col(2).setConstant(30.0f);
  const routing_stats p = compute_stats(route_logits(peaked, cfg));
  CHECK(p.switch_aux_loss == Approx(4.0).epsilon(1e-4));
  CHECK(p.load_max_over_mean == Approx(4.0));
  CHECK(p.load_cv2 == Approx(3.0));
  CHECK(p.unique_experts == 1);
  CHECK(group_load(p.expert_load, 2) == std::vector<std::int64_t>{0, 8});
  CHECK(std::isnan(compute_stats(out.decisions).z_loss));
}

TEST_CASE("uniform routing reproduces E(1-(1-k/E)^T)", "[models][router][stats]") {
  CHECK(expected_unique_experts(256, 8, 4) == Approx(30.5).margin(0.05));
  CHECK(expected_unique_experts(256, 8, 16) == Approx(102.0).margin(0.1));
  CHECK(expected_unique_experts(8, 2, 4) == Approx(5.5).margin(0.05));
  struct row {
    router_config cfg;
    int tokens;
    double expected;
  };
  const row rows[] = {{deepseek_router(), 4, 30.5},
                      {deepseek_router(), 16, 102.0},
                      {plain(8, 2, router_scoring::softmax), 4, 5.5}};
  rng gen(13);
  for (const auto& r : rows) {
    const int draws = 2000;
    double sum = 0;
    double sum2 = 0;
    for (int d = 0; d < draws; ++d) {
      const row_matrix logits = uniform_logits(r.tokens, r.cfg.experts, gen);
      const double u = unique_experts(route_logits(logits, r.cfg).decisions);
      sum += u;
      sum2 += u * u;
    }
    const double mean = sum / draws;
    const double se = std::sqrt((sum2 / draws - mean * mean) / draws);
    INFO("E " << r.cfg.experts << " T " << r.tokens << ": mean " << mean << " +- " << se);
    CHECK(std::abs(mean - r.expected) < 4 * se + 0.05);
  }
}
