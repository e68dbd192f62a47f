#include "topologies/routing.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "specs.hpp"
#include "topologies/cluster.hpp"
#include "topologies/torus.hpp"

using namespace moesim::topo;
using namespace moesim::topo::test;

namespace {

// The path is a chain of links from src to dst.
void check_chain(const topology& t, const path& p, device_id src, device_id dst) {
  REQUIRE_FALSE(p.empty());
  CHECK(t.link(p.front()).src == src);
  CHECK(t.link(p.back()).dst == dst);
  for (std::size_t i = 1; i < p.size(); ++i) CHECK(t.link(p[i - 1]).dst == t.link(p[i]).src);
}

// Which axis a device-to-device ICI link moves along (exactly one coordinate changes).
int axis_of(const topology& t, link_id l) {
  const std::vector<int> a = device_coords(t, t.link(l).src);
  const std::vector<int> b = device_coords(t, t.link(l).dst);
  int axis = -1, changed = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) {
      axis = static_cast<int>(i);
      ++changed;
    }
  CHECK(changed == 1);
  return axis;
}

}  // namespace

TEST_CASE("torus routes: dimension order, shortest direction, hop count = torus distance",
          "[routing][torus]") {
  for (const auto& shape : {"4x4x4", "2x2x4", "8x4x6", "5x3x4"}) {
    const topology t = build_cluster(tpu_cluster("tpu-v5p", shape, v5p_rule(), "1x1x1"), tpu_v5p());
    const router r(t);
    const torus_slice& s = t.slices[0];
    INFO("shape " << shape);
    for (device_id a = 0; a < t.device_count(); a += 3)
      for (device_id b = 0; b < t.device_count(); b += 5) {
        const path p = r.route(a, b);
        CHECK(static_cast<int>(p.size()) == torus_distance(s, a, b));
        if (a == b) continue;
        check_chain(t, p, a, b);
        int last_axis = -1;
        for (link_id l : p) {
          CHECK(t.link(l).kind == link_kind::ici);
          const int axis = axis_of(t, l);
          CHECK(axis >= last_axis);
          last_axis = axis;
        }
      }
  }
}

TEST_CASE("torus routes: wraparound shortcut and deterministic ties", "[routing][torus]") {
  const topology t = build_cluster(tpu_cluster("tpu-v5p", "8x4x4", v5p_rule(), "2x2x1"), tpu_v5p());
  const router r(t);
  const torus_slice& s = t.slices[0];
  // x 0 -> 7 on a wrapping 8-ring: one hop backwards over the wrap link.
  const path back = r.route(0, 7);
  REQUIRE(back.size() == 1);
  CHECK(back[0] == s.neighbour_link(0, 0, true));
  // x 0 -> 4 is a tie (4 either way): from an even x with flow id 0 it goes + (0->1->2->3->4).
  const path tie = r.route(0, 4);
  REQUIRE(tie.size() == 4);
  CHECK(tie[0] == s.neighbour_link(0, 0, false));
  CHECK(t.link(tie[1]).dst == 2);
  // Same again: routes are a pure function of (src, dst, flow id).
  CHECK(r.route(0, 4) == tie);
  // From an odd x the tie goes - (1->0->7->6->5), and an odd flow id flips either.
  const path odd = r.route(1, 5);
  REQUIRE(odd.size() == 4);
  CHECK(odd[0] == s.neighbour_link(1, 0, true));
  CHECK(t.link(odd[1]).dst == 7);
  CHECK(r.route(0, 4, 1)[0] == s.neighbour_link(0, 0, true));
  CHECK(r.route(1, 5, 1)[0] == s.neighbour_link(1, 0, false));
  // Only the parity of the tied axis's own coordinate counts: y = 1 does not flip the x tie.
  CHECK(r.route(8, 12)[0] == s.neighbour_link(8, 0, false));
  // Not a tie: the flow id changes nothing.
  CHECK(r.route(1, 4, 1) == r.route(1, 4, 0));
  // Without wraparound (v5p 2x2x4 on x), 1 -> 0 goes - along x.
  const topology m = build_cluster(tpu_cluster("tpu-v5p", "2x2x4", v5p_rule(), "2x2x1"), tpu_v5p());
  const path p = router(m).route(1, 0);
  REQUIRE(p.size() == 1);
  CHECK(p[0] == m.slices[0].neighbour_link(1, 0, true));
}

TEST_CASE("Ironwood 16x24x24: routes computed on demand", "[routing][torus]") {
  const topology t =
      build_cluster(tpu_cluster("tpu-ironwood", "16x24x24", v5p_rule(), "2x2x1"), tpu_ironwood());
  const router r(t);
  path p;
  for (device_id a = 0; a < t.device_count(); a += 997) {
    const device_id b = (a * 7919 + 13) % t.device_count();
    r.route_into(a, b, 0, p);
    CHECK(static_cast<int>(p.size()) == torus_distance(t.slices[0], a, b));
    if (a != b) check_chain(t, p, a, b);
  }
  // The farthest chip from the corner: 8 + 12 + 12 hops.
  CHECK(r.route(0, 8 + 16 * (12 + 24 * 12)).size() == 32);
}

