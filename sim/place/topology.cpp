// topology_aware, per layer:
//   copies: replicas as load_aware's (replicate_counts over all physical slots: the largest
//     load / copies first), so every slot is one copy, of load load[e] / copies;
//   partition: the copies' co-activation graph (edge weight = tokens that picked both experts,
//     split over the pairs of their copies; copies of one expert not joined) is cut into one
//     part per node by METIS k-way (METIS_PartGraphKway, Karypis & Kumar; Debian libmetis-dev
//     5.1) with two balance constraints, load and copy count (tolerance 5% each), and a fixed
//     seed (METIS_OPTION_SEED): deterministic for one METIS build;
//   repair: a node has exactly physical/nodes slots, and METIS balances only within its
//     tolerance; while a part is over-full, the copy of an over-full part whose move to a part
//     with room loses the least co-activation (gain = weight to the new part - weight to its own,
//     largest first; ties to the lighter copy, then the lower copy and part) moves there (then
//     every part is exactly full; repair_parts also fills empty parts, for any capacity); then,
//     while the heaviest node's load is above 1.05 x the mean, the swap of one of its copies with
//     a lighter copy elsewhere that leaves both nodes below its old load and loses the least
//     co-activation (the sorted node loads fall at each swap, so it ends);
//   within a node: its copies balanced over its devices (pack_copies: largest first onto the
//     least-loaded device with room).
// One node: load_aware exactly. Without co-activation (none given, or a layer of zeros) the
// parts come from loads alone: copies by load descending onto the lightest node with room.
// Sparsified graph: a dense co-activation matrix (256 experts: 32,640 pairs) makes METIS's
// two-constraint refinement slow; each expert keeps its 16 strongest co-activations (an edge
// stays if either end keeps it), 3-4x faster with the same cut within 1% on planted clusters
// (0.700 vs 0.705 of the co-activation crossing 32 nodes; 0.143 vs 0.145 on 4). The repair uses
// the same sparse graph. Scaling: METIS takes integers, so loads scale to a total of 2^20 (plus
// 1 each, so an all-zero layer still partitions) and co-activations to a total of 2^24 (entries
// that round to 0 are dropped; a copy pair keeps at least 1): 32-bit sums cannot overflow.
// Cost: METIS dominates, about 0.17 s a layer for 288 copies in 32 parts and 0.04 s in 4 parts
// on the README's 2-core machine (`moesim bench place`).
#include <metis.h>

#include <mutex>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/place/detail.hpp"

