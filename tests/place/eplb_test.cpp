// EPLB against DeepSeek's README example (deepseek-ai/EPLB README.md, commit d52c72d): the
// printed phy2log must come out bit-exactly.
#include <catch2/catch.hpp>
#include <vector>

#include "sim/place/placement.hpp"

namespace place = moesim::place;

namespace {

place::problem readme_problem() {
  place::problem p;
  p.loads = {{90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86},
             {20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27}};
  p.physical_experts = 16;
  p.groups = 4;
  p.nodes = 2;
  p.devices = 8;
  return p;
}

}  // namespace

TEST_CASE("eplb reproduces the EPLB README's phy2log bit-exactly") {
  const place::placement x = place::place(place::strategy::eplb, readme_problem());
  const std::vector<std::vector<int>> expected = {
      {5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1},
      {7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1}};
  CHECK(x.phy2log == expected);
  // logcnt and log2phy follow from it (the README prints neither): the copies counted, the
  // slots listed ascending, padded with -1 to the most copies (2).
  const std::vector<std::vector<int>> logcnt = {{1, 2, 1, 1, 2, 2, 1, 1, 1, 1, 2, 1},
                                                {1, 2, 1, 1, 1, 2, 2, 1, 2, 1, 1, 1}};
  CHECK(x.logcnt == logcnt);
  CHECK(x.log2phy[0][1] == std::vector<int>{13, 15});
  CHECK(x.log2phy[0][5] == std::vector<int>{0, 2});
  CHECK(x.log2phy[0][0] == std::vector<int>{12, -1});
  CHECK(x.log2phy[1][8] == std::vector<int>{3, 6});
  // Per-GPU loads: each GPU's two slots, an expert's load split evenly over its copies.
  CHECK(x.device_load[0] ==
        std::vector<double>{121.5, 86.5, 125.0, 113.0, 147.5, 131.5, 156.0, 152.0});
}

TEST_CASE("eplb hierarchical vs global: groups that the nodes do not divide go global") {
  place::problem p = readme_problem();
  p.groups = 3;  // 3 % 2 != 0: the global policy (one group, one node)
  const place::placement global = place::place(place::strategy::eplb, p);
  p.groups = 1;
  p.nodes = 1;
  const place::placement one_node = place::place(place::strategy::eplb, p);
  CHECK(global.phy2log == one_node.phy2log);
}

TEST_CASE("eplb hand-solved: global packing, heaviest first onto the lightest GPU") {
  place::problem p;
  p.loads = {{4, 3, 1, 2}, {5, 5, 5, 5}};
  p.physical_experts = 4;
  p.devices = 2;
  const place::placement x = place::place(place::strategy::eplb, p);
  // Layer 0: 4 -> gpu0, 3 -> gpu1, 2 -> gpu1 (3 < 4), 1 -> gpu0 (the one with room).
  CHECK(x.phy2log[0] == std::vector<int>{0, 2, 1, 3});
  // Layer 1: all tie, the sort is stable and ties go to the lowest GPU: 0, 1, 2 -> gpu0, 3.
  CHECK(x.phy2log[1] == std::vector<int>{0, 2, 1, 3});
  // One slot per GPU: eplb.py skips the sort and puts item i on GPU i.
  p.devices = 4;
  CHECK(place::place(place::strategy::eplb, p).phy2log[0] == std::vector<int>{0, 1, 2, 3});
}

TEST_CASE("eplb replicas go to the largest load per copy, the first such expert on ties") {
  place::problem p;
  p.loads = {{12, 2, 6, 4}};
  p.physical_experts = 6;
  p.devices = 1;
  // 12/1 -> 2 copies (6 each); then 6 (expert 0) ties 6 (expert 2): expert 0 again.
  CHECK(place::place(place::strategy::eplb, p).logcnt[0] == std::vector<int>{3, 1, 1, 1});
}
