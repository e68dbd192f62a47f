#include "sim/engine/simulation.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "sim/engine/process.hpp"

namespace moesim::sim {

simulation::~simulation() {
  // Unfinished processes: destroy their frames (their locals may hold callbacks; the queue's
  // slots are destroyed afterwards with the vector).
  for (void* frame : processes_) std::coroutine_handle<>::from_address(frame).destroy();
}

void simulation::check_not_past(time_ps at) const {
  if (at < now_) {
    throw std::logic_error("event scheduled in the past: at " + std::to_string(at) + " ps, now " +
                           std::to_string(now_) + " ps");
  }
}

bool simulation::cancel(event_id id) noexcept {
  if (id.slot >= slots_.size() || slots_[id.slot].sequence != id.sequence) return false;
  slot& s = slots_[id.slot];
  s.fn.reset();
  s.sequence = 0;
  free_slots_.push_back(id.slot);
  --live_;
  return true;
}

// Runs the earliest event if its time is <= limit; returns false when there is none.
// The entry stays at the top of the heap while its callback runs: the first event the callback
// schedules then replaces it with one sift (commit), instead of a pop and a push.
bool simulation::step(time_ps limit) {
  while (!queue_.empty()) {
    const detail::queue_entry top = queue_.top();
    if (top.time > limit) return false;
    slot& s = slots_[top.payload];
    if (s.sequence != top.sequence) {  // cancelled
      queue_.pop();
      continue;
    }
    detail::event_fn fn = std::move(s.fn);
    s.sequence = 0;
    free_slots_.push_back(static_cast<std::uint32_t>(top.payload));
    --live_;
    now_ = top.time;
    ++processed_;
    // The next event's slot is a random access into a large slab; fetch it while this
    // callback runs (a hint only: if the callback schedules an earlier event, nothing breaks).
    for (const auto& e : queue_.root_children()) __builtin_prefetch(&slots_[e.payload]);
    top_consumed_ = true;
    try {
      fn();
    } catch (...) {
      retire_top();
      throw;
    }
    retire_top();
    return true;
  }
  return false;
}

void simulation::rethrow_failure() {
  if (failure_) {
    std::exception_ptr e = failure_;
    failure_ = nullptr;
    std::rethrow_exception(e);
  }
}

void simulation::run() {
  run_until(time_max);
}

void simulation::run_until(time_ps limit) {
  stopped_ = false;
  while (!stopped_ && step(limit)) {
  }
  rethrow_failure();
  if (!stopped_ && limit != time_max && limit > now_) now_ = limit;
}

void simulation::spawn(process p) {
  auto h = p.release();
  h.promise().sim = this;
  processes_.push_back(h.address());
  schedule_in(0, [h] { h.resume(); });
}

void simulation::detail_process_failed(std::exception_ptr e) noexcept {
  if (!failure_) failure_ = e;
  stopped_ = true;
}

void simulation::detail_process_finished(void* frame) noexcept {
  auto it = std::find(processes_.begin(), processes_.end(), frame);
  if (it != processes_.end()) {
    *it = processes_.back();
    processes_.pop_back();
  }
}

}  // namespace moesim::sim
