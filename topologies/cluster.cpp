#include "topologies/cluster.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "topologies/fat_tree.hpp"
#include "topologies/torus.hpp"

namespace moesim::topo {

namespace {

void attach_host(topology& topo, device_id d, vertex_id host, const chip_spec& chip) {
  // The host link carries copies (cudaMemcpy), at the copy rate the preset measured.
  const link_id l = topo.add_duplex_link(d, host, link_kind::pcie,
                                         chip.host_link.achievable_bytes_per_s(),
                                         chip.host_link.latency_ps);
  device_attachment& att = topo.devices[static_cast<std::size_t>(d)];
  att.host = host;
  att.to_host = l;
  att.from_host = l + 1;
}

vertex_id add_nic(topology& topo) {
  const vertex_id nic = topo.add_vertex(vertex_kind::nic);
  topo.nics.push_back({nic, none, none, none});
  return nic;
}

const nic_spec& require_nic(const cluster_spec& c, const chip_spec& chip) {
  if (!chip.nic)
    throw std::invalid_argument("cluster '" + c.name + "': joining several " +
                                (c.fabric == fabric_kind::torus ? "slices" : "nodes") +
                                " needs a NIC, but chip '" + chip.name + "' has no nic entry");
  return *chip.nic;
}

void attach_nic(topology& topo, device_id d, vertex_id nic, const chip_spec& chip) {
  // The device <-> NIC leg is PCIe (GPUDirect RDMA on GPUs, host PCIe on TPUs).
  const link_id l = topo.add_duplex_link(d, nic, link_kind::pcie, chip.host_link.bytes_per_s,
                                         chip.nic->latency_ps);
  device_attachment& att = topo.devices[static_cast<std::size_t>(d)];
  att.nic = nic;
  att.to_nic = l;
  att.from_nic = l + 1;
}

topology build_torus_cluster(const cluster_spec& c, const chip_spec& chip) {
  const std::size_t axes = c.shape.size();
  int active_axes = 0;
  for (int k : c.shape) active_axes += k > 1 ? 1 : 0;
  if (chip.scale_up.links_per_chip < 2 * active_axes)
    throw std::invalid_argument("cluster '" + c.name + "': a torus with " +
                                std::to_string(active_axes) + " axes longer than 1 needs " +
                                std::to_string(2 * active_axes) + " ICI links per chip, chip '" +
                                chip.name + "' has " +
                                std::to_string(chip.scale_up.links_per_chip));
  topology topo;
  topo.family = topology_family::torus;
  topo.label = c.name + " " + format_shape(c.shape) +
               (c.slices > 1 ? " x" + std::to_string(c.slices) + " slices" : "");
  const torus_spec spec{c.shape, wraparound(c.wraparound, c.shape),
                        std::vector<double>(axes, chip.scale_up.link_bytes_per_s),
                        std::vector<std::int64_t>(axes, chip.scale_up.hop_latency_ps)};
  for (int s = 0; s < c.slices; ++s) add_torus_slice(topo, spec);

  // Hosts: blocks of host_shape (clipped to the slice), numbered slice-major, x fastest.
  std::vector<int> block(axes), blocks_per_axis(axes);
  int hosts_per_slice = 1;
  for (std::size_t a = 0; a < axes; ++a) {
    block[a] = std::min(c.host_shape[a], c.shape[a]);
    blocks_per_axis[a] = c.shape[a] / block[a];
    hosts_per_slice *= blocks_per_axis[a];
  }
  int chips_per_host = 1;
  for (int b : block) chips_per_host *= b;
  const int chips_per_nic =
      c.slices > 1 ? std::min(require_nic(c, chip).chips_per_nic, chips_per_host) : 1;
  if (chips_per_host % chips_per_nic != 0)
    throw std::invalid_argument("cluster '" + c.name + "': chip.nic.chips_per_nic " +
                                std::to_string(chips_per_nic) + " does not divide the " +
                                std::to_string(chips_per_host) + " chips of a host");
  std::vector<std::vector<device_id>> host_devices(
      static_cast<std::size_t>(hosts_per_slice * c.slices));
  for (const torus_slice& slice : topo.slices) {
    const auto slice_index = static_cast<int>(&slice - topo.slices.data());
    for (std::int32_t local = 0; local < slice.device_count; ++local) {
      const std::vector<int> xs = slice.coords(local);
      int host = 0;
      for (std::size_t a = axes; a-- > 0;) host = host * blocks_per_axis[a] + xs[a] / block[a];
      host_devices[static_cast<std::size_t>(slice_index * hosts_per_slice + host)].push_back(
          slice.first_device + local);
    }
  }
  for (const auto& members : host_devices) {
    const vertex_id host = topo.add_vertex(vertex_kind::host);
    for (device_id d : members) attach_host(topo, d, host, chip);
  }
  if (c.slices > 1) {
    std::vector<vertex_id> nics;
    for (const auto& members : host_devices)
      for (std::size_t i = 0; i < members.size(); ++i) {
        if (i % static_cast<std::size_t>(chips_per_nic) == 0) nics.push_back(add_nic(topo));
        attach_nic(topo, members[i], nics.back(), chip);
      }
    topo.dcn_switch = topo.add_vertex(vertex_kind::dcn);
    for (vertex_id nic : nics) {
      const link_id up = topo.add_duplex_link(nic, topo.dcn_switch, link_kind::dcn,
                                              chip.nic->bytes_per_s, c.dcn_latency_ps, 0);
      nic_attachment& att = topo.nics[static_cast<std::size_t>(topo.vertex(nic).index)];
      att.up = up;
      att.down = up + 1;
    }
  }
  // Slices are identical and the corner of a slice has the largest ICI eccentricity; with a
  // DCN every device is at most 4 hops (device, NIC, DCN, NIC, device) from every other.
  topo.eccentricity_sources = {0};
  return topo;
}

topology build_switched_cluster(const cluster_spec& c, const chip_spec& chip) {
  // A lone PCIe card (a one-GPU workstation) is its own domain: nothing crosses its switch.
  const bool lone = c.nodes == 1 && c.gpus_per_node == 1;
  if (chip.scale_up.links_per_chip < 1 && !lone)
    throw std::invalid_argument("cluster '" + c.name + "': chip '" + chip.name +
                                "' has no scale-up links, so it cannot form an NVSwitch domain");
  const int per_node = c.gpus_per_node;
  const int chips_per_nic = c.nodes > 1 ? require_nic(c, chip).chips_per_nic : 1;
  if (per_node % chips_per_nic != 0)
    throw std::invalid_argument("cluster '" + c.name + "': chip.nic.chips_per_nic " +
                                std::to_string(chips_per_nic) + " does not divide gpus_per_node " +
                                std::to_string(per_node));
  topology topo;
  topo.family = topology_family::switched;
  topo.label = c.name + (c.nodes > 1 ? " x" + std::to_string(c.nodes) + " nodes" : "");
  const auto total = static_cast<std::int64_t>(c.nodes) * per_node;
  if (total > (std::int64_t{1} << 24))
    throw std::invalid_argument("cluster '" + c.name + "': too many GPUs");
  topo.devices.resize(static_cast<std::size_t>(total));
  for (std::int64_t d = 0; d < total; ++d) {
    const vertex_id v = topo.add_vertex(vertex_kind::device);
    topo.devices[static_cast<std::size_t>(v)].group = v / per_node;
    topo.devices[static_cast<std::size_t>(v)].local = v % per_node;
  }
  for (int n = 0; n < c.nodes; ++n)
    for (int h = 0; h < per_node / c.gpus_per_host; ++h) {
      const vertex_id host = topo.add_vertex(vertex_kind::host);
      for (int i = 0; i < c.gpus_per_host; ++i)
        attach_host(topo, n * per_node + h * c.gpus_per_host + i, host, chip);
    }

  std::vector<std::vector<vertex_id>> node_nics;
  if (c.nodes > 1) {
    node_nics.resize(static_cast<std::size_t>(c.nodes));
    for (int n = 0; n < c.nodes; ++n)
      for (int i = 0; i < per_node; ++i) {
        if (i % chips_per_nic == 0) node_nics[static_cast<std::size_t>(n)].push_back(add_nic(topo));
        attach_nic(topo, n * per_node + i, node_nics[static_cast<std::size_t>(n)].back(), chip);
        topo.devices[static_cast<std::size_t>(n * per_node + i)].rail =
            (i / chips_per_nic) % c.scale_out.rails;
      }
  }

  // A lone card without NVLink: its unused port at the host link's rate (no zero-capacity link).
  const double port_bytes_per_s = chip.scale_up.links_per_chip < 1
                                      ? chip.host_link.bytes_per_s
                                      : chip.scale_up.chip_bytes_per_s();
  // One device-to-device hop crosses two port links; each carries half the hop latency.
  const std::int64_t to_switch_ps = chip.scale_up.hop_latency_ps / 2;
  const std::int64_t from_switch_ps = chip.scale_up.hop_latency_ps - to_switch_ps;
  for (int n = 0; n < c.nodes; ++n) {
    switch_domain dom;
    dom.nvswitch = topo.add_vertex(vertex_kind::nvswitch);
    dom.first_device = n * per_node;
    dom.device_count = per_node;
    for (int i = 0; i < per_node; ++i) {
      const link_id up = topo.add_duplex_link(dom.first_device + i, dom.nvswitch, link_kind::nvlink,
                                              port_bytes_per_s, to_switch_ps, from_switch_ps);
      dom.up.push_back(up);
      dom.down.push_back(up + 1);
    }
    topo.domains.push_back(std::move(dom));
  }
  if (c.nodes > 1) add_fat_tree(topo, c.scale_out, node_nics, chip.nic->bytes_per_s);
  // Every GPU sees the same multiset of distances up to the partial last unit, whose GPUs are
  // no farther from anything than GPU 0 is; the first and the last GPU cover both cases.
  topo.eccentricity_sources = {0, static_cast<device_id>(total - 1)};
  return topo;
}

const switch_domain& domain_of(const topology& topo, device_id d) {
  if (d < 0 || d >= topo.device_count())
    throw std::invalid_argument("device " + std::to_string(d) + " out of range [0, " +
                                std::to_string(topo.device_count()) + ")");
  if (topo.family != topology_family::switched)
    throw std::invalid_argument("device " + std::to_string(d) + " is not in an NVSwitch domain");
  return topo.domains[static_cast<std::size_t>(topo.devices[static_cast<std::size_t>(d)].group)];
}

}  // namespace

topology build_cluster(const cluster_spec& cluster, const chip_spec& chip) {
  validate(cluster);
  validate(chip);
  if (cluster.chip != chip.name)
    throw std::invalid_argument("cluster '" + cluster.name + "' names chip '" + cluster.chip +
                                "' but was given chip '" + chip.name + "'");
  return cluster.fabric == fabric_kind::torus ? build_torus_cluster(cluster, chip)
                                              : build_switched_cluster(cluster, chip);
}

std::vector<device_id> node_devices(const topology& topo, device_id d) {
  const switch_domain& dom = domain_of(topo, d);
  std::vector<device_id> out(static_cast<std::size_t>(dom.device_count));
  for (std::int32_t i = 0; i < dom.device_count; ++i)
    out[static_cast<std::size_t>(i)] = dom.first_device + i;
  return out;
}

int node_of(const topology& topo, device_id d) {
  domain_of(topo, d);
  return topo.devices[static_cast<std::size_t>(d)].group;
}

int rail_of(const topology& topo, device_id d) {
  if (d < 0 || d >= topo.device_count())
    throw std::invalid_argument("device " + std::to_string(d) + " out of range");
  return topo.devices[static_cast<std::size_t>(d)].rail;
}

vertex_id nic_of(const topology& topo, device_id d) {
  if (d < 0 || d >= topo.device_count())
    throw std::invalid_argument("device " + std::to_string(d) + " out of range");
  return topo.devices[static_cast<std::size_t>(d)].nic;
}

}  // namespace moesim::topo
