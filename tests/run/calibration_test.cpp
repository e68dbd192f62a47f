// The calibration table (sim/io/calibration.hpp): model vs published measurement, printed, and
// checked against each row's tolerance. Rows with a documented known gap must still miss (so the
// table is updated when a mechanism improves); every other row must pass.
#include "sim/io/calibration.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <iostream>

#include "sim/io/error.hpp"
#include "sim/io/net_bench.hpp"

using namespace moesim;

TEST_CASE("calibration rows: model vs measured") {
  const auto& rows = io::calibration_rows();
  REQUIRE(rows.size() >= 10);
  for (const auto& row : rows) {
    const auto r = io::evaluate(row);
    std::cout << "calibration: " << row.name << " [" << row.unit << "]: measured " << row.measured
              << ", simulated " << r.simulated << ", error " << r.error * 100 << "% (tolerance "
              << row.tolerance * 100 << "%)" << (row.known_gap.empty() ? "" : " known gap") << "\n";
    INFO(row.name << ": measured " << row.measured << ", simulated " << r.simulated);
    CHECK(std::isfinite(r.simulated));
    if (row.known_gap.empty()) {
      CHECK(r.pass);
    } else {
      CHECK_FALSE(r.pass);
    }
  }
}

TEST_CASE("dispatch traffic follows the router: top-k copies, node limit, DeepEP bytes") {
  const auto c = io::load_bench_cluster("dgx-h800", 4, "");
  io::dispatch_options o;
  o.ranks = 32;
  o.tokens = 256;
  o.node_groups = 2;
  const auto t = io::dispatch_traffic(c, o);
  double copies = 0;
  for (double v : t.copies) copies += v;
  CHECK(copies == 32.0 * 256 * 8);  // every token takes exactly top-8 experts
  // Node-limited routing: no token reaches more than 2 of the 4 nodes.
  for (int s = 0; s < 32; ++s) {
    double node_pairs = 0;
    for (int k = 0; k < 4; ++k) node_pairs += t.node_tokens[static_cast<std::size_t>(s * 4 + k)];
    CHECK(node_pairs <= 2.0 * 256);
    CHECK(node_pairs >= 256);
  }
  const auto f = io::bench_dispatch(c, o);
  CHECK(f.dispatch_bytes > 0);
  CHECK(f.dispatch_GBps > 0);
  // BF16 combine carries 2 bytes per channel, FP8 dispatch 1 + 4/128.
  CHECK(f.combine_bytes / f.dispatch_bytes == Approx(2.0 / (1 + 4.0 / 128)));
  o.node_groups = 5;
  CHECK_THROWS_AS(io::dispatch_traffic(c, o), io::input_error);
}

TEST_CASE("DeepEP kernels use the chip's ep_link_efficiency on NVLink, else efficiency.link") {
  auto c = io::load_bench_cluster("dgx-h800", 0, "");
  io::dispatch_options o;
  o.ranks = 8;
  const auto ep = io::bench_dispatch(c, o);
  CHECK(ep.link_efficiency == 0.713);
  CHECK(ep.link_efficiency_from == "collective.ep_link_efficiency");
  c.params.ep_scale_up_efficiency.reset();
  const auto nccl = io::bench_dispatch(c, o);
  CHECK(nccl.link_efficiency == 0.8);  // h800 efficiency.link
  CHECK(nccl.link_efficiency_from.rfind("efficiency.link", 0) == 0);
  // One NVLink phase, bandwidth-bound (~1 ms against 8.4 us of launch overhead): the kernel
  // rate scales with the link efficiency.
  CHECK(ep.dispatch_GBps / nccl.dispatch_GBps == Approx(0.713 / 0.8).epsilon(0.01));
}

TEST_CASE("the benchmark verbs' re-solve quantum stays close to the exact flow model") {
  // A skewed exchange (DeepEP low-latency copies of random routing) on 4 nodes: the exact solve
  // re-solves at every finish; q = 0.02 (the verbs' default) far less often.
  const auto c = io::load_bench_cluster("dgx-h800", 4, "");
  io::dispatch_options o;
  o.ranks = 32;
  o.tokens = 128;
  o.mode = sim::net::ep_mode::low_latency;
  const auto exact = io::bench_dispatch(c, o);
  o.resolve_quantum = 0.02;
  const auto quick = io::bench_dispatch(c, o);
  CHECK(quick.dispatch_time_s == Approx(exact.dispatch_time_s).epsilon(0.01));
  CHECK(quick.combine_time_s == Approx(exact.combine_time_s).epsilon(0.01));
  sim::net::collective_spec spec;
  spec.op = sim::net::collective_op::all_to_all;
  spec.bytes = 256.0 * (1 << 20);
  const double t0 = io::bench_collective(c, spec, sim::net::timing_model::flow).time_s;
  const double tq = io::bench_collective(c, spec, sim::net::timing_model::flow, 0.02).time_s;
  CHECK(tq == Approx(t0).epsilon(0.01));
}

TEST_CASE("size sweeps use nccl-tests binary units") {
  CHECK(io::parse_size_sweep("8G") == std::vector<double>{8.0 * (1ULL << 30)});
  CHECK(io::parse_size_sweep("8:64:x2") == std::vector<double>{8, 16, 32, 64});
  CHECK(io::parse_size_sweep("1K:3K:+1K") == std::vector<double>{1024, 2048, 3072});
  CHECK_THROWS_AS(io::parse_size_sweep("64:8:x2"), io::input_error);
  CHECK_THROWS_AS(io::parse_size_sweep("8:64:x1"), io::input_error);
  CHECK_THROWS_AS(io::parse_size_sweep("8:64"), io::input_error);
}