namespace moesim::place::detail {

namespace {

struct graph {
  std::vector<idx_t> xadj{0};
  std::vector<idx_t> adjncy;
  std::vector<idx_t> adjwgt;
};

/// Each expert keeps its `strongest_edges` heaviest co-activations (an edge stays when either end
/// keeps it; ties at the threshold stay too).
constexpr int strongest_edges = 16;

/// METIS's balance tolerance (ubvec) for load and count, and the repair's for load.
constexpr double load_tolerance = 1.05;

/// The upper triangle of `coactivation` as a METIS graph, integer weights, sparsified.
graph build_graph(std::span<const double> coactivation, int experts) {
  double total = 0.0;
  for (int i = 0; i < experts; ++i) {
    for (int j = i + 1; j < experts; ++j) total += coactivation[i * experts + j];
  }
  auto at = [&](int i, int j) { return coactivation[std::min(i, j) * experts + std::max(i, j)]; };
  const int keep = strongest_edges;
  std::vector<double> threshold(experts, 0.0);
  if (keep < experts - 1) {
    std::vector<double> row;
    for (int i = 0; i < experts; ++i) {
      row.clear();
      for (int j = 0; j < experts; ++j) {
        if (j != i) row.push_back(at(i, j));
      }
      std::nth_element(row.begin(), row.begin() + (keep - 1), row.end(), std::greater<>());
      threshold[i] = row[keep - 1];
    }
  }
  graph g;
  const double scale = total > 0 ? 16777216.0 / total : 0.0;
  for (int i = 0; i < experts; ++i) {
    for (int j = 0; j < experts; ++j) {
      if (i == j) continue;
      const double c = at(i, j);
      if (c < threshold[i] && c < threshold[j]) continue;
      const auto w = static_cast<idx_t>(std::llround(c * scale));
      if (w <= 0) continue;
      g.adjncy.push_back(j);
      g.adjwgt.push_back(w);
    }
    g.xadj.push_back(static_cast<idx_t>(g.adjncy.size()));
  }
  return g;
}

std::vector<int> metis_parts(const graph& g, std::span<const double> load, int nodes) {
  const int experts = static_cast<int>(load.size());
  const double total = std::accumulate(load.begin(), load.end(), 0.0);
  const double scale = total > 0 ? 1048576.0 / total : 0.0;
  std::vector<idx_t> vwgt(2 * static_cast<std::size_t>(experts));
  for (int e = 0; e < experts; ++e) {
    vwgt[2 * e] = 1 + static_cast<idx_t>(std::llround(load[e] * scale));
    vwgt[2 * e + 1] = 1;
  }
  idx_t nvtxs = experts;
  idx_t ncon = 2;
  idx_t nparts = nodes;
  const auto ub = static_cast<real_t>(load_tolerance);
  std::vector<real_t> ubvec = {ub, ub};
  idx_t options[METIS_NOPTIONS];
  METIS_SetDefaultOptions(options);
  options[METIS_OPTION_SEED] = 1;
  options[METIS_OPTION_NUMBERING] = 0;
  idx_t objval = 0;
  std::vector<idx_t> part(experts, 0);
  auto xadj = g.xadj;
  auto adjncy = g.adjncy;
  auto adjwgt = g.adjwgt;
  // GKlib keeps its random state process-wide (METIS reseeds it from METIS_OPTION_SEED at each
  // call), so two calls at once (strategies placed on worker threads) would interleave its draws
  // and change each other's partitions: one call at a time. The one static of the library,
  // guarding the one global state of a C library we call.
  static std::mutex metis_state;
  const std::lock_guard<std::mutex> lock(metis_state);
  const int status = METIS_PartGraphKway(&nvtxs, &ncon, xadj.data(), adjncy.data(), vwgt.data(),
                                         nullptr, adjwgt.data(), &nparts, nullptr, ubvec.data(),
                                         options, &objval, part.data());
  if (status != METIS_OK) {
    throw std::runtime_error("METIS_PartGraphKway failed (status " + std::to_string(status) +
                             ") on " + std::to_string(experts) + " experts, " +
                             std::to_string(nodes) + " parts");
  }
  return {part.begin(), part.end()};
}

/// Loads alone: experts by load descending onto the lightest node with room (ties lowest).
std::vector<int> load_parts(std::span<const double> load, int nodes, int capacity) {
  const int experts = static_cast<int>(load.size());
  std::vector<int> order(experts);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return load[a] > load[b]; });
  std::vector<double> weight(nodes, 0.0);
  std::vector<int> count(nodes, 0);
  std::vector<int> part(experts);
  for (int e : order) {
    int best = -1;
    for (int n = 0; n < nodes; ++n) {
      if (count[n] < capacity && (best < 0 || weight[n] < weight[best])) best = n;
    }
    part[e] = best;
    ++count[best];
    weight[best] += load[e];
  }
  return part;
}

