#include "topologies/torus.hpp"

#include <catch2/catch.hpp>

#include "specs.hpp"
#include "topologies/cluster.hpp"

using namespace moesim::topo;
using namespace moesim::topo::test;

namespace {

// Directed ICI links of a slice: 2 per cable, (N/k)(k-1+wrap) cables per axis of size k >= 2.
std::int64_t expected_ici_links(const std::vector<int>& dims, const std::vector<bool>& wraps) {
  std::int64_t n = 1;
  for (int k : dims) n *= k;
  std::int64_t cables = 0;
  for (std::size_t a = 0; a < dims.size(); ++a)
    if (dims[a] >= 2) cables += n / dims[a] * (dims[a] - 1 + (wraps[a] ? 1 : 0));
  return 2 * cables;
}

torus_spec spec_of(std::vector<int> dims, std::vector<bool> wraps) {
  const std::size_t n = dims.size();
  return {std::move(dims), std::move(wraps), std::vector<double>(n, 1e9),
          std::vector<std::int64_t>(n, 1000)};
}

}  // namespace

TEST_CASE("wraparound rules follow the TPU generation", "[torus]") {
  SECTION("v4 / v5p / Ironwood: axes whose size is a multiple of 4") {
    CHECK(wraparound(v5p_rule(), {4, 4, 4}) == std::vector<bool>{true, true, true});
    CHECK(wraparound(v5p_rule(), {2, 2, 4}) == std::vector<bool>{false, false, true});
    CHECK(wraparound(v5p_rule(), {8, 16, 16}) == std::vector<bool>{true, true, true});
    CHECK(wraparound(v5p_rule(), {16, 20, 28}) == std::vector<bool>{true, true, true});
    CHECK(wraparound(v5p_rule(), {2, 4, 6}) == std::vector<bool>{false, true, false});
  }
  SECTION("v5e / v6e: only full 16-chip axes") {
    CHECK(wraparound(v5e_rule(), {16, 16}) == std::vector<bool>{true, true});
    CHECK(wraparound(v5e_rule(), {8, 8}) == std::vector<bool>{false, false});
    CHECK(wraparound(v5e_rule(), {8, 16}) == std::vector<bool>{false, true});
    CHECK(wraparound(v5e_rule(), {4, 4}) == std::vector<bool>{false, false});
  }
  SECTION("size-1 axes never wrap, even under 'always'") {
    CHECK(wraparound({wrap_rule_kind::always, 0}, {1, 3}) == std::vector<bool>{false, true});
    CHECK(wraparound({wrap_rule_kind::never, 0}, {4, 4}) == std::vector<bool>{false, false});
  }
}

TEST_CASE("generic torus builder: device and link counts, any number of axes", "[torus]") {
  const std::vector<std::pair<std::vector<int>, std::vector<bool>>> cases = {
      {{4, 4, 4}, {true, true, true}},
      {{2, 2, 4}, {false, false, true}},
      {{8, 8}, {false, false}},
      {{16, 16}, {true, true}},
      {{5}, {true}},
      {{3, 1, 2, 5}, {true, true, true, false}},
      {{2, 2}, {true, true}},
      {{1}, {true}}};
  for (const auto& [dims, wraps] : cases) {
    const topology t = build_torus(spec_of(dims, wraps));
    std::int64_t n = 1;
    for (int k : dims) n *= k;
    CHECK(t.device_count() == n);
    CHECK(t.vertex_count() == n);
    CHECK(t.link_count() == expected_ici_links(dims, wraps));
    for (const link_info& l : t.links()) CHECK(t.link(l.reverse).src == l.dst);
  }
  // 4x4x4 with wraparound: 6 links per chip.
  CHECK(build_torus(spec_of({4, 4, 4}, {true, true, true})).link_count() == 64 * 6);
}

TEST_CASE("torus builder rejects inconsistent specs", "[torus]") {
  CHECK_THROWS_AS(build_torus({{4, 4}, {true}, {1e9, 1e9}, {0, 0}}), std::invalid_argument);
  CHECK_THROWS_AS(build_torus(spec_of({4, 0}, {true, true})), std::invalid_argument);
  CHECK_THROWS_AS(build_torus({{4}, {true}, {0.0}, {0}}), std::invalid_argument);
  CHECK_THROWS_AS(build_torus({{4}, {true}, {1e9}, {-1}}), std::invalid_argument);
  CHECK_THROWS_AS(build_torus(spec_of({}, {})), std::invalid_argument);
}

TEST_CASE("coordinates are x-fastest and devices along an axis are ordered", "[torus]") {
  const topology t = build_torus(spec_of({4, 3, 2}, {true, false, false}));
  CHECK(device_coords(t, 0) == std::vector<int>{0, 0, 0});
  CHECK(device_coords(t, 1) == std::vector<int>{1, 0, 0});
  CHECK(device_coords(t, 4) == std::vector<int>{0, 1, 0});
  CHECK(device_coords(t, 13) == std::vector<int>{1, 0, 1});
  CHECK(devices_along_axis(t, 13, 0) == std::vector<device_id>{12, 13, 14, 15});
  CHECK(devices_along_axis(t, 13, 1) == std::vector<device_id>{13, 17, 21});
  CHECK(devices_along_axis(t, 13, 2) == std::vector<device_id>{1, 13});
  CHECK_THROWS_AS(devices_along_axis(t, 13, 3), std::invalid_argument);
  CHECK_THROWS_AS(devices_along_axis(t, 24, 0), std::invalid_argument);
}

