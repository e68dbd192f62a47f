#include "sim/run/layout.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>

namespace moesim::sim::run {

namespace {

constexpr std::array<std::string_view, 4> axis_names{"tp", "ep", "dp", "pp"};

// Axis indices of `order` (0 = tp .. 3 = pp), innermost first; empty if invalid.
std::vector<int> parse_order(std::string_view rest) {
  std::vector<int> axes;
  while (!rest.empty()) {
    const auto dash = rest.find('-');
    const std::string_view name = rest.substr(0, dash);
    const auto it = std::find(axis_names.begin(), axis_names.end(), name);
    if (it == axis_names.end()) return {};
    axes.push_back(static_cast<int>(it - axis_names.begin()));
    rest = dash == std::string_view::npos ? std::string_view{} : rest.substr(dash + 1);
  }
  for (int a = 0; a < 4; ++a) {
    if (std::count(axes.begin(), axes.end(), a) != 1) return {};
  }
  return axes.size() == 4 ? axes : std::vector<int>{};
}

// "{0,1,2}"; long groups show their first 8 members and the count.
std::string join(const std::vector<topo::device_id>& g) {
  constexpr std::size_t shown = 8;
  std::string s = "{";
  for (std::size_t i = 0; i < std::min(g.size(), shown); ++i) {
    s += (i ? "," : "") + std::to_string(g[i]);
  }
  if (g.size() > shown) s += fmt::format(",... {} in all", g.size());
  return s + "}";
}

}  // namespace

bool valid_order(const std::string& order) {
  return !parse_order(order).empty();
}

std::pair<std::string, std::string> auto_order(bool multislice) {
  if (multislice) {
    return {"tp-ep-pp-dp",
            "auto: tp innermost, ep next, dp outermost so that the DCN between slices carries "
            "only the gradient reduction"};
  }
  return {"tp-ep-dp-pp",
          "auto: tp innermost (inside an NVLink domain), ep next, pipeline stages outermost"};
}

std::pair<int, int> chunk_layer_range(int layers, int chunks, int c) noexcept {
  const auto at = [&](int k) {
    return static_cast<int>(static_cast<long long>(k) * layers / chunks);
  };
  return {at(c), at(c + 1)};
}

layout::layout(const parallel_config& p) : p_(p), devices_(static_cast<int>(p.devices())) {
  const std::vector<int> axes = parse_order(p.order);
  if (axes.empty()) {
    throw std::invalid_argument(fmt::format(
        "parallelism: order '{}' must name tp, ep, dp and pp once each, innermost first "
        "(e.g. tp-ep-dp-pp), or auto",
        p.order));
  }
  const std::array<int, 4> degree{p.tp, p.ep, p.dp, p.pp};
  int stride = 1;
  for (int a : axes) {
    stride_[static_cast<std::size_t>(a)] = stride;
    stride *= degree[static_cast<std::size_t>(a)];
  }
}

topo::device_id layout::device(const coords& c) const noexcept {
  return c.tp * stride_[0] + c.ep * stride_[1] + c.dp * stride_[2] + c.pp * stride_[3];
}

coords layout::of(topo::device_id d) const noexcept {
  return {(d / stride_[0]) % p_.tp, (d / stride_[1]) % p_.ep, (d / stride_[2]) % p_.dp,
          (d / stride_[3]) % p_.pp};
}

std::vector<topo::device_id> layout::tp_group(int ep, int dp, int pp) const {
  std::vector<topo::device_id> g;
  for (int t = 0; t < p_.tp; ++t) g.push_back(device({t, ep, dp, pp}));
  return g;
}

std::vector<topo::device_id> layout::ep_group(int tp, int dp, int pp) const {
  std::vector<topo::device_id> g;
  for (int e = 0; e < p_.ep; ++e) g.push_back(device({tp, e, dp, pp}));
  return g;
}

std::vector<topo::device_id> layout::attention_dp_group(int tp, int pp) const {
  std::vector<topo::device_id> g;
  for (int d = 0; d < p_.dp; ++d) {
    for (int e = 0; e < p_.ep; ++e) g.push_back(device({tp, e, d, pp}));
  }
  return g;
}

std::vector<topo::device_id> layout::expert_dp_group(int tp, int ep, int pp) const {
  std::vector<topo::device_id> g;
  for (int d = 0; d < p_.dp; ++d) g.push_back(device({tp, ep, d, pp}));
  return g;
}

std::vector<std::string> layout::describe() const {
  std::vector<std::string> out;
  auto line = [&](std::string_view kind, int size, const std::vector<topo::device_id>& first) {
    if (size <= 1) return;
    const int count = devices_ / size;
    out.push_back(fmt::format("{} {} group{} of {} devices, first {}", count, kind,
                              count > 1 ? "s" : "", size, join(first)));
  };
  if (!p_.order_rule.empty()) out.push_back(fmt::format("order {} ({})", p_.order, p_.order_rule));
  line("tp", p_.tp, tp_group(0, 0, 0));
  line("ep", p_.ep, ep_group(0, 0, 0));
  line("attention-dp", p_.ep * p_.dp, attention_dp_group(0, 0));
  line("expert-dp", p_.dp, expert_dp_group(0, 0, 0));
  if (p_.pp > 1) {
    std::vector<topo::device_id> firsts;
    for (int s = 0; s < p_.pp; ++s) firsts.push_back(device({0, 0, 0, s}));
    out.push_back(fmt::format("{} pipeline stages, first devices {}", p_.pp, join(firsts)));
  }
  return out;
}

}  // namespace moesim::sim::run
