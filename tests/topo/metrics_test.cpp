#include "topologies/metrics.hpp"

#include <catch2/catch.hpp>
#include <sstream>

#include "specs.hpp"
#include "topologies/cluster.hpp"
#include "topologies/torus.hpp"

using namespace moesim::topo;
using namespace moesim::topo::test;

TEST_CASE("diameter: closed forms and the exhaustive BFS", "[metrics]") {
  SECTION("k-ary n-cube with wraparound: n * floor(k/2)") {
    const topology t =
        build_cluster(tpu_cluster("tpu-v5p", "4x4x4", v5p_rule(), "2x2x1"), tpu_v5p());
    CHECK(diameter(t) == 6);
    CHECK(diameter_exhaustive(t) == 6);
  }
  SECTION("mesh: sum of (k - 1); hosts do not shorten paths") {
    const topology t = build_cluster(tpu_cluster("tpu-v5e", "8x8", v5e_rule(), "4x2"), tpu_v5e());
    CHECK(diameter(t) == 14);
    CHECK(diameter_exhaustive(t) == 14);
  }
  SECTION("mixed wrap (2x2x4 v5p): 1 + 1 + 2") {
    const topology t =
        build_cluster(tpu_cluster("tpu-v5p", "2x2x4", v5p_rule(), "2x2x1"), tpu_v5p());
    CHECK(diameter(t) == 4);
    CHECK(diameter_exhaustive(t) == 4);
  }
  SECTION("odd ring and odd mesh") {
    const topology t = build_torus({{5, 3}, {true, false}, {1e9, 1e9}, {0, 0}});
    CHECK(diameter(t) == 2 + 2);
    CHECK(diameter_exhaustive(t) == 4);
  }
  SECTION("multislice: ICI inside a slice, NIC-DCN-NIC (4 hops) between slices") {
    // The DCN is no shortcut between two chips of one slice: the router keeps them on ICI.
    const topology t =
        build_cluster(tpu_cluster("tpu-v5p", "4x4x4", v5p_rule(), "2x2x1", 2), tpu_v5p());
    CHECK(diameter(t) == 6);
    CHECK(diameter_exhaustive(t) == 6);
    const topology big =
        build_cluster(tpu_cluster("tpu-v5p", "8x8x8", v5p_rule(), "2x2x1", 2), tpu_v5p());
    CHECK(diameter(big) == 12);
    // Slices smaller than the DCN path: 2x2x1 chips are 2 ICI hops apart, other slices 4.
    const topology small =
        build_cluster(tpu_cluster("tpu-v5p", "2x2x1", v5p_rule(), "2x2x1", 3), tpu_v5p());
    CHECK(diameter(small) == 4);
    CHECK(diameter_exhaustive(small) == 4);
    const auto d = hop_distances(big, 0);
    CHECK(d[static_cast<std::size_t>(4 + 8 * (4 + 8 * 4))] == 12);  // (4, 4, 4): ICI
    CHECK(d[512] == 4);                                             // another slice
  }
  SECTION("GPU clusters: 2 hops in a node, 4 on a leaf, 6 across spines, 8 across cores") {
    CHECK(diameter(build_cluster(dgx_h100(1), h100())) == 2);
    const topology leaf_only = build_cluster(dgx_h100(3), h100());
    // Rails differ across GPUs: different leaves, so 6 hops via a spine.
    CHECK(diameter(leaf_only) == 6);
    CHECK(diameter_exhaustive(leaf_only) == 6);
    const topology two_units = build_cluster(dgx_h100(40), h100());
    CHECK(diameter(two_units) == 6);
    cluster_spec c = dgx_h100(20);
    c.scale_out.nodes_per_unit = 8;
    c.scale_out.switch_radix = 16;
    const topology three_tier = build_cluster(c, h100());
    CHECK(diameter(three_tier) == 8);
    CHECK(diameter_exhaustive(three_tier) == 8);
  }
}

TEST_CASE("bisection of tori equals the closed form", "[metrics]") {
  // k-ary n-cube, N devices, halving an axis of size k cuts (wrap ? 2 : 1) * N / k links per
  // direction; the bisection is the smallest over the axes.
  SECTION("v5p 4x4x4 torus: 2 * 64/4 links of 90 GB/s") {
    const topology t =
        build_cluster(tpu_cluster("tpu-v5p", "4x4x4", v5p_rule(), "2x2x1"), tpu_v5p());
    const bisection_result b = bisection(t);
    CHECK(b.bytes_per_s == Approx(2.0 * 64 / 4 * 90 * GB).epsilon(1e-12));
  }
  SECTION("v5e 16x16 torus: 2 * 256/16 links of 45 GB/s") {
    const topology t = build_cluster(tpu_cluster("tpu-v5e", "16x16", v5e_rule(), "4x2"), tpu_v5e());
    CHECK(bisection(t).bytes_per_s == Approx(2.0 * 256 / 16 * 45 * GB).epsilon(1e-12));
  }
  SECTION("v5e 8x8 mesh: 64/8 links") {
    const topology t = build_cluster(tpu_cluster("tpu-v5e", "8x8", v5e_rule(), "4x2"), tpu_v5e());
    CHECK(bisection(t).bytes_per_s == Approx(8 * 45 * GB).epsilon(1e-12));
  }
  SECTION("v5p 2x2x4: 8 links whichever axis is halved") {
    // Halving x (size 2, no wrap) cuts N/k = 8 links; halving z (size 4, wrap) cuts 2*16/4 = 8.
    // Host blocks straddle the x cut, but hosts are not relays, so PCIe adds nothing.
    const topology t =
        build_cluster(tpu_cluster("tpu-v5p", "2x2x4", v5p_rule(), "2x2x1"), tpu_v5p());
    CHECK(bisection(t).bytes_per_s == Approx(8 * 90 * GB).epsilon(1e-12));
  }
  SECTION("per-axis bandwidth: the weakest axis wins") {
    const topology t = build_torus({{4, 4}, {true, true}, {10 * GB, 30 * GB}, {0, 0}});
    const bisection_result b = bisection(t);
    CHECK(b.bytes_per_s == Approx(2.0 * 16 / 4 * 10 * GB).epsilon(1e-12));
    CHECK(b.cut == "axis 0 halves");
  }
  SECTION("two slices: DCN NICs bound the slice cut") {
    const topology t =
        build_cluster(tpu_cluster("tpu-v5p", "4x4x4", v5p_rule(), "2x2x1", 2), tpu_v5p());
    const bisection_result b = bisection(t);
    CHECK(b.bytes_per_s == Approx(16 * 25 * GB).epsilon(1e-12));  // 16 host NICs of one slice
    CHECK(b.cut == "slices 0-0 | 1-1");
  }
}

