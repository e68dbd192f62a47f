// Op costs and their roofline times (sim/run/op_costs.hpp, sim/cluster/roofline.hpp), by hand:
// attention as projections plus a fused core, MLA's absorbed decode, the KV cache's format,
// and the per-chip efficiency factors each kernel runs at.
#include "sim/run/op_costs.hpp"

#include <catch2/catch.hpp>

#include "models/model_params.hpp"
#include "sim/io/spec_loader.hpp"
#include "topologies/chip_spec.hpp"

using namespace moesim;

TEST_CASE("attention is a projection GEMM and a fused core over the keys") {
  const models::model_spec m = io::load_model("mixtral-8x7b");
  sim::run::pass_shape p;
  p.tokens = 64;
  p.sequences = 64;
  p.keys = 4097;
  p.kv_read_tokens = 4096;
  p.decode = true;
  p.kv_dtype = models::weight_dtype::bf16;
  const auto a = sim::run::attention_cost(m, p);
  // Core: 2 x 32 heads x (128 + 128) x 4097 keys x 64 tokens; it reads 64 sequences x 4096
  // cached tokens x 8 KV heads x (K, V) x 128 x 2 bytes and writes the 64 new tokens' entries.
  CHECK(a.core.flops == 2.0 * 32 * 256 * 4097 * 64);
  CHECK(a.core.bytes == (64.0 * 4096 + 64) * 8 * 2 * 128 * 2);
  CHECK(a.core.kernel == sim::cluster::kernel_class::attention);
  // Projections: 2 FLOPs per parameter and token; weights plus the layer's input and output.
  const double params = static_cast<double>(models::attention_params(m));
  CHECK(a.projections.flops == 2.0 * params * 64);
  CHECK(a.projections.bytes == params * 2 + 2.0 * 64 * 4096 * 2);
  CHECK(a.projections.kernel == sim::cluster::kernel_class::gemm);
  // An fp8 cache halves the KV bytes, nothing else.
  p.kv_dtype = models::weight_dtype::fp8;
  CHECK(sim::run::attention_cost(m, p).core.bytes == a.core.bytes / 2);
}

TEST_CASE("MLA decodes over the latent (absorbed), prefills over per-head dims") {
  const models::model_spec m = io::load_model("deepseek-v3");
  sim::run::pass_shape p;
  p.tokens = 128;
  p.sequences = 128;
  p.keys = 4097;
  p.decode = true;
  // FlashMLA's count: 2 x heads x (576 + 512) per key and query token.
  CHECK(sim::run::attention_core_flops(m, p) == 2.0 * 128 * (576 + 512) * 4097 * 128);
  p.decode = false;
  CHECK(sim::run::attention_core_flops(m, p) == 2.0 * 128 * (192 + 128) * 4097 * 128);
}

TEST_CASE("kernels run at their format's matmul factor, attention at the chip's attention factor") {
  const auto h800 = io::load_cluster("dgx-h800").chip;
  using sim::cluster::number_format;
  const auto r = sim::cluster::rates_for(h800, number_format::fp8, 0, number_format::bf16);
  CHECK(r.flops_per_s == Approx(1979e12 * 0.709));           // efficiency.compute_fp8
  CHECK(r.attention_flops_per_s == Approx(989e12 * 0.667));  // FlashMLA on H800, bf16
  CHECK(r.hbm_bytes_per_s == Approx(3.35e12 * 0.87));
  CHECK(sim::cluster::absent_efficiencies(h800, number_format::fp8).empty());
  // A kernel takes the slower of its FLOPs and bytes at those rates, plus the launch.
  const sim::cluster::op_cost core{989e12 * 0.667 * 1e-3, 1.0,
                                   sim::cluster::kernel_class::attention};
  const sim::cluster::op_cost gemm{1979e12 * 0.709 * 2e-3, 1.0};
  const sim::cluster::op_cost both[] = {core, gemm};
  CHECK(sim::cluster::op_time(r, both) == sim::ps_per_ms * 3);
  // A chip without an attention factor runs attention at its GEMM factor, and says so.
  auto bare = h800;
  bare.efficiency.attention.reset();
  bare.efficiency.compute_fp8.reset();
  const auto b = sim::cluster::rates_for(bare, number_format::fp8, 0, number_format::bf16);
  CHECK(b.attention_flops_per_s == Approx(989e12 * 0.803));
  CHECK(b.flops_per_s == Approx(1979e12 * 0.803));
  CHECK(sim::cluster::absent_efficiencies(bare, number_format::fp8) ==
        std::vector<std::string>{"compute_fp8", "attention"});
}

