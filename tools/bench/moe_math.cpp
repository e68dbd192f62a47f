// Benchmarks of the MoE maths (issue 4): `moesim bench moe_math` and `moesim bench router`.
// Wall time by std::chrono::steady_clock; inputs (weights, hidden states) are made before the
// clock starts.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iomanip>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "models/eigen_setup.hpp"
#include "models/experts.hpp"
#include "models/router.hpp"
#include "models/token_source.hpp"
#include "tools/bench/bench.hpp"

namespace moesim::bench {
namespace {

struct moe_case {
  const char* name;
  int tokens;
  int hidden;
  int experts;
  int top_k;
  int ffn;
  int shared;
};

struct moe_result {
  std::string name;
  double flops;
  double moe_s;
  double gemm_s;
};

moe_result run_moe_case(const moe_case& c, const options& opt) {
  models::fix_eigen_blocking();
  rng gen = rng::stream(opt.seed, "bench.moe_math");
  const models::moe_weights w = models::make_moe_weights(c.hidden, c.experts, c.ffn, c.shared,
                                                         models::ffn_activation::swiglu, gen);
  models::token_source_config sc;
  sc.hidden = c.hidden;
  const models::token_source src(sc, opt.seed);
  const models::row_matrix x = src.generate(c.tokens, 1, gen);
  models::router_config cfg;
  cfg.experts = c.experts;
  cfg.top_k = c.top_k;

  const models::router_output probe = models::route(x, w.gate, cfg);
  const double flops = 2.0 * c.tokens * c.hidden * static_cast<double>(c.experts) +
                       models::moe_forward_flops(probe.decisions, w);
  float sink = 0.0f;
  const double moe_s = time_median(opt.min_time_s, 3, [&] {
    const models::router_output r = models::route(x, w.gate, cfg);
    const models::row_matrix y = models::moe_forward(x, r.decisions, w);
    sink += y(0, 0);
  });

  // One plain GEMM of the same FLOPs: tokens x hidden times hidden x n.
  const auto n = static_cast<Eigen::Index>(flops / (2.0 * c.tokens * c.hidden) + 0.5);
  const models::row_matrix b = models::row_matrix::Random(c.hidden, n);
  models::row_matrix out(c.tokens, n);
  const double gemm_s = time_median(opt.min_time_s, 3, [&] {
    out.noalias() = x * b;
    sink += out(0, 0);
  });
  volatile float keep = sink;  // the results are used: the loops cannot be optimised away
  (void)keep;
  return {c.name, flops, moe_s, gemm_s};
}

}  // namespace

int moe_math(const options& opt, std::ostream& out) {
  // Maths at math_hidden 1024: Mixtral-like (8 experts, top-2, expert width 14336 scaled by
  // 1024/4096) and DeepSeek-V3-like (256 experts, top-8, 1 shared, 2048 scaled by 1024/7168).
  const moe_case cases[] = {
      {"mixtral-8x7b@1024", 4096, 1024, 8, 2, 3584, 0},
      {"deepseek-v3@1024", 4096, 1024, 256, 8, 293, 1},
  };
  std::vector<moe_result> results;
  for (const auto& c : cases) results.push_back(run_moe_case(c, opt));
  if (opt.json) {
    out << "{\"benchmark\": \"moe_math\", \"cases\": [";
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      out << (i ? ", " : "") << "{\"name\": \"" << r.name << "\", \"flops\": " << r.flops
          << ", \"moe_s\": " << r.moe_s << ", \"moe_gflops\": " << r.flops / r.moe_s / 1e9
          << ", \"gemm_gflops\": " << r.flops / r.gemm_s / 1e9
          << ", \"ratio\": " << r.gemm_s / r.moe_s << "}";
    }
    out << "], \"target_ratio\": 0.6}\n";
    return 0;
  }
  out << "router + dispatch + experts vs one plain Eigen GEMM of the same FLOPs (target ratio >= "
         "0.6)\n";
  out << std::left << std::setw(20) << "case" << std::right << std::setw(10) << "GFLOP"
      << std::setw(12) << "MoE s" << std::setw(12) << "MoE GF/s" << std::setw(12) << "GEMM GF/s"
      << std::setw(8) << "ratio"
      << "\n";
  out << std::fixed;
  for (const auto& r : results) {
    out << std::left << std::setw(20) << r.name << std::right << std::setprecision(2)
        << std::setw(10) << r.flops / 1e9 << std::setprecision(4) << std::setw(12) << r.moe_s
        << std::setprecision(1) << std::setw(12) << r.flops / r.moe_s / 1e9 << std::setw(12)
        << r.flops / r.gemm_s / 1e9 << std::setprecision(2) << std::setw(8) << r.gemm_s / r.moe_s
        << "\n";
  }
  return 0;
}

int router(const options& opt, std::ostream& out) {
  // DeepSeek-V3, one MoE layer's router at the full hidden size: 16384 tokens x 7168, gate
  // 7168 x 256, sigmoid scoring, 8 groups keep 4, top-8, scaling 2.5. Token generation is not
  // timed. Two threads at most (the reference machine has 2 cores); results do not depend on it.
  const int tokens = 16384;
  const int hidden = 7168;
  const int threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 2u));
  rng gen = rng::stream(opt.seed, "bench.router");
  models::token_source_config sc;
  sc.hidden = hidden;
  const models::token_source src(sc, opt.seed);
  const models::row_matrix x = src.generate(tokens, 1, gen);
  const models::row_matrix gate = models::make_gate_weights(hidden, 256, gen);
  models::router_config cfg;
  cfg.experts = 256;
  cfg.top_k = 8;
  cfg.scoring = models::router_scoring::sigmoid;
  cfg.routed_scaling_factor = 2.5f;
  cfg.n_groups = 8;
  cfg.topk_groups = 4;
  std::int64_t checksum = 0;
  const double s = time_median(opt.min_time_s, 3, [&] {
    const models::router_output r = models::route(x, gate, cfg, {{}, threads});
    checksum += r.decisions.expert_ids.back();
  });
  const double gemm_flops = 2.0 * tokens * static_cast<double>(hidden) * 256;
  volatile std::int64_t keep = checksum;
  (void)keep;
  if (opt.json) {
    out << "{\"benchmark\": \"router\", \"tokens\": " << tokens << ", \"hidden\": " << hidden
        << ", \"experts\": 256, \"threads\": " << threads << ", \"seconds\": " << s
        << ", \"gate_gflops\": " << gemm_flops / s / 1e9 << ", \"target_seconds\": 0.6}\n";
    return 0;
  }
  out << std::fixed << std::setprecision(3)
      << "DeepSeek-V3 router, 16384 tokens x 7168, gate 7168x256, sigmoid, groups 8/4, top-8\n"
      << "threads " << threads << "   median " << s << " s   (target <= 0.6 s)   gate GEMM "
      << std::setprecision(1) << gemm_flops / s / 1e9 << " GFLOP/s\n";
  return 0;
}

}  // namespace moesim::bench