/// Moves experts until every part holds between 1 and `capacity` experts (see the top); then,
/// when `tolerance` > 0, swaps to bring every part's load within tolerance x the mean.
void repair(std::vector<int>& part, const graph& g, std::span<const double> load, int nodes,
            int capacity, double tolerance = 0) {
  const int experts = static_cast<int>(part.size());
  std::vector<int> count(nodes, 0);
  for (int p : part) ++count[p];
  // conn[v * nodes + p]: co-activation weight between v and the experts of part p.
  std::vector<double> conn(static_cast<std::size_t>(experts) * nodes, 0.0);
  for (int v = 0; v < experts; ++v) {
    for (idx_t k = g.xadj[v]; k < g.xadj[v + 1]; ++k) {
      conn[v * nodes + part[g.adjncy[k]]] += static_cast<double>(g.adjwgt[k]);
    }
  }
  auto move = [&](int v, int to) {
    const int from = part[v];
    for (idx_t k = g.xadj[v]; k < g.xadj[v + 1]; ++k) {
      const int u = g.adjncy[k];
      conn[u * nodes + from] -= static_cast<double>(g.adjwgt[k]);
      conn[u * nodes + to] += static_cast<double>(g.adjwgt[k]);
    }
    --count[from];
    ++count[to];
    part[v] = to;
  };
  // Best (v, q) with v in a part accepted by `source` and q accepted by `target`.
  auto best_move = [&](auto source, auto target) {
    int bv = -1;
    int bq = -1;
    double bgain = 0.0;
    for (int v = 0; v < experts; ++v) {
      if (!source(part[v])) continue;
      for (int q = 0; q < nodes; ++q) {
        if (q == part[v] || !target(q)) continue;
        const double gain = conn[v * nodes + q] - conn[v * nodes + part[v]];
        if (bv < 0 || gain > bgain || (gain == bgain && load[v] < load[bv])) {
          bv = v;
          bq = q;
          bgain = gain;
        }
      }
    }
    move(bv, bq);
  };
  auto over = [&](int p) { return count[p] > capacity; };
  auto has_room = [&](int p) { return count[p] < capacity; };
  while (std::any_of(count.begin(), count.end(), [&](int c) { return c > capacity; })) {
    best_move(over, has_room);
  }
  for (int q = 0; q < nodes; ++q) {
    if (count[q] == 0) {
      best_move([&](int p) { return count[p] >= 2; }, [&](int p) { return p == q; });
    }
  }
  if (tolerance <= 0) return;
  // Balance: while the heaviest part h is above tolerance x the mean, swap a copy a of h with a
  // lighter copy b of another part n such that both end below h's load (so the sorted part
  // loads fall and the loop ends), the swap that loses the least co-activation first (ties: the
  // lower resulting load).
  std::vector<double> part_load(nodes, 0.0);
  for (int v = 0; v < experts; ++v) part_load[part[v]] += load[v];
  const double limit =
      tolerance * std::accumulate(part_load.begin(), part_load.end(), 0.0) / nodes;
  auto between = [&](int a, int b) {
    for (idx_t k = g.xadj[a]; k < g.xadj[a + 1]; ++k) {
      if (g.adjncy[k] == b) return static_cast<double>(g.adjwgt[k]);
    }
    return 0.0;
  };
  for (int round = 0; round < experts * nodes; ++round) {
    const auto h = static_cast<int>(std::max_element(part_load.begin(), part_load.end()) -
                                    part_load.begin());
    if (part_load[h] <= limit) break;
    int ba = -1;
    int bb = -1;
    double bgain = 0.0;
    double bpeak = 0.0;
    for (int a = 0; a < experts; ++a) {
      if (part[a] != h) continue;
      for (int b = 0; b < experts; ++b) {
        const int n = part[b];
        if (n == h || load[b] >= load[a]) continue;
        const double peak = std::max(part_load[h] - load[a] + load[b],
                                     part_load[n] + load[a] - load[b]);
        if (peak >= part_load[h]) continue;
        const double gain = conn[a * nodes + n] - conn[a * nodes + h] + conn[b * nodes + h] -
                            conn[b * nodes + n] - 2 * between(a, b);
        if (ba < 0 || gain > bgain || (gain == bgain && peak < bpeak)) {
          ba = a;
          bb = b;
          bgain = gain;
          bpeak = peak;
        }
      }
    }
    if (ba < 0) break;
    const int n = part[bb];
    part_load[h] += load[bb] - load[ba];
    part_load[n] += load[ba] - load[bb];
    move(ba, n);
    move(bb, h);
  }
}

