// Strategy names, the checks of a problem, the simple strategies (contiguous, round_robin,
// random, load_aware) and the assembly of an answer (logcnt, log2phy, device_load) from each
// layer's phy2log. EPLB is in eplb.cpp, topology_aware in topology.cpp.
#include "sim/place/placement.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

#include "sim/engine/random.hpp"
#include "sim/place/detail.hpp"

namespace moesim::place {

const std::vector<std::string_view>& strategy_names() {
  static const std::vector<std::string_view> names = {
      "contiguous", "round_robin", "random", "load_aware", "eplb", "topology_aware"};
  return names;
}

std::string_view to_string(strategy s) noexcept {
  return strategy_names()[static_cast<std::size_t>(s)];
}

strategy parse_strategy(std::string_view name) {
  const auto& names = strategy_names();
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<strategy>(i);
  }
  std::string all;
  for (auto n : names) all += (all.empty() ? "" : ", ") + std::string(n);
  throw std::invalid_argument("unknown placement strategy '" + std::string(name) +
                              "' (expected one of " + all + ")");
}

bool has_replicas(strategy s) noexcept {
  return s == strategy::load_aware || s == strategy::eplb || s == strategy::topology_aware;
}

namespace {

std::string num(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument(what); }

}  // namespace

void check(strategy s, const problem& p) {
  if (p.loads.empty()) bad("loads: no layers (one row of expert loads per layer expected)");
  const std::size_t experts = p.loads[0].size();
  if (experts == 0) bad("loads: layer 0 has no experts");
  for (std::size_t l = 0; l < p.loads.size(); ++l) {
    if (p.loads[l].size() != experts) {
      bad("loads: layer " + std::to_string(l) + " has " + std::to_string(p.loads[l].size()) +
          " experts, layer 0 has " + std::to_string(experts) +
          " (every layer needs the same experts)");
    }
    for (std::size_t e = 0; e < experts; ++e) {
      const double v = p.loads[l][e];
      if (!std::isfinite(v)) {
        bad("loads[" + std::to_string(l) + "][" + std::to_string(e) + "] = " + num(v) +
            " is not a finite number");
      }
      if (v < 0) {
        bad("loads[" + std::to_string(l) + "][" + std::to_string(e) + "] = " + num(v) +
            " is negative (loads are token counts or shares, >= 0)");
      }
    }
  }
  const int e = static_cast<int>(experts);
  if (p.devices < 1) bad("devices (" + std::to_string(p.devices) + ") must be at least 1");
  if (p.nodes < 1) bad("nodes (" + std::to_string(p.nodes) + ") must be at least 1");
  if (p.groups < 1) bad("groups (" + std::to_string(p.groups) + ") must be at least 1");
  if (p.physical_experts < e) {
    bad("physical experts (" + std::to_string(p.physical_experts) + ") fewer than the experts (" +
        std::to_string(e) + "): every expert needs a slot");
  }
  if (p.physical_experts % p.devices != 0) {
    bad("physical experts (" + std::to_string(p.physical_experts) +
        ") not a multiple of the devices (" + std::to_string(p.devices) +
        "): every device holds the same number of slots");
  }
  if (p.devices % p.nodes != 0) {
    bad("devices (" + std::to_string(p.devices) + ") not a multiple of the nodes (" +
        std::to_string(p.nodes) + "): every node holds the same number of devices");
  }
  if (e % p.groups != 0) {
    bad("groups (" + std::to_string(p.groups) + ") do not divide the experts (" +
        std::to_string(e) + ")");
  }
  if (!has_replicas(s) && p.physical_experts != e) {
    bad("strategy " + std::string(to_string(s)) + " places no replicas: physical experts (" +
        std::to_string(p.physical_experts) + ") must equal the experts (" + std::to_string(e) +
        "); load_aware, eplb and topology_aware replicate hot experts");
  }
  if (s == strategy::topology_aware && e < p.nodes) {
    bad("strategy topology_aware puts at least one expert on each node: experts (" +
        std::to_string(e) + ") fewer than the nodes (" + std::to_string(p.nodes) + ")");
  }
  if (!p.coactivation.empty()) {
    if (p.coactivation.size() != p.loads.size()) {
      bad("coactivation: " + std::to_string(p.coactivation.size()) + " layers, loads have " +
          std::to_string(p.loads.size()));
    }
    for (std::size_t l = 0; l < p.coactivation.size(); ++l) {
      if (p.coactivation[l].size() != experts * experts) {
        bad("coactivation: layer " + std::to_string(l) + " has " +
            std::to_string(p.coactivation[l].size()) + " entries, expected experts x experts = " +
            std::to_string(experts * experts));
      }
      for (std::size_t k = 0; k < p.coactivation[l].size(); ++k) {
        const double v = p.coactivation[l][k];
        if (!std::isfinite(v) || v < 0) {
          bad("coactivation[" + std::to_string(l) + "][" + std::to_string(k / experts) + "][" +
              std::to_string(k % experts) + "] = " + num(v) +
              " is not a finite count >= 0");
        }
      }
    }
  }
}

