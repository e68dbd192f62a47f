// The torus algorithm over several axes at once against the scaling book's multi-axis cost
// (sharding.md: V / (n_axes W) per all-gather or reduce-scatter, twice that per all-reduce, with
// the (1 - 1/N) of its (Axis - 1)/Axis form), sub-torus detection, and the automatic choice of
// an algorithm that fits the ranks. Link efficiencies are 1 and protocol overheads 0, so the
// closed forms hold in the bandwidth-bound regime (1 GiB: 18 hops of 1 us are < 0.5%).
#include <catch2/catch.hpp>

#include "sim/net/collectives.hpp"
#include "sim/net/torus_plan.hpp"
#include "tests/net/spec_of.hpp"
#include "tests/topo/specs.hpp"
#include "topologies/cluster.hpp"
#include "topologies/torus.hpp"

using namespace moesim;
using namespace moesim::sim::net;
using namespace moesim::sim::net::test;

namespace {

topo::topology cube(std::vector<int> dims, bool wrap) {
  const std::size_t n = dims.size();
  return topo::build_torus({std::move(dims), std::vector<bool>(n, wrap),
                            std::vector<double>(n, w_one_way),
                            std::vector<std::int64_t>(n, 1'000'000)});
}

}  // namespace

TEST_CASE("torus collectives use every axis at once: (1 - 1/N) V / (n W)") {
  struct shape {
    std::vector<int> dims;
    bool wrap;
  };
  // 4x4x4 with wraparound: n = 3 bidirectional rings per chip. 4x4 without: the chains'
  // bandwidth term is twice the ring's.
  for (const auto& s : {shape{{4, 4, 4}, true}, shape{{4, 4}, false}, shape{{8, 8}, true}}) {
    const auto t = cube(s.dims, s.wrap);
    const double N = t.device_count();
    const double n = static_cast<double>(s.dims.size());
    const double V = 1 * GiB;
    const double gather = (1 - 1 / N) * V / (n * W) * (s.wrap ? 1 : 2);
    for (auto model : {timing_model::flow, timing_model::analytical}) {
      INFO(t.label << (model == timing_model::flow ? " flow" : " analytical"));
      CHECK(run_s(t, spec_of(collective_op::all_gather, V), model) == Approx(gather).epsilon(0.01));
      CHECK(run_s(t, spec_of(collective_op::reduce_scatter, V), model) ==
            Approx(gather).epsilon(0.01));
      CHECK(run_s(t, spec_of(collective_op::all_reduce, V), model) ==
            Approx(2 * gather).epsilon(0.01));
    }
  }
}

TEST_CASE("torus collectives: one phase per stage, paying each ring step's hop") {
  // All-reduce on 4x4x4: 3 parts x (3 reduce-scatter + 3 all-gather stages), 6 phases of 3 hops:
  // latency-bound (1 KiB), 18 hops of 1 us.
  const auto t = cube({4, 4, 4}, true);
  const auto plan = plan_collective(t, {}, spec_of(collective_op::all_reduce, 1024));
  CHECK(plan.algorithm == collective_algorithm::torus);
  REQUIRE(plan.phases.size() == 6);
  for (const auto& ph : plan.phases) {
    CHECK(ph.hops == 3);
    // Every chip sends both ways on the axis of each of the 3 parts.
    CHECK(ph.flows.size() == std::size_t{64} * 2 * 3);
  }
  for (auto model : {timing_model::flow, timing_model::analytical}) {
    CHECK(run_s(t, spec_of(collective_op::all_reduce, 1024), model) == Approx(18e-6).epsilon(0.01));
  }
}

