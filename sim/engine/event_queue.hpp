#pragma once
// The pending-event set: a 4-ary min-heap of 24-byte entries ordered by (time, sequence).
// Sequence numbers are handed out in insertion order and never reused, so two events at the
// same time run first-in-first-out and the order is a pure function of the schedule calls.
// push/pop are O(log4 n); a 4-ary heap touches fewer cache lines per pop than a binary heap.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "sim/engine/time.hpp"

namespace moesim::sim::detail {

struct queue_entry {
  time_ps time;
  std::uint64_t sequence;
  std::uint64_t payload;  ///< opaque to the queue (the simulation stores a slot index)
};

inline bool before(const queue_entry& a, const queue_entry& b) noexcept {
  return a.time < b.time || (a.time == b.time && a.sequence < b.sequence);
}

class event_queue {
 public:
  [[nodiscard]] bool empty() const noexcept { return heap_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return heap_.size(); }
  [[nodiscard]] const queue_entry& top() const noexcept { return heap_.front(); }

  void push(const queue_entry& e) {
    heap_.push_back(e);
    sift_up(heap_.size() - 1);
  }

  /// Removes the minimum. Precondition: !empty().
  void pop() noexcept {
    const queue_entry last = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) sift_down(last);
  }

  /// Replaces the minimum by `e` (one sift instead of pop + push). Precondition: !empty().
  void replace_top(const queue_entry& e) noexcept { sift_down(e); }

  void clear() noexcept { heap_.clear(); }

  /// The root's children (up to `arity` entries): the next minimum is one of them, and the one
  /// after it usually is too. Used to prefetch upcoming events' data.
  [[nodiscard]] std::span<const queue_entry> root_children() const noexcept {
    const std::size_t n = heap_.size();
    if (n < 2) return {};
    return {heap_.data() + 1, std::min(n - 1, arity)};
  }

  /// The entry that will be the minimum after pop() (the best child of the root), or nullptr.
  /// O(arity). Used to prefetch the next event's data while the current one runs.
  [[nodiscard]] const queue_entry* runner_up() const noexcept {
    const std::size_t n = heap_.size();
    if (n < 2) return nullptr;
    std::size_t best = 1;
    const std::size_t last = n < arity + 1 ? n : arity + 1;
    for (std::size_t c = 2; c < last; ++c) {
      if (before(heap_[c], heap_[best])) best = c;
    }
    return &heap_[best];
  }

 private:
  static constexpr std::size_t arity = 4;

  void sift_up(std::size_t i) noexcept {
    const queue_entry e = heap_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / arity;
      if (!before(e, heap_[parent])) break;
      heap_[i] = heap_[parent];
      i = parent;
    }
    heap_[i] = e;
  }

  // Places `e` starting from the root hole.
  void sift_down(const queue_entry& e) noexcept {
    const std::size_t n = heap_.size();
    std::size_t i = 0;
    for (;;) {
      const std::size_t first = i * arity + 1;
      if (first >= n) break;
      std::size_t best = first;
      const std::size_t last = first + arity < n ? first + arity : n;
      for (std::size_t c = first + 1; c < last; ++c) {
        if (before(heap_[c], heap_[best])) best = c;
      }
      if (!before(heap_[best], e)) break;
      heap_[i] = heap_[best];
      i = best;
    }
    heap_[i] = e;
  }

  std::vector<queue_entry> heap_;
};

}  // namespace moesim::sim::detail
