#include "sim/place/rebalance.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "sim/place/detail.hpp"

namespace moesim::place {

namespace {

/// One layer's state during the moves: its slot table, copies per expert, copies per device and
/// expert, and device loads.
class layer_state {
 public:
  layer_state(const std::vector<double>& load, std::vector<int> row, int devices)
      : w_(load),
        row_(std::move(row)),
        devices_(devices),
        per_(static_cast<int>(row_.size()) / devices),
        experts_(static_cast<int>(load.size())) {
    cnt_.assign(static_cast<std::size_t>(experts_), 0);
    held_.assign(static_cast<std::size_t>(devices_) * static_cast<std::size_t>(experts_), 0);
    for (std::size_t s = 0; s < row_.size(); ++s) {
      ++cnt_[static_cast<std::size_t>(row_[s])];
      ++held(static_cast<int>(s) / per_, row_[s]);
    }
    refresh();
  }

  /// Makes moves while the best gains at least `need` (load units) per copy; returns the row.
  std::vector<int> improve(double need) {
    double total = 0;
    for (const double x : w_) total += x;
    if (!(total > 0)) return row_;
    const double tiny = 1e-12 * total / devices_;
    for (std::size_t it = 0; it < row_.size(); ++it) {
      const move m = best();
      if (!(m.gain > tiny) || m.gain / m.copies < need) break;
      apply(m);
    }
    return row_;
  }

 private:
  struct move {
    int slot = -1;
    int other = -1;   ///< swap: the other slot; re-replication: -1
    int expert = -1;  ///< re-replication: the expert the slot takes
    double gain = 0;
    int copies = 1;
  };

  int& held(int d, int e) {
    return held_[static_cast<std::size_t>(d) * static_cast<std::size_t>(experts_) +
                 static_cast<std::size_t>(e)];
  }
  [[nodiscard]] double share(int e) const {
    return w_[static_cast<std::size_t>(e)] / cnt_[static_cast<std::size_t>(e)];
  }
  void refresh() {
    load_.assign(static_cast<std::size_t>(devices_), 0.0);
    for (std::size_t s = 0; s < row_.size(); ++s) {
      load_[s / static_cast<std::size_t>(per_)] += share(row_[s]);
    }
  }

  [[nodiscard]] move best() {
    std::vector<int> order(static_cast<std::size_t>(devices_));
    for (int d = 0; d < devices_; ++d) order[static_cast<std::size_t>(d)] = d;
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
      return load_[static_cast<std::size_t>(x)] > load_[static_cast<std::size_t>(y)];
    });
    const int a = order.front();
    const double top = load_[static_cast<std::size_t>(a)];
    const auto others = [&](int x, int y) {
      for (const int d : order) {
        if (d != x && d != y) return load_[static_cast<std::size_t>(d)];
      }
      return 0.0;
    };
    move bestm;
    double best_score = 0;
    const auto consider = [&](const move& m) {
      const double score = m.gain / m.copies;
      if (score > best_score) {
        best_score = score;
        bestm = m;
      }
    };
    // Swaps: a slot of the most-loaded device with a lighter copy on another device.
    for (int i = a * per_; i < (a + 1) * per_; ++i) {
      const int x = row_[static_cast<std::size_t>(i)];
      const double ux = share(x);
      for (int b = 0; b < devices_; ++b) {
        if (b == a || held(b, x) > 0) continue;
        const double rest = others(a, b);
        for (int j = b * per_; j < (b + 1) * per_; ++j) {
          const int y = row_[static_cast<std::size_t>(j)];
          const double uy = share(y);
          if (!(uy < ux) || held(a, y) > 0) continue;
          const double na = top - ux + uy;
          const double nb = load_[static_cast<std::size_t>(b)] - uy + ux;
          consider({i, j, -1, top - std::max({na, nb, rest}), 2});
        }
      }
    }
    // Re-replications: a slot of an expert with copies to spare takes another expert: one of
    // the most-loaded device's (its copies then carry less), or, on the most-loaded device
    // itself, any expert it does not hold.
    std::vector<double> next(load_.size());
    for (int j = 0; j < static_cast<int>(row_.size()); ++j) {
      const int x = row_[static_cast<std::size_t>(j)];
      if (cnt_[static_cast<std::size_t>(x)] < 2) continue;
      const int b = j / per_;
      for (int y = 0; y < experts_; ++y) {
        if (y == x || held(b, y) > 0 || (b != a && held(a, y) == 0)) continue;
        const double cx = cnt_[static_cast<std::size_t>(x)];
        const double cy = cnt_[static_cast<std::size_t>(y)];
        const double wx = w_[static_cast<std::size_t>(x)];
        const double wy = w_[static_cast<std::size_t>(y)];
        double most = 0;
        for (int d = 0; d < devices_; ++d) {
          double v = load_[static_cast<std::size_t>(d)];
          const int hx = held(d, x);
          const int hy = held(d, y);
          if (hx > 0 || d == b) v += (hx - (d == b ? 1 : 0)) * wx / (cx - 1) - hx * wx / cx;
          if (hy > 0 || d == b) v += (hy + (d == b ? 1 : 0)) * wy / (cy + 1) - hy * wy / cy;
          most = std::max(most, v);
        }
        consider({j, -1, y, top - most, 1});
      }
    }
    return bestm;
  }

  void apply(const move& m) {
    const auto set = [&](int slot, int e) {
      const int d = slot / per_;
      int& was = row_[static_cast<std::size_t>(slot)];
      --held(d, was);
      --cnt_[static_cast<std::size_t>(was)];
      was = e;
      ++held(d, e);
      ++cnt_[static_cast<std::size_t>(e)];
    };
    if (m.other >= 0) {
      const int x = row_[static_cast<std::size_t>(m.slot)];
      const int y = row_[static_cast<std::size_t>(m.other)];
      set(m.slot, y);
      set(m.other, x);
    } else {
      set(m.slot, m.expert);
    }
    refresh();
  }

  const std::vector<double>& w_;
  std::vector<int> row_;
  int devices_;
  int per_;
  int experts_;
  std::vector<int> cnt_;
  std::vector<int> held_;
  std::vector<double> load_;
};

}  // namespace

placement rebalance_moves(const problem& p, const placement& previous, double min_gain) {
  if (!(min_gain >= 0)) throw std::invalid_argument("rebalance_moves: min_gain below 0");
  if (previous.phy2log.size() != p.loads.size()) {
    throw std::invalid_argument("rebalance_moves: placement and loads of different layers");
  }
  std::vector<std::vector<int>> phy2log(p.loads.size());
  for (std::size_t l = 0; l < p.loads.size(); ++l) {
    double total = 0;
    for (const double x : p.loads[l]) total += x;
    const double need = min_gain * total / p.devices;
    phy2log[l] = layer_state(p.loads[l], previous.phy2log[l], p.devices).improve(need);
  }
  return detail::assemble(p, std::move(phy2log));
}

}  // namespace moesim::place
