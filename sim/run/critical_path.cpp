#include "sim/run/critical_path.hpp"

#include <array>
#include <cassert>

namespace moesim::sim::run {

std::string_view to_string(category c) noexcept {
  constexpr std::array<std::string_view, category_count> names{
      "attention",     "router",          "expert_compute", "expert_weight_load",
      "dense_ffn",     "dispatch",        "combine",        "tp_collective",
      "dp_collective", "pipeline_bubble", "lm_head",        "optimizer",
      "idle"};
  return names[static_cast<std::size_t>(c)];
}

op_log::op_id op_log::add(category c, time_ps start, time_ps end, std::span<const op_id> deps,
                          int owner) {
  assert(end >= start);
  op_id latest = -1;
  op_id own = -1;
  auto later = [&](op_id a, op_id b) {
    return a < 0 || ops_[static_cast<std::size_t>(b)].end > ops_[static_cast<std::size_t>(a)].end;
  };
  for (op_id d : deps) {
    if (d < 0) continue;
    assert(static_cast<std::size_t>(d) < ops_.size());
    if (later(latest, d)) latest = d;
    if (ops_[static_cast<std::size_t>(d)].owner == owner && later(own, d)) own = d;
  }
  ops_.push_back({c, start, end, latest, own, owner});
  return static_cast<op_id>(ops_.size() - 1);
}

breakdown op_log::critical_path(int owner_of_interest) const {
  std::array<time_ps, category_count> ps{};
  if (!ops_.empty()) {
    std::size_t last = 0;
    std::size_t start = ops_.size();
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      if (ops_[i].end > ops_[last].end) last = i;
      if (ops_[i].owner == owner_of_interest &&
          (start == ops_.size() || ops_[i].end > ops_[start].end)) {
        start = i;
      }
    }
    if (start == ops_.size()) start = last;
    ps[static_cast<std::size_t>(category::pipeline_bubble)] += ops_[last].end - ops_[start].end;
    op_id cur = static_cast<op_id>(start);
    while (cur >= 0) {
      const op& o = ops_[static_cast<std::size_t>(cur)];
      ps[static_cast<std::size_t>(o.cat)] += o.end - o.start;
      const bool foreign = o.latest_dep >= 0 && o.latest_dep != o.latest_own;
      const op_id next = foreign ? o.latest_own : o.latest_dep;
      const time_ps before = next >= 0 ? ops_[static_cast<std::size_t>(next)].end : 0;
      const category gap = foreign ? category::pipeline_bubble : category::idle;
      ps[static_cast<std::size_t>(gap)] += o.start > before ? o.start - before : 0;
      cur = next;
    }
  }
  breakdown out;
  for (int i = 0; i < category_count; ++i) {
    out.emplace_back(std::string(to_string(static_cast<category>(i))),
                     seconds(ps[static_cast<std::size_t>(i)]));
  }
  return out;
}

}  // namespace moesim::sim::run
