// DeepSeek's expert-parallelism load balancer (EPLB), re-implemented from the algorithm of
// deepseek-ai/EPLB eplb.py (commit d52c72d, MIT): rebalance_experts picks the hierarchical policy
// when the nodes divide the groups, else the global one (the hierarchical one with one group and
// one node). Hierarchical, per layer:
//   1. balanced_packing of the expert groups (load = sum of the group's experts) onto the nodes,
//      groups/nodes each; the experts of a node renumbered node-major ("mlog");
//   2. replicate_experts within each node: its physical/nodes slots, each extra one to the
//      expert with the largest load / copies (the first such expert: torch.max);
//   3. balanced_packing of the node's physical experts (load / copies each) onto its GPUs,
//      physical/devices each; slot = GPU * slots per GPU + rank in the GPU.
// balanced_packing: items by load descending (a stable sort, as torch.sort gives on CPU: ties keep
// the lower index first), each onto the lightest pack that still has room (Python's min: ties to
// the lowest pack); with one item per pack item i goes to pack i unsorted, as eplb.py does.
// eplb.py works in float32 (weight.float()), so this does too: loads that differ only beyond
// float precision tie as they do there, and sums run in index order (torch may sum a group in
// another order; integer loads below 2^24 sum exactly either way). The README's example is
// reproduced bit-exactly (tests/place/eplb_test.cpp).
#include <algorithm>
#include <numeric>
#include <span>
#include <vector>

#include "sim/place/detail.hpp"

namespace moesim::place::detail {

namespace {

struct packing {
  std::vector<int> pack;
  std::vector<int> rank;
};

/// eplb.py balanced_packing for one row of `weight`, `packs` packs of weight.size()/packs items.
packing balanced_packing(std::span<const float> weight, int packs) {
  const int n = static_cast<int>(weight.size());
  const int per_pack = n / packs;
  packing out{std::vector<int>(n), std::vector<int>(n, 0)};
  if (per_pack == 1) {
    std::iota(out.pack.begin(), out.pack.end(), 0);
    return out;
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return weight[a] > weight[b]; });
  std::vector<float> pack_weight(packs, 0.0F);
  std::vector<int> pack_items(packs, 0);
  for (int item : order) {
    int best = -1;
    for (int k = 0; k < packs; ++k) {
      if (pack_items[k] < per_pack && (best < 0 || pack_weight[k] < pack_weight[best])) best = k;
    }
    out.pack[item] = best;
    out.rank[item] = pack_items[best]++;
    pack_weight[best] += weight[item];
  }
  return out;
}

struct replication {
  std::vector<int> phy2log;  ///< first the n experts in order, then one per redundant slot
  std::vector<int> count;
};

/// eplb.py replicate_experts for one row: the redundant slots in the order they are handed out.
replication replicate(std::span<const float> weight, int slots) {
  replication out{std::vector<int>(weight.size()), {}};
  std::iota(out.phy2log.begin(), out.phy2log.end(), 0);
  const std::vector<int> extra = replicate_order(weight, slots, out.count);
  out.phy2log.insert(out.phy2log.end(), extra.begin(), extra.end());
  return out;
}

std::vector<int> hierarchical(std::span<const float> weight, int physical, int groups, int nodes,
                              int devices) {
  const int experts = static_cast<int>(weight.size());
  const int group_size = experts / groups;
  const int groups_per_node = groups / nodes;
  const int experts_per_node = experts / nodes;
  const int slots_per_node = physical / nodes;
  const int slots_per_device = physical / devices;

  // Step 1: groups to nodes; mlog = the expert's index once the groups are laid out node-major.
  std::vector<float> group_weight(groups, 0.0F);
  for (int e = 0; e < experts; ++e) group_weight[e / group_size] += weight[e];
  const packing nodes_of = balanced_packing(group_weight, nodes);
  std::vector<int> mlog2log(experts);
  for (int e = 0; e < experts; ++e) {
    const int g = e / group_size;
    const int mlog =
        (nodes_of.pack[g] * groups_per_node + nodes_of.rank[g]) * group_size + e % group_size;
    mlog2log[mlog] = e;
  }

  std::vector<int> phy2log(physical);
  std::vector<float> node_weight(experts_per_node);
  std::vector<float> copy_weight(slots_per_node);
  for (int node = 0; node < nodes; ++node) {
    // Step 2: replicas within the node.
    for (int k = 0; k < experts_per_node; ++k) {
      node_weight[k] = weight[mlog2log[node * experts_per_node + k]];
    }
    const replication rep = replicate(node_weight, slots_per_node);
    // Step 3: the node's physical experts onto its devices.
    for (int q = 0; q < slots_per_node; ++q) {
      const int k = rep.phy2log[q];
      copy_weight[q] = node_weight[k] / static_cast<float>(rep.count[k]);
    }
    const packing devices_of = balanced_packing(copy_weight, devices / nodes);
    for (int q = 0; q < slots_per_node; ++q) {
      const int slot = devices_of.pack[q] * slots_per_device + devices_of.rank[q];
      phy2log[node * slots_per_node + slot] = mlog2log[node * experts_per_node + rep.phy2log[q]];
    }
  }
  return phy2log;
}

}  // namespace

std::vector<int> eplb_layer(std::span<const double> load, int physical, int groups, int nodes,
                            int devices) {
  std::vector<float> weight(load.size());
  std::transform(load.begin(), load.end(), weight.begin(),
                 [](double v) { return static_cast<float>(v); });
  if (groups % nodes == 0) return hierarchical(weight, physical, groups, nodes, devices);
  return hierarchical(weight, physical, 1, 1, devices);
}

}  // namespace moesim::place::detail