namespace detail {

std::vector<int> replicate_counts(std::span<const double> load, int slots) {
  std::vector<int> count;
  (void)replicate_order(load, slots, count);
  return count;
}

std::vector<int> pack_copies(std::span<const double> load, std::span<const int> count, int devices,
                             int per_device) {
  struct copy {
    int expert;
    double weight;
  };
  std::vector<copy> copies;
  copies.reserve(static_cast<std::size_t>(devices) * per_device);
  for (std::size_t e = 0; e < load.size(); ++e) {
    for (int c = 0; c < count[e]; ++c) {
      copies.push_back({static_cast<int>(e), load[e] / count[e]});
    }
  }
  std::stable_sort(copies.begin(), copies.end(),
                   [](const copy& a, const copy& b) { return a.weight > b.weight; });
  std::vector<int> row(copies.size(), -1);
  std::vector<double> device_load(devices, 0.0);
  std::vector<int> filled(devices, 0);
  for (const copy& c : copies) {
    int best = -1;
    bool best_holds = true;
    for (int d = 0; d < devices; ++d) {
      if (filled[d] == per_device) continue;
      const auto first = row.begin() + static_cast<std::ptrdiff_t>(d) * per_device;
      const bool holds = std::find(first, first + filled[d], c.expert) != first + filled[d];
      if (best < 0 || (best_holds && !holds) ||
          (holds == best_holds && device_load[d] < device_load[best])) {
        best = d;
        best_holds = holds;
      }
    }
    row[static_cast<std::size_t>(best) * per_device + filled[best]++] = c.expert;
    device_load[best] += c.weight;
  }
  return row;
}

placement assemble(const problem& p, std::vector<std::vector<int>> phy2log) {
  placement x;
  const std::size_t experts = p.loads[0].size();
  const int per_device = p.physical_experts / p.devices;
  x.logcnt.assign(p.loads.size(), std::vector<int>(experts, 0));
  int most = 1;
  for (std::size_t l = 0; l < p.loads.size(); ++l) {
    for (int e : phy2log[l]) ++x.logcnt[l][e];
    most = std::max(most, *std::max_element(x.logcnt[l].begin(), x.logcnt[l].end()));
  }
  x.log2phy.assign(p.loads.size(), std::vector<std::vector<int>>(experts));
  x.device_load.assign(p.loads.size(), std::vector<double>(p.devices, 0.0));
  for (std::size_t l = 0; l < p.loads.size(); ++l) {
    for (std::size_t s = 0; s < phy2log[l].size(); ++s) {
      const int e = phy2log[l][s];
      x.log2phy[l][e].push_back(static_cast<int>(s));
      x.device_load[l][s / per_device] += p.loads[l][e] / x.logcnt[l][e];
    }
    for (auto& slots : x.log2phy[l]) slots.resize(most, -1);
  }
  x.phy2log = std::move(phy2log);
  return x;
}

}  // namespace detail