TEST_CASE("bisection of fat-trees: N/2 NICs when full, less when oversubscribed", "[metrics]") {
  CHECK(bisection(build_cluster(dgx_h100(4), h100())).bytes_per_s ==
        Approx(16 * 50 * GB).epsilon(1e-12));
  CHECK(bisection(build_cluster(dgx_h100(64), h100())).bytes_per_s ==
        Approx(256 * 50 * GB).epsilon(1e-12));
  // 2:1 at the leaves: the 8 leaves of one SU have 8 * 16 uplinks.
  CHECK(bisection(build_cluster(dgx_h100(64, 2), h100())).bytes_per_s ==
        Approx(128 * 50 * GB).epsilon(1e-12));
  // 3 tiers, full: still N/2 NICs.
  cluster_spec c = dgx_h100(32);
  c.scale_out.nodes_per_unit = 8;
  c.scale_out.switch_radix = 16;
  CHECK(bisection(build_cluster(c, h100())).bytes_per_s == Approx(128 * 50 * GB).epsilon(1e-12));
  // One node: half the GPUs' NVSwitch ports.
  CHECK(bisection(build_cluster(dgx_h100(1), h100())).bytes_per_s ==
        Approx(4 * 450 * GB).epsilon(1e-12));
}

TEST_CASE("max-flow of an explicit cut on a small graph", "[metrics]") {
  // Two devices joined directly (5 GB/s) and through a switch (2 + 3 GB/s bottleneck 2).
  topology t;
  const vertex_id a = t.add_vertex(vertex_kind::device);
  const vertex_id b = t.add_vertex(vertex_kind::device);
  const vertex_id s = t.add_vertex(vertex_kind::leaf);
  const vertex_id h = t.add_vertex(vertex_kind::host);
  t.add_duplex_link(a, b, link_kind::ib, 5 * GB, 0);
  t.add_duplex_link(a, s, link_kind::ib, 2 * GB, 0);
  t.add_duplex_link(s, b, link_kind::ib, 3 * GB, 0);
  t.add_duplex_link(a, h, link_kind::pcie, 100 * GB, 0);  // hosts are not relays
  t.add_duplex_link(h, b, link_kind::pcie, 100 * GB, 0);
  const std::vector<std::uint8_t> side{0, 1};
  CHECK(max_flow_bytes_per_s(t, side) == Approx(7 * GB));
  CHECK(bisection(t).bytes_per_s == Approx(7 * GB));
  CHECK_THROWS_AS(t.add_vertex(vertex_kind::device), std::logic_error);
  CHECK_THROWS_AS(t.add_duplex_link(a, a, link_kind::ib, 1, 0), std::invalid_argument);
}

TEST_CASE("Graphviz export names every vertex and link", "[metrics]") {
  const topology t = build_cluster(dgx_h100(2), h100());
  std::ostringstream dot;
  write_graphviz(dot, t);
  const std::string text = dot.str();
  CHECK(text.rfind("digraph", 0) == 0);
  for (vertex_id v = 0; v < t.vertex_count(); ++v)
    CHECK(text.find("[label=\"" + t.name(v) + "\"]") != std::string::npos);
  std::size_t edges = 0;
  for (std::size_t pos = text.find("->"); pos != std::string::npos; pos = text.find("->", pos + 2))
    ++edges;
  CHECK(edges == static_cast<std::size_t>(t.link_count()));
  CHECK(text.find("nvlink 450 GB/s") != std::string::npos);
}

TEST_CASE("summary collects the figures", "[metrics]") {
  const topology t = build_cluster(dgx_h100(4), h100());
  const topology_summary s = summarize(t);
  CHECK(s.devices == 32);
  CHECK(s.vertices == t.vertex_count());
  CHECK(s.links == t.link_count());
  CHECK(s.hosts == 4);
  CHECK(s.nics == 32);
  CHECK(s.switches == 4 + 8 + 4);  // NVSwitches, leaves, spines
  CHECK(s.diameter_hops == 6);
  CHECK(s.bisection_bytes_per_s == Approx(16 * 50 * GB));
  CHECK(s.bisection_cut == "nodes 0-1 | 2-3");
}
