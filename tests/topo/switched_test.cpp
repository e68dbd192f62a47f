#include <catch2/catch.hpp>

#include "specs.hpp"
#include "topologies/cluster.hpp"
#include "topologies/fat_tree.hpp"

using namespace moesim::topo;
using namespace moesim::topo::test;

TEST_CASE("one HGX node: 8 GPUs on one NVSwitch, one host, no NICs", "[nvswitch]") {
  const topology t = build_cluster(dgx_h100(1), h100());
  CHECK(t.device_count() == 8);
  CHECK(t.count(vertex_kind::nvswitch) == 1);
  CHECK(t.count(vertex_kind::host) == 1);
  CHECK(t.count(vertex_kind::nic) == 0);
  CHECK(t.link_count() == 8 * 2 + 8 * 2);  // port links + PCIe
  const switch_domain& dom = t.domains[0];
  for (int i = 0; i < 8; ++i) {
    const link_info& up = t.link(dom.up[static_cast<std::size_t>(i)]);
    CHECK(up.src == i);
    CHECK(up.kind == link_kind::nvlink);
    CHECK(up.bytes_per_s == 450 * GB);
    CHECK(up.latency_ps + t.link(dom.down[static_cast<std::size_t>(i)]).latency_ps == 470'000);
  }
  CHECK(node_devices(t, 5) == std::vector<device_id>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(nic_of(t, 3) == none);
}

TEST_CASE("GB200 NVL72: 72 GPUs in one NVLink domain, Grace hosts of 2", "[nvswitch]") {
  chip_spec chip = h100();
  chip.name = "gb200";
  chip.scale_up = {18, 50 * GB, 470'000};
  cluster_spec c = dgx_h100(1);
  c.name = "gb200-nvl72";
  c.chip = "gb200";
  c.gpus_per_node = 72;
  c.gpus_per_host = 2;
  const topology t = build_cluster(c, chip);
  CHECK(t.device_count() == 72);
  CHECK(t.count(vertex_kind::host) == 36);
  CHECK(t.count(vertex_kind::nvswitch) == 1);
  CHECK(t.link(t.domains[0].up[71]).bytes_per_s == 900 * GB);
}

TEST_CASE("rail-optimised fat-tree matches the DGX SuperPOD switch counts", "[fat-tree]") {
  struct row {
    int nodes, leaves, spines, cores, tiers;
  };
  // DGX SuperPOD (B200 RA table; H100 RA uses the same SU): SU count -> switch counts.
  for (const row& r : {row{32, 8, 4, 0, 2}, row{64, 16, 8, 0, 2}, row{128, 32, 16, 0, 2},
                       row{256, 64, 32, 0, 2}, row{512, 128, 128, 64, 3}}) {
    const topology t = build_cluster(dgx_h100(r.nodes), h100());
    INFO("nodes " << r.nodes);
    CHECK(t.tree.tiers == r.tiers);
    CHECK(t.count(vertex_kind::leaf) == r.leaves);
    CHECK(t.count(vertex_kind::spine) == r.spines);
    CHECK(t.count(vertex_kind::core) == r.cores);
    CHECK(t.count(vertex_kind::nic) == r.nodes * 8);
    // Node-leaf = leaf-spine (= spine-core) cables at full bisection.
    std::int64_t node_leaf = 0, leaf_spine = 0, spine_core = 0;
    for (const link_info& l : t.links()) {
      const vertex_kind a = t.vertex(l.src).kind, b = t.vertex(l.dst).kind;
      if (a == vertex_kind::nic && b == vertex_kind::leaf) ++node_leaf;
      if (a == vertex_kind::leaf && b == vertex_kind::spine) ++leaf_spine;
      if (a == vertex_kind::spine && b == vertex_kind::core) ++spine_core;
    }
    CHECK(node_leaf == r.nodes * 8);
    CHECK(leaf_spine == (r.nodes / 32) * 8 * 32);
    CHECK(spine_core == (r.tiers == 3 ? r.nodes * 8 : 0));
  }
}

TEST_CASE("fat-tree membership: node, rail, NIC, leaf", "[fat-tree]") {
  const topology t = build_cluster(dgx_h100(40), h100());  // 2 SUs, the second partial
  CHECK(t.device_count() == 320);
  CHECK(t.count(vertex_kind::leaf) == 16);
  for (device_id d : {0, 9, 77, 319}) {
    CHECK(node_of(t, d) == d / 8);
    CHECK(rail_of(t, d) == d % 8);
    const vertex_id nic = nic_of(t, d);
    REQUIRE(nic != none);
    const nic_attachment& att = t.nics[static_cast<std::size_t>(t.vertex(nic).index)];
    CHECK(att.leaf == (d / 8 / 32) * 8 + d % 8);
    CHECK(t.link(t.devices[static_cast<std::size_t>(d)].to_nic).dst == nic);
  }
  CHECK(node_devices(t, 77) == std::vector<device_id>{72, 73, 74, 75, 76, 77, 78, 79});
}

TEST_CASE("oversubscription halves the leaf uplinks", "[fat-tree]") {
  const topology full = build_cluster(dgx_h100(64), h100());
  const topology half = build_cluster(dgx_h100(64, 2), h100());
  CHECK(full.tree.leaf_up[0].size() == 32);
  CHECK(half.tree.leaf_up[0].size() == 16);
  CHECK_THROWS_AS(build_cluster(dgx_h100(64, 3), h100()), std::invalid_argument);  // 32/3
}

TEST_CASE("fat-tree and NVSwitch inputs are checked", "[fat-tree]") {
  cluster_spec c = dgx_h100(4);
  c.scale_out.rails = 3;
  CHECK_THROWS_AS(build_cluster(c, h100()), std::invalid_argument);
  c = dgx_h100(4);
  c.scale_out.switch_radix = 32;  // 32 down + 32 up > 32 ports
  CHECK_THROWS_AS(build_cluster(c, h100()), std::invalid_argument);
  c = dgx_h100(4);
  c.scale_out.tiers = 2;
  c.scale_out.switch_radix = 40;
  c.scale_out.nodes_per_unit = 20;
  c.nodes = 200;  // 10 SUs -> 80 leaves > radix 40: not 2 tiers
  CHECK_THROWS_AS(build_cluster(c, h100()), std::invalid_argument);
  chip_spec pcie_only = h100();
  pcie_only.scale_up = {0, 0, 0};
  pcie_only.efficiency.link.reset();
  CHECK_THROWS_AS(build_cluster(dgx_h100(1), pcie_only), std::invalid_argument);
  chip_spec no_nic = h100();
  no_nic.nic.reset();
  CHECK_NOTHROW(build_cluster(dgx_h100(1), no_nic));
  CHECK_THROWS_AS(build_cluster(dgx_h100(2), no_nic), std::invalid_argument);
}

TEST_CASE("chip validation", "[chip]") {
  CHECK_NOTHROW(validate(h100()));
  chip_spec c = h100();
  c.efficiency.link = 1.2;
  CHECK_THROWS_AS(validate(c), std::invalid_argument);
  c = h100();
  c.price_usd_per_hour = 2.99;
  CHECK_THROWS_AS(validate(c), std::invalid_argument);  // price without a source
  c.price_source = "list";
  CHECK_NOTHROW(validate(c));
  c = h100();
  c.hbm_bytes = 0;
  CHECK_THROWS_AS(validate(c), std::invalid_argument);
  c = h100();
  c.collective.emplace();
  c.collective->ll_efficiency = 0.5;
  c.collective->ll128_efficiency = 0.9375;
  c.collective->ep_link_efficiency = 0.713;
  CHECK_NOTHROW(validate(c));
  c.collective->ep_link_efficiency = 1.5;
  CHECK_THROWS_WITH(validate(c), Catch::Contains("collective.ep_link_efficiency"));
  c.collective->ep_link_efficiency = 0.713;
  c.collective->ring_plateau_factor = 0.5;
  CHECK_THROWS_WITH(validate(c), Catch::Contains("collective.ring_plateau_factor"));
  c.collective->ring_plateau_factor = 1.4;
  c.collective->ll = protocol_costs{6'600'000, 600'000, 2'700'000, 0.0};
  CHECK_THROWS_WITH(validate(c), Catch::Contains("collective.ll.max_bus_bytes_per_s"));
  c.collective->ll->max_bus_bytes_per_s = 141e9;
  c.collective->ep_low_latency_kernel_ps = -1;
  CHECK_THROWS_WITH(validate(c), Catch::Contains("collective.ep_low_latency_kernel_ps"));
  CHECK(parse_chip_kind("tpu") == chip_kind::tpu);
  CHECK_THROWS_AS(parse_chip_kind("npu"), std::invalid_argument);
  CHECK(parse_wrap_rule_kind("full_axis") == wrap_rule_kind::full_axis);
  CHECK_THROWS_AS(parse_wrap_rule_kind("sometimes"), std::invalid_argument);
  CHECK(parse_fabric_kind("nvswitch") == fabric_kind::nvswitch);
}