TEST_CASE("fp8 GEMMs over few rows stream weights at the chip's measured GEMM bandwidth") {
  using sim::cluster::number_format;
  const auto h100 = io::load_cluster("dgx-h100").chip;
  const auto r = sim::cluster::rates_for(h100, number_format::fp8, 0, number_format::bf16);
  // DeepGEMM on H800 (h100.yaml): 64 rows 0.684, 128 rows 0.655, 256 rows 0.614 of 3.35 TB/s.
  REQUIRE(r.gemm_hbm.size() == 3);
  const auto rate = [&](double rows, sim::cluster::kernel_class k) {
    return sim::cluster::hbm_rate(r, {1, 1, k, rows});
  };
  using sim::cluster::kernel_class;
  CHECK(rate(64, kernel_class::gemm) == Approx(3.35e12 * 0.684));
  CHECK(rate(8, kernel_class::gemm) == Approx(3.35e12 * 0.684));  // below: the first point's
  CHECK(rate(96, kernel_class::gemm) == Approx(3.35e12 * (0.684 + 0.655) / 2));  // linear
  CHECK(rate(192, kernel_class::gemm) == Approx(3.35e12 * (0.655 + 0.614) / 2));
  CHECK(rate(4096, kernel_class::gemm) == Approx(3.35e12 * 0.614));  // above: the last point's
  // Rows unknown, or not a GEMM (the attention core reads the KV cache): STREAM's factor.
  CHECK(rate(0, kernel_class::gemm) == Approx(3.35e12 * 0.87));
  CHECK(rate(64, kernel_class::attention) == Approx(3.35e12 * 0.87));
  // bf16 GEMMs were not measured: they keep efficiency.hbm at any rows.
  const auto b = sim::cluster::rates_for(h100, number_format::bf16, 0, number_format::bf16);
  CHECK(b.gemm_hbm.empty());
  CHECK(sim::cluster::hbm_rate(b, {1, 1, kernel_class::gemm, 64}) == Approx(3.35e12 * 0.87));
  // A chip without measured points (A100 has no fp8 at all): STREAM's factor.
  const auto a100 = io::load_cluster("dgx-a100").chip;
  CHECK(sim::cluster::rates_for(a100, number_format::fp8, 0).gemm_hbm.empty());
}

TEST_CASE("grouped expert GEMMs run at their tokens per active expert") {
  using sim::cluster::number_format;
  models::model_spec m = io::load_model("qwen3-235b-a22b");
  m.dtype = models::weight_dtype::fp8;
  sim::run::pass_shape p;
  p.tokens = 96;
  p.sequences = 96;
  p.decode = true;
  // DEP8 decode: 768 tokens x top-8 over 128 experts, 16 per GPU, each with 48 tokens.
  const auto f = sim::run::expert_cost(m, p, 16 * 48, 16);
  CHECK(f.rows == 48);
  const double weights = 16.0 * static_cast<double>(models::expert_params(m));  // fp8: 1 B
  CHECK(f.bytes == weights + 2.0 * 768 * 4096);
  // Memory-bound: the weights stream at the 64-row point's 0.684, not STREAM's 0.87.
  const auto h100 = io::load_cluster("dgx-h100").chip;
  const auto r = sim::cluster::rates_for(h100, number_format::fp8, 0, number_format::bf16);
  CHECK(sim::cluster::memory_bound(r, f));
  CHECK(sim::cluster::op_time(r, f) == sim::ps_from_seconds(f.bytes / (3.35e12 * 0.684)));
  // Projections and the head name the device's tokens as rows.
  CHECK(sim::run::attention_cost(m, p).projections.rows == 96);
  CHECK(sim::run::lm_head_cost(m, 96, 1).rows == 96);
}

TEST_CASE("the measured GEMM bandwidth points must increase in rows") {
  auto chip = io::load_cluster("dgx-h100").chip;
  chip.efficiency.gemm_fp8_hbm = {{128, 0.65}, {64, 0.68}};
  CHECK_THROWS_WITH(topo::validate(chip), Catch::Contains("efficiency.gemm_fp8_hbm[1].rows"));
  chip.efficiency.gemm_fp8_hbm = {{64, 1.5}};
  CHECK_THROWS_WITH(topo::validate(chip), Catch::Contains("efficiency.gemm_fp8_hbm[0].hbm"));
}