TEST_CASE("multislice routes go device -> NIC -> DCN -> NIC -> device", "[routing][torus]") {
  const topology t =
      build_cluster(tpu_cluster("tpu-v5p", "2x2x4", v5p_rule(), "2x2x1", 2), tpu_v5p());
  const router r(t);
  const path p = r.route(3, 16 + 9);
  REQUIRE(p.size() == 4);
  check_chain(t, p, 3, 25);
  CHECK(t.link(p[0]).kind == link_kind::pcie);
  CHECK(t.link(p[1]).kind == link_kind::dcn);
  CHECK(t.link(p[1]).dst == t.dcn_switch);
  CHECK(t.link(p[2]).kind == link_kind::dcn);
  CHECK(t.link(p[3]).kind == link_kind::pcie);
  // Inside a slice: ICI only.
  for (link_id l : r.route(16, 31)) CHECK(t.link(l).kind == link_kind::ici);
}

TEST_CASE("NVSwitch routes: GPU -> switch -> GPU", "[routing][nvswitch]") {
  const topology t = build_cluster(dgx_h100(2), h100());
  const router r(t);
  const path p = r.route(2, 6);
  REQUIRE(p.size() == 2);
  CHECK(p[0] == t.domains[0].up[2]);
  CHECK(p[1] == t.domains[0].down[6]);
  CHECK(r.route(9, 9).empty());
  CHECK(t.link(r.to_host(9)).dst == t.devices[9].host);
  CHECK(t.link(r.from_host(9)).src == t.devices[9].host);
  CHECK_THROWS_AS(r.route(0, 16), std::invalid_argument);
}

TEST_CASE("fat-tree routes: same rail stays on the leaf, others cross a spine",
          "[routing][fat-tree]") {
  const topology t = build_cluster(dgx_h100(4), h100());
  const router r(t);
  // GPU 1 of node 0 -> GPU 1 of node 3: same rail, same leaf: GPU, NIC, leaf, NIC, GPU.
  const path same_rail = r.route(1, 3 * 8 + 1);
  CHECK(same_rail.size() == 4);
  check_chain(t, same_rail, 1, 25);
  // GPU 1 of node 0 -> GPU 2 of node 3: leaf -> spine -> leaf.
  const path cross = r.route(1, 3 * 8 + 2, 5);
  REQUIRE(cross.size() == 6);
  check_chain(t, cross, 1, 26);
  CHECK(t.vertex(t.link(cross[2]).dst).kind == vertex_kind::spine);
}

TEST_CASE("ECMP spreads flows over all spines, deterministically", "[routing][fat-tree]") {
  const topology t = build_cluster(dgx_h100(64), h100());  // 2 SUs: 16 leaves, 8 spines
  const router r(t);
  std::map<vertex_id, int> per_spine;
  std::set<link_id> uplinks;
  const device_id src = 0, dst = 40 * 8;  // rail 0 of SU 0 -> rail 0 of SU 1
  for (std::uint64_t flow = 0; flow < 800; ++flow) {
    const path p = r.route(src, dst, flow);
    REQUIRE(p.size() == 6);
    check_chain(t, p, src, dst);
    per_spine[t.link(p[2]).dst]++;
    uplinks.insert(p[2]);
    CHECK(r.route(src, dst, flow) == p);
  }
  CHECK(per_spine.size() == 8);
  for (const auto& [spine, n] : per_spine) CHECK(n > 50);  // 100 expected per spine
  CHECK(uplinks.size() == 32);                             // every uplink of the leaf used
  // Different (src, dst) pairs with the same flow id also spread.
  std::set<vertex_id> spines;
  for (device_id s = 0; s < 256; s += 8) spines.insert(t.link(r.route(s, s + 256, 0)[2]).dst);
  CHECK(spines.size() > 4);
}

TEST_CASE("3-tier fat-tree routes cross a core between pods", "[routing][fat-tree]") {
  cluster_spec c = dgx_h100(32);
  c.scale_out.nodes_per_unit = 8;  // leaves: 8 down, 8 up
  c.scale_out.switch_radix = 16;   // 32 leaves > 16: 3 tiers, pods of one SU
  const topology t = build_cluster(c, h100());
  REQUIRE(t.tree.tiers == 3);
  CHECK(t.tree.pods == 4);
  CHECK(t.count(vertex_kind::leaf) == 32);
  CHECK(t.count(vertex_kind::spine) == 32);
  CHECK(t.count(vertex_kind::core) == 16);
  const router r(t);
  std::set<vertex_id> cores;
  for (std::uint64_t flow = 0; flow < 200; ++flow) {
    const path p = r.route(3, 255, flow);  // pod 0 -> pod 3
    REQUIRE(p.size() == 8);
    check_chain(t, p, 3, 255);
    CHECK(t.vertex(t.link(p[3]).dst).kind == vertex_kind::core);
    cores.insert(t.link(p[3]).dst);
  }
  CHECK(cores.size() == 16);
  CHECK(r.route(3, 8 * 7 + 4).size() == 6);  // same pod: no core
}

TEST_CASE("path cache returns the router's paths and keeps them", "[routing]") {
  const topology t = build_cluster(dgx_h100(4), h100());
  const router r(t);
  path_cache cache(r);
  const auto first = cache.get(1, 26, 3);
  CHECK(path(first.begin(), first.end()) == r.route(1, 26, 3));
  (void)cache.get(1, 26, 3);
  (void)cache.get(26, 1, 3);
  CHECK(cache.size() == 2);
  CHECK(cache.get(1, 26, 3).data() == first.data());
  cache.clear();
  CHECK(cache.size() == 0);
  CHECK(ecmp_hash(1, 2, 3, 4) == ecmp_hash(1, 2, 3, 4));
  CHECK(ecmp_hash(1, 2, 3, 4) != ecmp_hash(2, 1, 3, 4));
}
