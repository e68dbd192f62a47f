#include "models/experts.hpp"

#include <catch2/catch.hpp>
#include <vector>

#include "models/capacity.hpp"
#include "models/router.hpp"
#include "models/token_source.hpp"

using namespace moesim::models;
using moesim::rng;

namespace {

/// max over tokens of ||y_t - ref_t|| / ||ref_t||.
double max_relative_error(const row_matrix& y, const row_matrix_d& ref) {
  double worst = 0;
  for (Eigen::Index t = 0; t < y.rows(); ++t) {
    const double n = ref.row(t).norm();
    if (n == 0) {
      worst = std::max(worst, y.row(t).cast<double>().norm());
      continue;
    }
    worst = std::max(worst, (y.row(t).cast<double>() - ref.row(t)).norm() / n);
  }
  return worst;
}

}  // namespace

TEST_CASE("dispatch/combine equals the dense masked reference", "[models][experts]") {
  const ffn_activation acts[] = {ffn_activation::swiglu, ffn_activation::geglu,
                                 ffn_activation::gelu, ffn_activation::relu};
  for (ffn_activation act : acts) {
    for (int shared : {0, 1}) {
      INFO(to_string(act) << " shared " << shared);
      rng gen(20 + shared);
      const moe_weights w = make_moe_weights(64, 16, 96, shared, act, gen);
      token_source_config sc;
      sc.hidden = 64;
      const row_matrix x = token_source(sc, 3).generate(40, 4, gen);
      router_config cfg;
      cfg.experts = 16;
      cfg.top_k = 4;
      cfg.scoring = router_scoring::sigmoid;
      cfg.routed_scaling_factor = 2.5f;
      const routing r = route(x, w.gate, cfg).decisions;
      const row_matrix y = moe_forward(x, r, w);
      const row_matrix_d ref = moe_forward_reference(x, r, w);
      CHECK(max_relative_error(y, ref) < 1e-5);
      CHECK(moe_forward_flops(r, w) ==
            Approx(2.0 * (is_gated(act) ? 3 : 2) * 64 * 96 * (160 * 4 + 160 * shared)));
    }
  }
}

TEST_CASE("dropped tokens get no expert output, capacity-thinned routing still matches",
          "[models][experts]") {
  rng gen(30);
  const moe_weights w = make_moe_weights(32, 8, 48, 0, ffn_activation::swiglu, gen);
  const row_matrix x = row_matrix::Random(64, 32);
  router_config cfg;
  cfg.experts = 8;
  cfg.top_k = 2;
  const routing r = route(x, w.gate, cfg).decisions;
  const capacity_result c = apply_capacity_factor(r, 2, 0.5, drop_policy::lowest_score);
  REQUIRE(c.dropped > 0);
  const row_matrix y = moe_forward(x, c.kept, w);
  CHECK(max_relative_error(y, moe_forward_reference(x, c.kept, w)) < 1e-5);
  for (int t = 0; t < 64; ++t) {
    if (c.kept.count(t) == 0) CHECK(y.row(t).norm() == 0.0f);
  }
  const dispatch_plan p = make_dispatch_plan(c.kept);
  const auto load = expert_load(c.kept);
  for (int e = 0; e < 8; ++e) {
    CHECK(p.expert_offsets[static_cast<std::size_t>(e) + 1] -
              p.expert_offsets[static_cast<std::size_t>(e)] ==
          load[static_cast<std::size_t>(e)]);
    CHECK(load[static_cast<std::size_t>(e)] <= c.capacity);
  }
  CHECK_THROWS_WITH(moe_forward(row_matrix::Random(63, 32), c.kept, w),
                    Catch::Contains("63 token rows, routing of 64 tokens"));
}

TEST_CASE("math_ffn_hidden scales the expert width with the hidden size", "[models][experts]") {
  model_spec s;
  s.name = "x";
  s.hidden = 7168;
  s.moe = moe_spec{};
  s.moe->expert_ffn_hidden = 2048;
  CHECK(math_ffn_hidden(s, 7168) == 2048);
  CHECK(math_ffn_hidden(s, 512) == 146);
  CHECK(math_ffn_hidden(s, 1) == 1);
  CHECK_THROWS(math_ffn_hidden(s, 0));
}