TEST_CASE("sub_torus_axes: whole slices, whole axes, nothing partial") {
  using moesim::sim::net::detail::sub_torus_axes;
  using group = std::vector<topo::device_id>;
  const auto t = topo::build_cluster(
      topo::test::tpu_cluster("tpu-v5p", "4x4x2", topo::test::v5p_rule(), "2x2x1", 2),
      topo::test::tpu_v5p());
  group slice0(32);
  group slice1(32);
  for (int i = 0; i < 32; ++i) {
    slice0[static_cast<std::size_t>(i)] = i;
    slice1[static_cast<std::size_t>(i)] = 32 + 31 - i;  // any order
  }
  CHECK(sub_torus_axes(t, std::vector<group>{slice0}) == std::vector<int>{0, 1, 2});
  CHECK(sub_torus_axes(t, std::vector<group>{slice0, slice1}) == std::vector<int>{0, 1, 2});
  // y lines (x = 1, z = 1) and a y-z plane.
  CHECK(sub_torus_axes(t, std::vector<group>{{17, 21, 25, 29}, {16, 20, 24, 28}}) ==
        std::vector<int>{1});
  group plane;
  for (int l = 2; l < 32; l += 4) plane.push_back(l);
  CHECK(sub_torus_axes(t, std::vector<group>{plane}) == std::vector<int>{1, 2});
  // Not sub-tori: part of an axis, a duplicate, two slices in one group, different axes, one chip.
  CHECK_FALSE(sub_torus_axes(t, std::vector<group>{{0, 1, 2}}));
  CHECK_FALSE(sub_torus_axes(t, std::vector<group>{{0, 1, 2, 2}}));
  CHECK_FALSE(sub_torus_axes(t, std::vector<group>{{0, 1, 2, 3, 32, 33, 34, 35}}));
  CHECK_FALSE(sub_torus_axes(t, std::vector<group>{{0, 1, 2, 3}, {0, 4, 8, 12}}));
  CHECK_FALSE(sub_torus_axes(t, std::vector<group>{{5}}));
  const auto gpus = topo::build_cluster(topo::test::dgx_h100(1), topo::test::h100());
  CHECK_FALSE(sub_torus_axes(gpus, std::vector<group>{{0, 1, 2, 3}}));
}

TEST_CASE("automatic choice: torus on one slice of several, tree only on even nodes") {
  SECTION("one slice of a two-slice cluster runs the torus algorithm") {
    const auto two = topo::build_cluster(
        topo::test::tpu_cluster("tpu-v5p", "4x4x4", topo::test::v5p_rule(), "2x2x1", 2),
        topo::test::tpu_v5p());
    const auto one = topo::build_cluster(
        topo::test::tpu_cluster("tpu-v5p", "4x4x4", topo::test::v5p_rule(), "2x2x1"),
        topo::test::tpu_v5p());
    auto spec = spec_of(collective_op::all_reduce, 64.0 * 1024 * 1024);
    spec.ranks = 64;
    CHECK(plan_collective(two, {}, spec).algorithm == collective_algorithm::torus);
    spec.algorithm = collective_algorithm::torus;
    CHECK(run_s(two, spec, timing_model::analytical) ==
          Approx(run_s(one, spec, timing_model::analytical)).epsilon(1e-9));
    // Both slices at once, as the data-parallel groups of a layout would be given.
    spec.ranks = 0;
    spec.algorithm = collective_algorithm::automatic;
    spec.groups.resize(2);
    for (int d = 0; d < 128; ++d) spec.groups[static_cast<std::size_t>(d / 64)].push_back(d);
    CHECK(plan_collective(two, {}, spec).algorithm == collective_algorithm::torus);
    // Across the slices (over the DCN) the torus algorithm does not apply.
    spec.groups.clear();
    spec.ranks = 128;
    CHECK(plan_collective(two, {}, spec).algorithm == collective_algorithm::ring);
    spec.algorithm = collective_algorithm::torus;
    CHECK_THROWS_AS(plan_collective(two, {}, spec), std::invalid_argument);
  }
  SECTION("12 ranks on two 8-GPU nodes: ring (tree needs as many ranks on every node)") {
    const auto t = topo::build_cluster(topo::test::dgx_h100(2), topo::test::h100());
    auto spec = spec_of(collective_op::all_reduce, 64.0 * 1024 * 1024);
    spec.ranks = 12;
    CHECK(plan_collective(t, {}, spec).algorithm == collective_algorithm::ring);
    spec.algorithm = collective_algorithm::tree;
    CHECK_THROWS_AS(plan_collective(t, {}, spec), std::invalid_argument);
    spec.ranks = 16;  // even nodes: tree is a candidate again (and wins at this size or not)
    spec.algorithm = collective_algorithm::automatic;
    CHECK_NOTHROW(plan_collective(t, {}, spec));
  }
}