/// The experts' graph `g` over their copies: copies of i and j joined by w(i, j) / (copies of
/// i x copies of j), at least 1; copies of one expert are not joined.
graph copy_graph(const graph& g, const std::vector<int>& count, const std::vector<int>& first,
                 const std::vector<int>& owner) {
  graph out;
  for (int v = 0; v < static_cast<int>(owner.size()); ++v) {
    const int i = owner[v];
    for (idx_t k = g.xadj[i]; k < g.xadj[i + 1]; ++k) {
      const int j = g.adjncy[k];
      const auto w = std::max<idx_t>(
          1, static_cast<idx_t>(std::llround(static_cast<double>(g.adjwgt[k]) / (count[i] * count[j]))));
      for (int c = 0; c < count[j]; ++c) {
        out.adjncy.push_back(first[j] + c);
        out.adjwgt.push_back(w);
      }
    }
    out.xadj.push_back(static_cast<idx_t>(out.adjncy.size()));
  }
  return out;
}

graph no_edges(int experts) { return graph{std::vector<idx_t>(experts + 1, 0), {}, {}}; }

}  // namespace

void repair_parts(std::vector<int>& part, std::span<const double> coactivation,
                  std::span<const double> load, int nodes, int capacity) {
  const int experts = static_cast<int>(part.size());
  repair(part, coactivation.empty() ? no_edges(experts) : build_graph(coactivation, experts), load,
         nodes, capacity);
}

std::vector<int> topology_layer(std::span<const double> load, std::span<const double> coactivation,
                                int physical, int nodes, int devices) {
  const int experts = static_cast<int>(load.size());
  const int slots_per_node = physical / nodes;
  const int devices_per_node = devices / nodes;
  const int slots_per_device = physical / devices;
  // The copies: expert e's count[e] copies are vertices first[e] .. first[e] + count[e] - 1.
  const std::vector<int> count = replicate_counts(load, physical);
  std::vector<int> owner;
  std::vector<int> first(experts);
  std::vector<double> copy_load;
  for (int e = 0; e < experts; ++e) {
    first[e] = static_cast<int>(owner.size());
    for (int c = 0; c < count[e]; ++c) {
      owner.push_back(e);
      copy_load.push_back(load[e] / count[e]);
    }
  }
  std::vector<int> part(physical, 0);
  if (nodes > 1) {
    const graph g = coactivation.empty() ? no_edges(physical)
                                         : copy_graph(build_graph(coactivation, experts), count,
                                                      first, owner);
    part = g.adjncy.empty() ? load_parts(copy_load, nodes, slots_per_node)
                            : metis_parts(g, copy_load, nodes);
    repair(part, g, copy_load, nodes, slots_per_node, load_tolerance);
  }
  // Within each node: its experts with the copies it holds, balanced over its devices.
  std::vector<int> phy2log(physical);
  std::vector<int> members;
  std::vector<double> local_load;
  std::vector<int> local_count;
  for (int n = 0; n < nodes; ++n) {
    members.clear();
    local_load.clear();
    local_count.clear();
    for (int v = 0; v < physical; ++v) {
      if (part[v] != n) continue;
      if (members.empty() || members.back() != owner[v]) {
        members.push_back(owner[v]);
        local_load.push_back(0.0);
        local_count.push_back(0);
      }
      local_load.back() += copy_load[v];
      ++local_count.back();
    }
    const std::vector<int> row =
        pack_copies(local_load, local_count, devices_per_node, slots_per_device);
    for (int s = 0; s < slots_per_node; ++s) phy2log[n * slots_per_node + s] = members[row[s]];
  }
  return phy2log;
}

}  // namespace moesim::place::detail
