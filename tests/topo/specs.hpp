#pragma once
// Chip and cluster specs for the topology tests, with the values of the YAML presets in
// topologies/presets (the YAML loader lives in sim/io; these tests must not depend on it).
#include "topologies/chip_spec.hpp"
#include "topologies/cluster_spec.hpp"

namespace moesim::topo::test {

inline constexpr double GB = 1e9;
inline constexpr std::int64_t us = 1'000'000;

inline chip_spec tpu_chip(const std::string& name, int links, double link_bytes_per_s,
                          int chips_per_nic, double nic_bytes_per_s) {
  chip_spec c;
  c.name = name;
  c.source = "test";
  c.kind = chip_kind::tpu;
  c.peak_flops_per_s.bf16 = 459e12;
  c.hbm_bytes = 95.0 * (1ull << 30);
  c.hbm_bytes_per_s = 2.765e12;
  c.scale_up = {links, link_bytes_per_s, 1 * us};
  c.host_link = {"PCIe", 0, 16 * GB, 1 * us};
  c.nic = nic_spec{"host NIC", chips_per_nic, nic_bytes_per_s, 1 * us};
  return c;
}
inline chip_spec tpu_v5p() {
  return tpu_chip("tpu-v5p", 6, 90 * GB, 4, 25 * GB);
}
inline chip_spec tpu_v5e() {
  return tpu_chip("tpu-v5e", 4, 45 * GB, 4, 12.5 * GB);
}
inline chip_spec tpu_ironwood() {
  return tpu_chip("tpu-ironwood", 6, 100 * GB, 2, 12.5 * GB);
}

inline chip_spec h100() {
  chip_spec c;
  c.name = "h100";
  c.source = "test";
  c.kind = chip_kind::gpu;
  c.peak_flops_per_s = {989e12, 989e12, 1979e12, 1979e12};
  c.hbm_bytes = 80e9;
  c.hbm_bytes_per_s = 3.35e12;
  c.scale_up = {18, 25 * GB, 470'000};
  c.host_link = {"PCIe Gen5 x16", 5, 64 * GB, 1 * us};
  c.nic = nic_spec{"ConnectX-7 400 Gb/s", 1, 50 * GB, 1'350'000};
  c.efficiency.link = 0.822;
  return c;
}

inline cluster_spec tpu_cluster(const std::string& chip, const std::string& shape, wrap_rule rule,
                                const std::string& host_shape, int slices = 1) {
  cluster_spec c;
  c.name = chip;
  c.source = "test";
  c.chip = chip;
  c.fabric = fabric_kind::torus;
  c.shape = parse_shape(shape);
  c.wraparound = rule;
  c.host_shape = parse_shape(host_shape);
  c.slices = slices;
  c.dcn_latency_ps = 10 * us;
  return c;
}
inline wrap_rule v5p_rule() {
  return {wrap_rule_kind::multiple_of, 4};
}
inline wrap_rule v5e_rule() {
  return {wrap_rule_kind::full_axis, 16};
}

inline cluster_spec dgx_h100(int nodes, double oversubscription = 1) {
  cluster_spec c;
  c.name = "dgx-h100";
  c.source = "test";
  c.chip = "h100";
  c.fabric = fabric_kind::nvswitch;
  c.nodes = nodes;
  c.gpus_per_node = 8;
  c.gpus_per_host = 8;
  c.scale_out = {0, 32, 64, oversubscription, 8, 50 * GB, 330'000};
  return c;
}

}  // namespace moesim::topo::test