namespace {

std::vector<int> contiguous_layer(int experts) {
  std::vector<int> row(experts);
  std::iota(row.begin(), row.end(), 0);
  return row;
}

std::vector<int> round_robin_layer(int experts, int devices) {
  const int per_device = experts / devices;
  std::vector<int> row(experts);
  for (int e = 0; e < experts; ++e) row[(e % devices) * per_device + e / devices] = e;
  return row;
}

/// Fisher-Yates over the contiguous layout, from the stream "place.random" of the seed, one
/// child stream per layer (so a layer's shuffle does not depend on the layers before it).
std::vector<int> random_layer(int experts, std::uint64_t seed, std::size_t layer) {
  std::vector<int> row = contiguous_layer(experts);
  rng gen = rng::stream(seed, "place.random").fork(layer);
  for (int i = experts - 1; i > 0; --i) {
    const auto j = static_cast<int>(gen.below(static_cast<std::uint64_t>(i) + 1));
    std::swap(row[i], row[j]);
  }
  return row;
}

}  // namespace

placement place(strategy s, const problem& p) {
  check(s, p);
  const int experts = static_cast<int>(p.loads[0].size());
  std::vector<std::vector<int>> phy2log(p.loads.size());
  for (std::size_t l = 0; l < p.loads.size(); ++l) {
    const std::span<const double> load = p.loads[l];
    switch (s) {
      case strategy::contiguous: phy2log[l] = contiguous_layer(experts); break;
      case strategy::round_robin: phy2log[l] = round_robin_layer(experts, p.devices); break;
      case strategy::random: phy2log[l] = random_layer(experts, p.seed, l); break;
      case strategy::load_aware:
        phy2log[l] = detail::pack_copies(load, detail::replicate_counts(load, p.physical_experts),
                                         p.devices, p.physical_experts / p.devices);
        break;
      case strategy::eplb:
        phy2log[l] = detail::eplb_layer(load, p.physical_experts, p.groups, p.nodes, p.devices);
        break;
      case strategy::topology_aware:
        phy2log[l] = detail::topology_layer(
            load,
            p.coactivation.empty() ? std::span<const double>{}
                                   : std::span<const double>(p.coactivation[l]),
            p.physical_experts, p.nodes, p.devices);
        break;
    }
  }
  return detail::assemble(p, std::move(phy2log));
}

namespace {

/// Copies of each expert held by each of `units` blocks of `per_unit` slots of `row`.
std::vector<std::vector<int>> held_by(const std::vector<int>& row, int units, int per_unit,
                                      int experts) {
  std::vector<std::vector<int>> held(static_cast<std::size_t>(units),
                                     std::vector<int>(static_cast<std::size_t>(experts), 0));
  for (std::size_t s = 0; s < row.size(); ++s) {
    ++held[s / static_cast<std::size_t>(per_unit)][static_cast<std::size_t>(row[s])];
  }
  return held;
}

/// Greedy matching of `news` to `olds` (both the listed indices) by overlap(new, old),
/// largest first, ties to the lower new then the lower old index. Returns old index per new.
template <class Overlap>
std::vector<int> match(const std::vector<int>& news, const std::vector<int>& olds,
                       Overlap&& overlap) {
  struct pair {
    int common;
    int n;
    int o;
  };
  std::vector<pair> pairs;
  pairs.reserve(news.size() * olds.size());
  for (const int n : news) {
    for (const int o : olds) pairs.push_back({overlap(n, o), n, o});
  }
  std::sort(pairs.begin(), pairs.end(), [](const pair& a, const pair& b) {
    if (a.common != b.common) return a.common > b.common;
    return a.n != b.n ? a.n < b.n : a.o < b.o;
  });
  std::vector<int> to(news.size(), -1);
  std::vector<bool> taken(olds.size(), false);
  const int n0 = news.front();
  const int o0 = olds.front();
  for (const pair& x : pairs) {
    auto& slot = to[static_cast<std::size_t>(x.n - n0)];
    if (slot >= 0 || taken[static_cast<std::size_t>(x.o - o0)]) continue;
    slot = x.o;
    taken[static_cast<std::size_t>(x.o - o0)] = true;
  }
  return to;
}

int common(const std::vector<int>& a, const std::vector<int>& b) {
  int n = 0;
  for (std::size_t e = 0; e < a.size(); ++e) n += std::min(a[e], b[e]);
  return n;
}

}  // namespace

