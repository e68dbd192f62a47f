// Offload realism (issue 14, session 11): group quantisation metadata in the bytes stored and
// moved, its per-use dequantisation traffic, the host link's pinned copy rate, and the host's
// DRAM capacity check, each on hand-solved numbers.
#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

#include "models/model_params.hpp"
#include "sim/io/error.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/run/expert_offload.hpp"
#include "sim/run/op_costs.hpp"
#include "topologies/chip_spec.hpp"

using namespace moesim;

namespace {

// Mixtral 8x7B cut to 4 layers (8 experts of 3 x 4096 x 14336 weights each) on the Colab T4.
std::string t4_scenario(const std::string& extra,
                        const std::string& cluster = "{preset: colab-t4}") {
  return "name: t\nmodel: {preset: mixtral-8x7b, dtype: fp16, layers: 4}\ncluster: " + cluster +
         "\nworkload: {kind: decode, batch_per_device: 1, context: 64, steps: 1}\n" + extra;
}

// mixtral-offloading's HQQ configs (demo.ipynb): experts 2-bit, groups of 16, 8-bit scales in
// groups of 128 and 8-bit zeros; attention 4-bit, groups of 64, scales in groups of 256.
const char* hqq = R"(precision:
  expert_weights: int2
  expert_quant: {group_size: 16, scale_bits: 8, zero_bits: 8, scale_group_size: 128}
  attention_weights: int4
  attention_quant: {group_size: 64, scale_bits: 8, zero_bits: 8, scale_group_size: 256}
)";

}  // namespace

TEST_CASE("group quantisation metadata: bytes per parameter", "[offload]") {
  // 2-bit, group 16, 8-bit scale and zero: 2 bytes per 16 weights, plus a 4-byte fp16 pair per
  // 128 scales = per 2048 weights: 0.125 + 1/512.
  const models::weight_quant experts{16, 8, 8, 128};
  CHECK(models::quant_meta_bytes_per_param(experts) == 0.125 + 1.0 / 512);
  // Dequantised at every use: 12 bytes of HBM traffic per 8-bit scale and per 8-bit zero.
  CHECK(models::quant_dequant_bytes_per_param(experts) == 24.0 / 16);
  CHECK(models::quant_dequant_kernels(experts) == 6);
  // fp16 scale and zero, group 128 (GPTQ/AWQ-like): 4 bytes per 128 weights, nothing to expand.
  const models::weight_quant fp16_meta{128, 16, 16, 0};
  CHECK(models::quant_meta_bytes_per_param(fp16_meta) == 4.0 / 128);
  CHECK(models::quant_dequant_bytes_per_param(fp16_meta) == 0);
  CHECK(models::quant_dequant_kernels(fp16_meta) == 0);
  // Only the scales quantised (8-bit, fp16 zeros), group 64, scale groups of 256.
  const models::weight_quant scales_only{64, 8, 16, 256};
  CHECK(models::quant_meta_bytes_per_param(scales_only) == 3.0 / 64 + 4.0 / (64 * 256));
  CHECK(models::quant_dequant_bytes_per_param(scales_only) == 12.0 / 64);

  const auto set = io::load_scenario_text(t4_scenario(hqq), "test.yaml");
  const models::model_spec& m = set.base.model;
  CHECK(models::expert_bytes_per_param(m) == 0.25 + 0.125 + 1.0 / 512);
  CHECK(models::attention_bytes_per_param(m) == 0.5 + 2.0 / 64 + 4.0 / (64 * 256));
  // The offloaded expert (what a fetch moves) carries its metadata.
  const double params = static_cast<double>(models::expert_params(m));
  CHECK(sim::run::offload_expert_bytes(set.base) == Approx(params * (0.375 + 1.0 / 512)));
}