TEST_CASE("TPU clusters: slices, hosts, PCIe and DCN", "[torus][cluster]") {
  SECTION("v5p 4x4x4: 64 chips, 16 hosts of 2x2x1, one PCIe link per chip") {
    const topology t =
        build_cluster(tpu_cluster("tpu-v5p", "4x4x4", v5p_rule(), "2x2x1"), tpu_v5p());
    CHECK(t.device_count() == 64);
    CHECK(t.count(vertex_kind::host) == 16);
    CHECK(t.count(vertex_kind::nic) == 0);
    CHECK(t.link_count() == 64 * 6 + 64 * 2);
    CHECK(t.slices[0].wraps == std::vector<bool>{true, true, true});
    // Chips 0, 1, 4, 5 (x, y in {0, 1}) share host 0.
    for (device_id d : {0, 1, 4, 5})
      CHECK(t.devices[static_cast<std::size_t>(d)].host == t.devices[0].host);
    CHECK(t.devices[2].host != t.devices[0].host);
    const link_info& pcie = t.link(t.devices[5].to_host);
    CHECK(pcie.kind == link_kind::pcie);
    CHECK(pcie.src == 5);
    CHECK(pcie.bytes_per_s == 16 * GB);
  }
  SECTION("v5p 2x2x4 wraps only z") {
    const topology t =
        build_cluster(tpu_cluster("tpu-v5p", "2x2x4", v5p_rule(), "2x2x1"), tpu_v5p());
    CHECK(t.slices[0].wraps == std::vector<bool>{false, false, true});
    CHECK(t.link_count() == expected_ici_links({2, 2, 4}, {false, false, true}) + 16 * 2);
  }
  SECTION("v5e 16x16 wraps, 8x8 does not; hosts of 4x2") {
    const topology big =
        build_cluster(tpu_cluster("tpu-v5e", "16x16", v5e_rule(), "4x2"), tpu_v5e());
    CHECK(big.slices[0].wraps == std::vector<bool>{true, true});
    CHECK(big.count(vertex_kind::host) == 32);
    const topology small =
        build_cluster(tpu_cluster("tpu-v5e", "8x8", v5e_rule(), "4x2"), tpu_v5e());
    CHECK(small.slices[0].wraps == std::vector<bool>{false, false});
    CHECK(small.link_count() == 2 * (8 * 7 * 2) + 64 * 2);
  }
  SECTION("two slices joined by DCN through shared host NICs") {
    const topology t =
        build_cluster(tpu_cluster("tpu-v5p", "2x2x4", v5p_rule(), "2x2x1", 2), tpu_v5p());
    CHECK(t.device_count() == 32);
    CHECK(t.slices.size() == 2);
    CHECK(t.count(vertex_kind::host) == 8);
    CHECK(t.count(vertex_kind::nic) == 8);  // 4 chips per NIC = one NIC per host
    CHECK(t.count(vertex_kind::dcn) == 1);
    CHECK(t.devices[16].group == 1);
    CHECK(t.devices[16].local == 0);
    CHECK(t.link(t.nics[0].up).kind == link_kind::dcn);
    CHECK(t.link(t.nics[0].up).bytes_per_s == 25 * GB);
  }
  SECTION("Ironwood 16x24x24: 9216 chips, every axis wraps") {
    const topology t =
        build_cluster(tpu_cluster("tpu-ironwood", "16x24x24", v5p_rule(), "2x2x1"), tpu_ironwood());
    CHECK(t.device_count() == 9216);
    CHECK(t.count(vertex_kind::host) == 2304);
    CHECK(t.link_count() == 9216 * 6 + 9216 * 2);
  }
}

TEST_CASE("cluster validation names the disagreement", "[torus][cluster]") {
  CHECK_THROWS_AS(parse_shape("8x0x4"), std::invalid_argument);
  CHECK_THROWS_AS(parse_shape("8xx4"), std::invalid_argument);
  CHECK_THROWS_AS(parse_shape("8x4 "), std::invalid_argument);
  CHECK(parse_shape("8x16x16") == std::vector<int>{8, 16, 16});
  CHECK(format_shape({8, 16, 16}) == "8x16x16");
  // Host blocks must tile the slice.
  CHECK_THROWS_AS(build_cluster(tpu_cluster("tpu-v5p", "3x4x4", v5p_rule(), "2x2x1"), tpu_v5p()),
                  std::invalid_argument);
  // A 3-D torus needs 6 ICI links per chip; v5e has 4.
  CHECK_THROWS_AS(build_cluster(tpu_cluster("tpu-v5e", "4x4x4", v5p_rule(), "2x2x1"), tpu_v5e()),
                  std::invalid_argument);
  // The cluster names another chip.
  CHECK_THROWS_AS(build_cluster(tpu_cluster("tpu-v5e", "4x4", v5e_rule(), "2x2"), tpu_v5p()),
                  std::invalid_argument);
  try {
    (void)build_cluster(tpu_cluster("tpu-v5p", "3x4x4", v5p_rule(), "2x2x1"), tpu_v5p());
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(e.what(), Catch::Contains("3x4x4") && Catch::Contains("2x2x1"));
  }
}