placement keep_in_place(const problem& p, const placement& previous, const placement& next) {
  const int experts = static_cast<int>(p.loads[0].size());
  const int per_device = p.physical_experts / p.devices;
  const int per_node_devices = p.devices / p.nodes;
  std::vector<std::vector<int>> phy2log(next.phy2log.size());
  for (std::size_t l = 0; l < next.phy2log.size(); ++l) {
    const std::vector<int>& was = previous.phy2log[l];
    const std::vector<int>& now = next.phy2log[l];
    const int per_node = per_node_devices * per_device;
    const auto node_was = held_by(was, p.nodes, per_node, experts);
    const auto node_now = held_by(now, p.nodes, per_node, experts);
    const auto dev_was = held_by(was, p.devices, per_device, experts);
    const auto dev_now = held_by(now, p.devices, per_device, experts);
    std::vector<int> nodes(static_cast<std::size_t>(p.nodes));
    std::iota(nodes.begin(), nodes.end(), 0);
    const std::vector<int> node_to = match(nodes, nodes, [&](int n, int o) {
      return common(node_now[static_cast<std::size_t>(n)], node_was[static_cast<std::size_t>(o)]);
    });
    phy2log[l].resize(now.size());
    for (int n = 0; n < p.nodes; ++n) {
      const int o = node_to[static_cast<std::size_t>(n)];
      std::vector<int> news(static_cast<std::size_t>(per_node_devices));
      std::vector<int> olds(news.size());
      std::iota(news.begin(), news.end(), n * per_node_devices);
      std::iota(olds.begin(), olds.end(), o * per_node_devices);
      const std::vector<int> dev_to = match(news, olds, [&](int a, int b) {
        return common(dev_now[static_cast<std::size_t>(a)], dev_was[static_cast<std::size_t>(b)]);
      });
      for (std::size_t k = 0; k < news.size(); ++k) {
        const auto from = static_cast<std::size_t>(news[k] * per_device);
        const auto to = static_cast<std::size_t>(dev_to[k] * per_device);
        std::copy_n(now.begin() + static_cast<std::ptrdiff_t>(from), per_device,
                    phy2log[l].begin() + static_cast<std::ptrdiff_t>(to));
      }
    }
  }
  return detail::assemble(p, std::move(phy2log));
}

double max_over_mean(const std::vector<double>& device_load) {
  if (device_load.empty()) return 0.0;
  double sum = 0.0;
  double most = 0.0;
  for (double v : device_load) {
    sum += v;
    most = std::max(most, v);
  }
  return sum > 0 ? most / (sum / static_cast<double>(device_load.size())) : 0.0;
}

double cross_node_coactivation(const problem& p, const placement& x) {
  if (p.coactivation.empty()) return 0.0;
  const std::size_t experts = p.loads[0].size();
  const int per_node = p.physical_experts / p.nodes;
  double cut = 0.0;
  for (std::size_t l = 0; l < p.coactivation.size(); ++l) {
    // nodes[e]: bit set of the nodes holding a copy of e (a vector<bool> row per expert).
    std::vector<std::vector<char>> on(experts, std::vector<char>(p.nodes, 0));
    for (std::size_t s = 0; s < x.phy2log[l].size(); ++s) on[x.phy2log[l][s]][s / per_node] = 1;
    for (std::size_t i = 0; i < experts; ++i) {
      for (std::size_t j = i + 1; j < experts; ++j) {
        bool shared = false;
        for (int n = 0; n < p.nodes && !shared; ++n) shared = on[i][n] && on[j][n];
        if (!shared) cut += p.coactivation[l][i * experts + j];
      }
    }
  }
  return cut;
}

}  // namespace moesim::place