TEST_CASE("dequantising quantised metadata adds HBM traffic to the expert and attention GEMMs",
          "[offload]") {
  const auto set = io::load_scenario_text(t4_scenario(hqq), "test.yaml");
  const models::model_spec& m = set.base.model;
  models::model_spec plain_meta = m;  // the same stored bytes, metadata never expanded
  plain_meta.expert_quant->scale_bits = 16;
  plain_meta.expert_quant->zero_bits = 16;
  plain_meta.attention_quant->scale_bits = 16;
  plain_meta.attention_quant->zero_bits = 16;
  sim::run::pass_shape p;
  p.tokens = 1;
  p.sequences = 1;
  // Two active experts: each one's weights pay 1.5 bytes per parameter of dequantisation, and
  // the stored bytes differ by the metadata's width (8 vs 16 bits per scale and zero).
  const double expert = static_cast<double>(models::expert_params(m));
  const auto q = sim::run::expert_cost(m, p, 2, 2);
  const auto f = sim::run::expert_cost(plain_meta, p, 2, 2);
  CHECK(q.flops == f.flops);
  const double stored_q = 0.25 + 0.125 + 1.0 / 512;
  const double stored_f = 0.25 + 0.25;
  CHECK(q.bytes - f.bytes == Approx(2 * expert * (stored_q + 1.5 - stored_f)));
  // Attention projections: 24 bytes per group of 64 (0.375 per parameter) on top.
  const double attn = static_cast<double>(models::attention_params(m));
  const auto qa = sim::run::attention_cost(m, p);
  const auto fa = sim::run::attention_cost(plain_meta, p);
  const double stored_qa = 0.5 + 2.0 / 64 + 4.0 / (64 * 256);
  const double stored_fa = 0.5 + 4.0 / 64;
  CHECK(qa.projections.bytes - fa.projections.bytes ==
        Approx(attn * (stored_qa + 0.375 - stored_fa)));
}

TEST_CASE("the host link runs at the chip's pinned copy rate", "[offload]") {
  topo::host_link_spec link;
  link.bytes_per_s = 16e9;
  CHECK(link.achievable_bytes_per_s() == 16e9);  // unmeasured: line rate
  link.copy_bytes_per_s = 12.2e9;
  CHECK(link.achievable_bytes_per_s() == 12.2e9);
  const auto set = io::load_scenario_text(t4_scenario(""), "test.yaml");
  CHECK(set.base.chip.host_link.copy_bytes_per_s == 12.2e9);
  CHECK(set.base.chip.host_link.bytes_per_s == 16e9);
}

TEST_CASE("offloaded experts must fit the host's DRAM", "[offload]") {
  // 8 experts x 4 layers of 3 x 4096 x 14336 fp16 weights (336 MiB each) with 2 per layer
  // cached: 24 offloaded experts, 7.88 GiB. The Colab host's 12.7 GB holds them; 5 GB does not.
  CHECK_NOTHROW(io::load_scenario_text(
      t4_scenario("offload: {cache_experts_per_layer: 2}\n"), "test.yaml"));
  const std::string small_host = "{preset: colab-t4, host: {dram_bytes: 5 GB}}";
  try {
    (void)io::load_scenario_text(
        t4_scenario("offload: {cache_experts_per_layer: 2}\n", small_host),
        "test.yaml");
    FAIL("expected the host DRAM check to refuse");
  } catch (const io::input_error& e) {
    const std::string what = e.what();
    CHECK(what.find("needs 7.88 GiB for the offloaded experts of its 1 device (24 experts of "
                    "336 MiB each, 24 of 32 per device not cached) > 4.66 GiB of DRAM") !=
          std::string::npos);
  }
  // A quantised expert with its metadata: the same 24 at 0.377 bytes per weight (1.48 GiB) fit.
  CHECK_NOTHROW(io::load_scenario_text(
      t4_scenario(std::string("offload: {cache_experts_per_layer: 2}\n") + hqq, small_host),
      "test.yaml"));
}

TEST_CASE("group quantisation needs an integer stored format", "[offload]") {
  CHECK_THROWS_AS(
      io::load_scenario_text(
          t4_scenario("precision: {expert_quant: {group_size: 16, scale_bits: 8}}\n"),
          "test.yaml"),
      io::input_error);
}
