#include "sim/net/maxmin.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace moesim::sim::net {

namespace {

using detail::fixed128;

constexpr double rate_scale = 0x1p64;    // fixed128 units per B/s
constexpr double weight_scale = 0x1p24;  // weight_q units per unit weight
// key = (capacity_q - used_q) / active_weight_q * key_scale: 2^-64 / 2^-24 = 2^-40, exact.
constexpr double key_scale = 0x1p-40;

// Fixed point <-> double without the int128 conversion routines of libgcc (they dominated the
// profile). Both are pure functions of their argument, which is all exactness needs:
// to_fixed truncates to a multiple of 2^-63 B/s (rates are below 2^60, so the integer part fits
// an int64 and the fraction is split exactly); to_double rounds twice (relative error < 2^-52).
fixed128 to_fixed(double bytes_per_s) {
  const double whole = std::floor(bytes_per_s);
  const auto hi = static_cast<std::int64_t>(whole);
  const auto lo = static_cast<std::int64_t>((bytes_per_s - whole) * 0x1p63);  // < 2^63
  return (static_cast<fixed128>(hi) << 64) + (static_cast<fixed128>(lo) << 1);
}

double to_double(fixed128 q) {
  const auto hi = static_cast<std::int64_t>(q >> 64);  // arithmetic shift: floor
  const auto lo = static_cast<std::uint64_t>(q);
  return static_cast<double>(hi) * 0x1p64 + static_cast<double>(lo);
}

double from_fixed(fixed128 q) {
  return to_double(q) / rate_scale;
}

// Fair share per unit weight if the constraint filled now. A pure function of the exact sums, so
// it does not depend on the order in which flows were frozen.
double key_of(const detail::constraint_state& s) {
  const fixed128 remaining = s.capacity_q - s.used_q;
  if (remaining <= 0) return 0.0;  // rounding of earlier freezes: never a negative rate
  return to_double(remaining) / static_cast<double>(s.active_weight_q) * key_scale;
}

bool entry_less(const detail::heap_entry& a, const detail::heap_entry& b) noexcept {
  return a.key < b.key || (a.key == b.key && a.constraint < b.constraint);
}

void check_capacity(double capacity_bytes_per_s, const char* what) {
  if (!(capacity_bytes_per_s >= 0.0 &&
        capacity_bytes_per_s <= maxmin_solver::max_capacity_bytes_per_s)) {
    throw std::invalid_argument(std::string("maxmin_solver: ") + what +
                                " must be finite, >= 0 and <= 2^60 bytes/s, got " +
                                std::to_string(capacity_bytes_per_s));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Links and flows

link_id maxmin_solver::add_link(double capacity_bytes_per_s) {
  check_capacity(capacity_bytes_per_s, "link capacity");
  const std::uint32_t c = new_constraint();
  capacity_[c] = capacity_bytes_per_s;
  cs_[c].capacity_q = to_fixed(capacity_bytes_per_s);
  const auto link = static_cast<std::uint32_t>(link_constraint_.size());
  constraint_link_[c] = link;
  link_constraint_.push_back(c);
  return link_id{link};
}

void maxmin_solver::set_capacity(link_id link, double capacity_bytes_per_s) {
  const std::uint32_t c = checked_constraint(link);
  check_capacity(capacity_bytes_per_s, "link capacity");
  capacity_[c] = capacity_bytes_per_s;
  cs_[c].capacity_q = to_fixed(capacity_bytes_per_s);
  mark_dirty(c);
}

double maxmin_solver::capacity_bytes_per_s(link_id link) const {
  return capacity_[checked_constraint(link)];
}

flow_id maxmin_solver::add_flow(std::span<const link_id> path, double weight,
                                double rate_cap_bytes_per_s) {
  if (!(weight >= min_weight && weight <= max_weight)) {
    throw std::invalid_argument("maxmin_solver::add_flow: weight must be in [2^-16, 2^16], got " +
                                std::to_string(weight));
  }
  const bool capped = rate_cap_bytes_per_s != unlimited;
  if (capped && !(rate_cap_bytes_per_s > 0.0 && rate_cap_bytes_per_s <= max_capacity_bytes_per_s)) {
    throw std::invalid_argument(
        "maxmin_solver::add_flow: rate cap must be > 0 and <= 2^60 bytes/s or unlimited, got " +
        std::to_string(rate_cap_bytes_per_s));
  }
  if (path.empty() && !capped) {
    throw std::invalid_argument(
        "maxmin_solver::add_flow: a flow needs at least one link or a finite rate cap");
  }
  if (path.size() >= std::numeric_limits<std::uint32_t>::max() / 2) {
    throw std::invalid_argument("maxmin_solver::add_flow: path of " + std::to_string(path.size()) +
                                " links is too long");
  }
  const auto weight_q = static_cast<std::int64_t>(std::llround(weight * weight_scale));
  for (link_id link : path) {
    const std::uint32_t c = checked_constraint(link);
    // 2^63 / 2^40 (the largest weight_q): millions of flows per link before this can trigger.
    if (cs_[c].weight_q > std::numeric_limits<std::int64_t>::max() - 2 * weight_q) {
      throw std::invalid_argument("maxmin_solver::add_flow: total weight on link " +
                                  std::to_string(static_cast<std::uint32_t>(link)) +
                                  " would overflow");
    }
  }

  std::uint32_t f = 0;
  if (!free_flows_.empty()) {
    f = free_flows_.back();
    free_flows_.pop_back();
  } else {
    f = static_cast<std::uint32_t>(flows_.size());
    flows_.emplace_back();
    rate_cap_.push_back(unlimited);
  }

  auto& rec = flows_[f];
  rec.path_begin = static_cast<std::uint32_t>(path_.size());
  rec.path_len = static_cast<std::uint32_t>(path.size() + (capped ? 1 : 0));
  rec.weight_q = weight_q;
  rec.capped = capped ? 1 : 0;
  rate_cap_[f] = rate_cap_bytes_per_s;
  rec.rate = 0.0;
  rec.bottleneck = no_index;
  rec.alive = 1;
  rec.fresh = 1;

  for (std::uint32_t hop = 0; hop < path.size(); ++hop) {
    const std::uint32_t c = link_constraint_[static_cast<std::uint32_t>(path[hop])];
    path_.push_back(c);
    path_pos_.push_back(static_cast<std::uint32_t>(members_[c].size()));
    members_[c].push_back({f, static_cast<std::uint32_t>(path_.size() - 1)});
    cs_[c].weight_q += weight_q;
  }
  if (capped) {
    // The cap is a constraint of its own crossed only by this flow, so the fill loop treats it
    // like any link: the flow freezes at min(cap, its fair share on its links).
    std::uint32_t pc = 0;
    if (!free_private_.empty()) {
      pc = free_private_.back();
      free_private_.pop_back();
    } else {
      pc = new_constraint();
    }
    capacity_[pc] = rate_cap_bytes_per_s;
    cs_[pc].capacity_q = to_fixed(rate_cap_bytes_per_s);
    cs_[pc].used_q = 0;
    cs_[pc].weight_q = weight_q;
    private_flow_[pc] = f;
    path_.push_back(pc);
    path_pos_.push_back(0);
  }

  const std::uint32_t inline_len = std::min(rec.path_len, detail::flow_record::inline_hops);
  std::copy_n(path_.begin() + rec.path_begin, inline_len, rec.hops);
  const std::uint32_t first = path_[rec.path_begin];
  for (std::uint32_t hop = 1; hop < rec.path_len; ++hop) unite(first, path_[rec.path_begin + hop]);
  mark_dirty(first);  // the whole path is one component now
  ++live_flows_;
  return flow_id{f};
}

void maxmin_solver::remove_flow(flow_id flow) {
  const std::uint32_t f = checked_flow(flow);
  auto& rec = flows_[f];
  for (std::uint32_t hop = 0; hop < rec.path_len; ++hop) {
    const std::uint32_t c = path_[rec.path_begin + hop];
    if (constraint_link_[c] == no_index) {
      // The private constraint stays in its component's member ring until the next rebuild
      // (rings cannot drop members cheaply); with zero weight it is never queued.
      private_flow_[c] = dead_private;
      cs_[c].weight_q = 0;
      cs_[c].used_q = 0;
      continue;
    }
    auto& members = members_[c];
    const std::uint32_t pos = path_pos_[rec.path_begin + hop];
    const detail::flow_ref last = members.back();
    members[pos] = last;
    path_pos_[last.path_index] = pos;
    members.pop_back();
    cs_[c].weight_q -= rec.weight_q;
    mark_dirty(c);  // each hop: a rebuild before the next solve may split the component
  }
  rec.alive = 0;
  rec.fresh = 0;
  free_flows_.push_back(f);
  --live_flows_;
  ++removed_since_rebuild_;
  path_garbage_ += rec.path_len;
  if (path_garbage_ > 4096 && path_garbage_ > path_.size() / 2) compact_paths();
}

bool maxmin_solver::contains(flow_id flow) const noexcept {
  const auto f = static_cast<std::uint32_t>(flow);
  return f < flows_.size() && flows_[f].alive != 0;
}

double maxmin_solver::weight(flow_id flow) const {
  return static_cast<double>(flows_[checked_flow(flow)].weight_q) / weight_scale;
}

double maxmin_solver::rate_cap_bytes_per_s(flow_id flow) const {
  return rate_cap_[checked_flow(flow)];
}

bool maxmin_solver::crosses(flow_id flow, link_id link) const {
  const auto& rec = flows_[checked_flow(flow)];
  const std::uint32_t c = link_constraint_[static_cast<std::size_t>(link)];
  for (std::uint32_t hop = 0; hop < rec.path_len; ++hop) {
    if (path_[rec.path_begin + hop] == c) return true;
  }
  return false;
}

double maxmin_solver::rate_bytes_per_s(flow_id flow) const {
  const auto& rec = flows_[checked_flow(flow)];
  return rec.fresh != 0 ? 0.0 : rec.rate;
}

std::optional<link_id> maxmin_solver::bottleneck(flow_id flow) const {
  const auto& rec = flows_[checked_flow(flow)];
  if (rec.fresh != 0 || rec.bottleneck == no_index) return std::nullopt;
  const std::uint32_t link = constraint_link_[rec.bottleneck];
  if (link == no_index) return std::nullopt;
  return link_id{link};
}

double maxmin_solver::load_bytes_per_s(link_id link) const {
  return from_fixed(cs_[checked_constraint(link)].used_q);
}

bool maxmin_solver::saturated(link_id link) const {
  const std::uint32_t c = checked_constraint(link);
  return !members_[c].empty() &&
         from_fixed(cs_[c].used_q) >= capacity_[c] * (1.0 - saturation_tolerance);
}

void maxmin_solver::reserve(std::size_t flows, std::size_t path_entries) {
  flows_.reserve(flows);
  rate_cap_.reserve(flows);
  frozen_.reserve(flows / 64 + 1);
  solved_.reserve(flows);
  changed_.reserve(flows);
  path_.reserve(path_entries);
  path_pos_.reserve(path_entries);
}

std::uint32_t maxmin_solver::checked_constraint(link_id link) const {
  const auto l = static_cast<std::uint32_t>(link);
  if (l >= link_constraint_.size()) {
    throw std::invalid_argument(
        "maxmin_solver: link " + std::to_string(l) +
        " does not exist (links: " + std::to_string(link_constraint_.size()) + ")");
  }
  return link_constraint_[l];
}

std::uint32_t maxmin_solver::checked_flow(flow_id flow) const {
  if (!contains(flow)) {
    throw std::invalid_argument("maxmin_solver: flow " +
                                std::to_string(static_cast<std::uint32_t>(flow)) +
                                " is not a live flow");
  }
  return static_cast<std::uint32_t>(flow);
}

std::uint32_t maxmin_solver::new_constraint() {
  const auto c = static_cast<std::uint32_t>(cs_.size());
  if (c >= dead_private) throw std::length_error("maxmin_solver: too many constraints");
  cs_.emplace_back();
  capacity_.push_back(0.0);
  members_.emplace_back();
  private_flow_.push_back(no_index);
  constraint_link_.push_back(no_index);
  uf_parent_.push_back(c);
  uf_next_.push_back(c);
  uf_size_.push_back(1);
  dirty_.push_back(0);
  visited_.push_back(0);
  return c;
}

void maxmin_solver::mark_dirty(std::uint32_t c) {
  if (dirty_[c] == 0) {
    dirty_[c] = 1;
    dirty_list_.push_back(c);
  }
}

// ---------------------------------------------------------------------------------------------
// Components: union-find with a member ring per set (splicing two rings merges them in O(1)).
// Sets only grow; a removal that disconnects a component leaves a stale superset, which costs a
// larger re-solve but never a wrong one (rates are a function of each true component alone).
// rebuild_components() restores exact components once removals since the last rebuild outnumber
// the live flows, so its O(I) cost is amortised over those removals.

std::uint32_t maxmin_solver::find(std::uint32_t c) {
  while (uf_parent_[c] != c) {
    uf_parent_[c] = uf_parent_[uf_parent_[c]];
    c = uf_parent_[c];
  }
  return c;
}

void maxmin_solver::unite(std::uint32_t a, std::uint32_t b) {
  a = find(a);
  b = find(b);
  if (a == b) return;
  if (uf_size_[a] < uf_size_[b]) std::swap(a, b);
  uf_parent_[b] = a;
  uf_size_[a] += uf_size_[b];
  std::swap(uf_next_[a], uf_next_[b]);
}

void maxmin_solver::rebuild_components() {
  free_private_.clear();
  for (std::uint32_t c = 0; c < cs_.size(); ++c) {
    uf_parent_[c] = c;
    uf_next_[c] = c;
    uf_size_[c] = 1;
    if (constraint_link_[c] == no_index && private_flow_[c] == dead_private) {
      free_private_.push_back(c);
    }
  }
  for (const auto& rec : flows_) {
    if (rec.alive == 0) continue;
    for (std::uint32_t hop = 1; hop < rec.path_len; ++hop) {
      unite(path_[rec.path_begin], path_[rec.path_begin + hop]);
    }
  }
  removed_since_rebuild_ = 0;
}

void maxmin_solver::compact_paths() {
  std::vector<std::uint32_t> path;
  std::vector<std::uint32_t> pos;
  path.reserve(path_.size() - path_garbage_);
  pos.reserve(path_.size() - path_garbage_);
  for (auto& rec : flows_) {
    if (rec.alive == 0) continue;
    const auto begin = static_cast<std::uint32_t>(path.size());
    path.insert(path.end(), path_.begin() + rec.path_begin,
                path_.begin() + rec.path_begin + rec.path_len);
    pos.insert(pos.end(), path_pos_.begin() + rec.path_begin,
               path_pos_.begin() + rec.path_begin + rec.path_len);
    for (std::uint32_t hop = 0; hop < rec.path_len; ++hop) {
      const std::uint32_t c = path[begin + hop];
      if (constraint_link_[c] != no_index) members_[c][pos[begin + hop]].path_index = begin + hop;
    }
    rec.path_begin = begin;
  }
  path_ = std::move(path);
  path_pos_ = std::move(pos);
  path_garbage_ = 0;
}

// ---------------------------------------------------------------------------------------------
// Solve

void maxmin_solver::solve() {
  stats_ = {};
  changed_.clear();
  if (dirty_list_.empty()) return;
  if (removed_since_rebuild_ >= std::max<std::size_t>(1024, live_flows_)) rebuild_components();
  frozen_.resize(flows_.size() / 64 + 1, 0);
  solved_.clear();

  collect_components();
  // Progressive filling: the constraint with the smallest fair share fills next; its unfrozen
  // flows freeze at that share. Keys are refreshed lazily: a freeze only marks the constraints
  // it crosses stale, and a stale constraint reaching the top is re-keyed and sifted down.
  // Freezing at a level <= a constraint's share never lowers that share (exactly: rounding may
  // move it by an ulp), so a stale key is a lower bound and a fresh key at the top is the true
  // minimum. Each component's fill sequence depends on its own state only, as with eager
  // updates, at a fraction of the re-keying: a link crossed by k flows frozen elsewhere is
  // re-keyed when it reaches the top, not k times.
  while (!heap_.empty()) {
    const std::uint32_t c = heap_.front().constraint;
    auto& s = cs_[c];
    if (s.active_weight_q == 0) {
      heap_erase(c);
    } else if (s.stale != 0) {
      s.stale = 0;
      heap_[0].key = key_of(s);
      sift_down(0);
    } else {
      const double level = heap_.front().key;
      heap_erase(c);
      fill(c, level);
    }
  }
  publish_changes();
}

void maxmin_solver::collect_components() {
  if (++visit_stamp_ == 0) {
    std::fill(visited_.begin(), visited_.end(), 0);
    visit_stamp_ = 1;
  }
  heap_.clear();
  for (const std::uint32_t d : dirty_list_) {
    dirty_[d] = 0;
    const std::uint32_t root = find(d);
    if (visited_[root] == visit_stamp_) continue;
    visited_[root] = visit_stamp_;
    ++stats_.components;
    std::uint32_t c = root;
    do {
      auto& s = cs_[c];
      s.used_q = 0;
      s.active_weight_q = s.weight_q;
      s.heap_pos = -1;
      s.stale = 0;
      if (s.weight_q > 0) {
        s.heap_pos = static_cast<std::int32_t>(heap_.size());
        heap_.push_back({key_of(s), c});
      }
      c = uf_next_[c];
    } while (c != root);
  }
  dirty_list_.clear();
  stats_.constraints = heap_.size();
  for (std::size_t i = (heap_.size() + 2) / 4; i-- > 0;) sift_down(i);
}

inline void maxmin_solver::freeze(std::uint32_t f, std::uint32_t bottleneck, double level) {
  std::uint64_t& word = frozen_[f >> 6];
  const std::uint64_t bit = std::uint64_t{1} << (f & 63);
  if ((word & bit) != 0) return;
  word |= bit;
  solved_.push_back(f);

  auto& rec = flows_[f];
  double rate = static_cast<double>(rec.weight_q) / weight_scale * level;
  if (rec.capped != 0) rate = std::min(rate, rate_cap_[f]);
  if (rec.fresh != 0 || rate != rec.rate) changed_.push_back(flow_id{f});
  rec.rate = rate;
  rec.bottleneck = bottleneck;
  rec.fresh = 0;

  const fixed128 rate_q = to_fixed(rate);
  const std::uint32_t* hops =
      rec.path_len <= detail::flow_record::inline_hops ? rec.hops : path_.data() + rec.path_begin;
  for (std::uint32_t hop = 0; hop < rec.path_len; ++hop) {
    auto& s = cs_[hops[hop]];
    s.used_q += rate_q;
    s.active_weight_q -= rec.weight_q;
    s.stale = 1;
  }
}

void maxmin_solver::fill(std::uint32_t c, double level) {
  if (constraint_link_[c] == no_index) {
    freeze(private_flow_[c], c, level);
    return;
  }
  // The fill loop is bound by the latency of loading each flow's record (random for all but the
  // first links to fill); prefetching members ahead overlaps those loads (2-3x on large fills).
  const auto& members = members_[c];
  const std::size_t n = members.size();
  constexpr std::size_t ahead = 48;
  for (std::size_t i = 0; i < n; ++i) {
    if (i + ahead < n) __builtin_prefetch(&flows_[members[i + ahead].flow]);
    freeze(members[i].flow, c, level);
  }
}

void maxmin_solver::publish_changes() {
  for (const std::uint32_t f : solved_) frozen_[f >> 6] &= ~(std::uint64_t{1} << (f & 63));
  stats_.flows = solved_.size();
  stats_.changed = changed_.size();
  // Ascending ids, so that callers iterating the list see an order independent of history.
  // Dense lists come out of a bitmap scan in O(F/64 + k), sparse ones from a sort.
  const std::size_t words = flows_.size() / 64 + 1;
  if (changed_.size() * 8 < words) {
    std::sort(changed_.begin(), changed_.end());
    return;
  }
  changed_bits_.assign(words, 0);
  for (const flow_id id : changed_) {
    const auto f = static_cast<std::uint32_t>(id);
    changed_bits_[f >> 6] |= std::uint64_t{1} << (f & 63);
  }
  changed_.clear();
  for (std::size_t w = 0; w < words; ++w) {
    for (std::uint64_t bits = changed_bits_[w]; bits != 0; bits &= bits - 1) {
      changed_.push_back(flow_id{static_cast<std::uint32_t>(w * 64 + std::countr_zero(bits))});
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Fill queue: 4-ary min-heap of (fair share, constraint index); positions kept in cs_ so that
// a key can change in place. Keys mostly grow as flows freeze, so sift_down dominates; four
// children share a cache line and halve the depth of a binary heap.

bool maxmin_solver::heap_less(std::size_t a, std::size_t b) const noexcept {
  return entry_less(heap_[a], heap_[b]);
}

void maxmin_solver::heap_set(std::size_t i, detail::heap_entry e) noexcept {
  heap_[i] = e;
  cs_[e.constraint].heap_pos = static_cast<std::int32_t>(i);
}

void maxmin_solver::sift_up(std::size_t i) noexcept {
  const detail::heap_entry e = heap_[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / 4;
    if (!entry_less(e, heap_[parent])) break;
    heap_set(i, heap_[parent]);
    i = parent;
  }
  heap_set(i, e);
}

void maxmin_solver::sift_down(std::size_t i) noexcept {
  const detail::heap_entry e = heap_[i];
  const std::size_t n = heap_.size();
  for (;;) {
    const std::size_t first = 4 * i + 1;
    if (first >= n) break;
    std::size_t best = first;
    const std::size_t last = std::min(first + 4, n);
    for (std::size_t child = first + 1; child < last; ++child) {
      if (heap_less(child, best)) best = child;
    }
    if (!entry_less(heap_[best], e)) break;
    heap_set(i, heap_[best]);
    i = best;
  }
  heap_set(i, e);
}

void maxmin_solver::heap_erase(std::uint32_t c) noexcept {
  const auto i = static_cast<std::size_t>(cs_[c].heap_pos);
  assert(cs_[c].heap_pos >= 0 && heap_[i].constraint == c);
  cs_[c].heap_pos = -1;
  const detail::heap_entry last = heap_.back();
  heap_.pop_back();
  if (i == heap_.size()) return;
  heap_set(i, last);
  sift_up(i);
  sift_down(static_cast<std::size_t>(cs_[last.constraint].heap_pos));
}

}  // namespace moesim::sim::net
