#include "sim/io/calibration.hpp"

#include <cmath>

#include "sim/io/net_bench.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/io/spec_loader.hpp"
#include "sim/io/torus_bench.hpp"
#include "sim/run/simulate.hpp"

namespace moesim::io {

namespace {

using sim::net::collective_algorithm;
using sim::net::collective_op;
using sim::net::timing_model;

constexpr double GiB = 1024.0 * 1024 * 1024;

// nccl-tests' large-message regime: 8 GiB per rank.
constexpr double large_bytes = 8.0 * (1ULL << 30);

double busbw(const bench_cluster& c, collective_op op, collective_algorithm a, double bytes) {
  sim::net::collective_spec spec;
  spec.op = op;
  spec.algorithm = a;
  spec.bytes = bytes;
  return bench_collective(c, spec, timing_model::flow).busbw_GBps;
}

std::function<double()> busbw_of(std::string preset, int nodes, collective_op op,
                                 collective_algorithm a, double divide_by = 1) {
  return
      [=] { return busbw(load_bench_cluster(preset, nodes, ""), op, a, large_bytes) / divide_by; };
}

// 2 DGX A100 nodes with 4 HDR NICs each (one per two GPUs, 4 rails), as in the measured setup.
double a100_four_nics() {
  auto r = load_cluster("dgx-a100", {"nodes=2", "scale_out.rails=4"});
  r.chip.nic->chips_per_nic = 2;
  const auto c = make_bench_cluster(std::move(r.cluster), std::move(r.chip));
  return busbw(c, collective_op::all_reduce, collective_algorithm::automatic, large_bytes);
}

// Smallest power-of-two size whose ring all-reduce busbw reaches 90% of the large-message one.
double h100_size_at_90_percent() {
  const auto c = load_bench_cluster("dgx-h100", 0, "");
  const double peak = busbw(c, collective_op::all_reduce, collective_algorithm::ring, large_bytes);
  double size = 1 << 20;
  while (size < large_bytes &&
         busbw(c, collective_op::all_reduce, collective_algorithm::ring, size) < 0.9 * peak) {
    size *= 2;
  }
  return size / 1e6;
}

// DeepEP's test settings (calibration.md s3): 8 ranks of one node, `tokens` per rank, hidden
// 7168, top-8 of 256, FP8 dispatch, BF16 combine, normal kernels.
std::function<double()> deepep_intranode(std::string preset, int tokens, bool combine) {
  return [preset, tokens, combine] {
    const auto c = load_bench_cluster(preset, 0, "");
    dispatch_options o;
    o.ranks = 8;
    o.tokens = tokens;
    const auto f = bench_dispatch(c, o);
    return combine ? f.combine_GBps : f.dispatch_GBps;
  };
}

// Runs the flagship scenario scenarios/<name>.yaml as shipped (embedded in the binary), or its
// strategy `strategy` when one is named, and reads one figure of its result.
std::function<double()> scenario_figure(std::string name,
                                        double (*figure)(const sim::run::run_result&),
                                        std::string strategy = "") {
  return [name, strategy, figure] {
    const auto set = load_shipped_scenario(name);
    const sim::run::scenario* chosen = strategy.empty() ? &set.base : nullptr;
    for (const auto& st : set.strategies) {
      if (st.variant == strategy) chosen = &st;
    }
    if (chosen == nullptr) {
      throw std::logic_error("calibration: scenario " + name + " has no strategy " + strategy);
    }
    sim::trace_recorder trace(false);
    return figure(sim::run::simulate(*chosen, trace));
  };
}

std::vector<calibration_row> make_rows() {
  const std::string nccl = "nccl-tests (calibration.md s2)";
  std::vector<calibration_row> rows;
  rows.push_back({"8x H100 ring all-reduce busbw", nccl, "GB/s", 370, 0.10,
                  "defines h100 efficiency.link", "",
                  busbw_of("dgx-h100", 0, collective_op::all_reduce, collective_algorithm::ring)});
  rows.push_back({"8x H100 ring all-gather busbw", nccl, "GB/s", 370, 0.10, "", "",
                  busbw_of("dgx-h100", 0, collective_op::all_gather, collective_algorithm::ring)});
  rows.push_back(
      {"8x H100 all-to-all busbw", nccl, "GB/s", 370, 0.10, "", "",
       busbw_of("dgx-h100", 0, collective_op::all_to_all, collective_algorithm::direct)});
  rows.push_back({"8x H100 NVLS all-reduce busbw", nccl + "; NCCL nvlsEfficiency", "GB/s", 477.5,
                  0.10, "", "",
                  busbw_of("dgx-h100", 0, collective_op::all_reduce, collective_algorithm::nvls)});
  rows.push_back(
      {"2x8 H100 ring all-reduce busbw per NIC", nccl + "; CX7 400G", "GB/s", 47.5, 0.10,
       "h100 efficiency.nic from the same figure", "",
       busbw_of("dgx-h100", 2, collective_op::all_reduce, collective_algorithm::ring, 8)});
  rows.push_back(
      {"2x8 H100 all-to-all busbw / NIC line rate", "nccl-tests maintainers (s2)", "x", 2.0, 0.12,
       "busbw over 50 GB/s", "",
       busbw_of("dgx-h100", 2, collective_op::all_to_all, collective_algorithm::direct, 50)});
  rows.push_back({"8x A100 all-reduce busbw", nccl, "GB/s", 232, 0.10,
                  "defines a100 efficiency.link", "",
                  busbw_of("dgx-a100", 0, collective_op::all_reduce, collective_algorithm::ring)});
  rows.push_back({"2x8 A100, 4x200G NICs/node, all-reduce busbw", nccl, "GB/s", 88.5, 0.10,
                  "a100 efficiency.nic by analogy with CX7", "", a100_four_nics});
  rows.push_back({"8x H100 size where ring all-reduce busbw reaches 90% of peak", nccl, "MB", 256,
                  0.30, "power-of-two sizes",
                  "the 256 MB is NCCL's maintainers' remark on the NVLS all-reduce ('256M is "
                  "too small to reach peak bandwidth', nccl-tests #212), not a ring measurement; "
                  "NCCL's own cost model (tuning.cc: 8.4 us + 14 steps x 3.4 us) puts ring's 90% "
                  "point near 106 MB, the model at 128 MiB",
                  h100_size_at_90_percent});
  const std::string deepep_v2 = "DeepEP V2 README, SM100 EP8, 64 SMs (max perf)";
  rows.push_back({"DeepEP V2 EP8 dispatch, 8x B200, 8K tokens (logical)", deepep_v2, "GB/s", 726,
                  0.10, "with the next row defines b200 collective.ep_link_efficiency", "",
                  deepep_intranode("dgx-b200", 8192, false)});
  rows.push_back({"DeepEP V2 EP8 combine, 8x B200, 8K tokens (logical)", deepep_v2, "GB/s", 740,
                  0.10, "", "", deepep_intranode("dgx-b200", 8192, true)});
  const std::string deepep_v1 = "DeepEP docs/legacy.md (s3)";
  const std::string deepep_note =
      "tolerance not published; +-10% as section 2; NVLink at B200's ep_link_efficiency";
  rows.push_back({"DeepEP EP8 intranode normal dispatch (H800)", deepep_v1, "GB/s", 153, 0.10,
                  deepep_note, "", deepep_intranode("dgx-h800", 4096, false)});
  rows.push_back({"DeepEP EP8 intranode normal combine (H800)", deepep_v1, "GB/s", 158, 0.10,
                  deepep_note, "", deepep_intranode("dgx-h800", 4096, true)});
  rows.push_back(
      {"Mixtral 8x7B training, 64 H100, tp1 ep8 pp4 vp8 dp2: TFLOPS per GPU",
       "Megatron-Core MoE README (calibration.md s6)", "TFLOPS", 468, 0.15,
       "scenarios/mixtral-8x7b-train-h100.yaml; Megatron's FLOP count",
       "the roofline at the measured matmul ceiling (80% of peak) with elementwise kernels, "
       "the real routing imbalance, the all-to-alls and the interleaved 1F1B bubble leaves 60% "
       "MFU; Megatron measured 47%: host syncs of the all-to-all dispatcher, grouped-GEMM and "
       "attention-kernel efficiency below the matmul ceiling are not modelled; the next row "
       "reads the layout without interleaving",
       scenario_figure("mixtral-8x7b-train-h100",
                       [](const sim::run::run_result& r) { return r.model_tflops_per_device; })});
  rows.push_back(
      {"Mixtral 8x7B training as above, read as the README's example script (vp 1)",
       "Megatron-Core MoE README (calibration.md s6)", "TFLOPS", 468, 0.15,
       "strategy no-interleaving: --num-layers-per-virtual-pipeline-stage 8 is one chunk per "
       "stage; which reading the 468 run used is not published",
       "",
       scenario_figure(
           "mixtral-8x7b-train-h100",
           [](const sim::run::run_result& r) { return r.model_tflops_per_device; },
           "no-interleaving")});
  // Torus collectives (sim/io/torus_bench.hpp). The book: Austin et al., "How to Scale Your
  // Model", sharding.md; W is its bidirectional per-link bandwidth, 2 x 90 GB/s on v5p (the
  // preset's one-way 9e10 B/s, scaling book tpus.md); V the array bytes.
  const std::string book = "scaling book sharding.md";
  const std::string formula = "a formula check, not a measurement: ";
  // The formulas at the preset's achievable link rate: W = 2 x 90 GB/s x efficiency.link.
  const auto v5p = load_cluster("tpu-v5p", {}).chip;
  const double w = 2 * v5p.scale_up.link_bytes_per_s * v5p.efficiency.link.value_or(1.0);
  // torus rows: id torus-allgather
  rows.push_back(
      {"v5e 8x4 AllGather over y (4 chips, no wrap), 32 MiB: time", book + ", Pop Quiz 2 profile",
       "us", 680, 0.10,
       "the book's figure is a measured profile (its theory: 3 hops x 8.4 MB / "
       "4.5e10 = 560 us)",
       "the v5e preset runs ICI at line rate (no published v5e link efficiency); the profile "
       "reaches 560/680 = 82% of it",
       torus_allgather_v5e_mesh_us});
  // torus rows: id torus-reducescatter
  rows.push_back({"v5p 4x4x4 ReduceScatter over x,y,z, 1 GiB: time", book + ", V/(n_axes W)", "us",
                  GiB / (3 * w) * 1e6, 0.05,
                  formula + "V/(3W); the model's (1 - 1/64) factor (the book's (Axis-1)/Axis) and "
                            "9 hops of 1 us",
                  "", torus_reducescatter_v5p_cube_us});
  // torus rows: id torus-allreduce
  rows.push_back({"v5p 4x4x4 AllReduce over x,y,z, 1 GiB: time", book + ", 2 V/(n_axes W)", "us",
                  2 * GiB / (3 * w) * 1e6, 0.05,
                  formula + "2V/(3W); the model's (1 - 1/64) and 18 hops of 1 us", "",
                  torus_allreduce_v5p_cube_us});
  // torus rows: id torus-alltoall
  rows.push_back({"v5p 4x4x4 AllToAll on the x rings (4 chips), 1 GiB per chip: time",
                  book + ", V/(4W) on a bidirectional ring", "us", 4 * GiB / (4 * w) * 1e6,
                  0.05, formula + "V = 4 x 1 GiB per ring; ties split both ways", "",
                  torus_alltoall_v5p_ring_us});
  return rows;
}

}  // namespace

const std::vector<calibration_row>& calibration_rows() {
  static const std::vector<calibration_row> rows = make_rows();
  return rows;
}

calibration_result evaluate(const calibration_row& row) {
  calibration_result r;
  r.row = &row;
  r.simulated = row.simulate();
  r.error = (r.simulated - row.measured) / row.measured;
  r.pass = std::abs(r.error) <= row.tolerance;
  return r;
}

}  // namespace moesim::io
