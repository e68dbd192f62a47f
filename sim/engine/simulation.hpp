#pragma once
// The discrete-event simulation: a clock, a pending-event set, and named random streams.
//
// Ordering contract (as in ns-3): events run in increasing time; events scheduled for the same
// time run in the order they were scheduled (FIFO, by a global insertion sequence number).
// Nothing else (addresses, hashes, thread timing) influences the order, so a run is a pure
// function of the scenario and the seed.
//
// No globals: every simulation is an object, passed explicitly; any number may exist and run
// in one process (not concurrently on one object: a simulation is single-threaded).
//
// Two ways to write behaviour:
//  - callbacks: `sim.schedule_in(delay, [&] { ... })`, cancellable through the returned id;
//  - processes: C++20 coroutines returning `sim::process` that `co_await sim.delay(d)`,
//    `co_await some_signal`, and are started with `sim.spawn(...)` (see process.hpp).
#include <cstdint>
#include <exception>
#include <string_view>
#include <vector>

#include "sim/engine/event_fn.hpp"
#include "sim/engine/event_queue.hpp"
#include "sim/engine/random.hpp"
#include "sim/engine/time.hpp"

namespace moesim::sim {

/// Identifies a scheduled event for cancellation. Stale ids (event ran or was cancelled) are
/// harmless: cancel() returns false for them.
struct event_id {
  std::uint32_t slot = ~0U;
  std::uint64_t sequence = 0;
};

class process;

class simulation {
 public:
  explicit simulation(std::uint64_t seed = 0) : seed_(seed) {}
  simulation(const simulation&) = delete;
  simulation& operator=(const simulation&) = delete;
  ~simulation();

  [[nodiscard]] time_ps now() const noexcept { return now_; }
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

  /// Schedules `fn` at absolute time `at` (>= now(); earlier throws std::logic_error). O(log n).
  template <class F>
  event_id schedule_at(time_ps at, F&& fn) {
    check_not_past(at);
    const std::uint32_t index = acquire_slot();
    slots_[index].fn = detail::event_fn(std::forward<F>(fn));
    return commit(index, at);
  }

  /// Schedules `fn` after `delay` (>= 0) picoseconds. O(log n).
  template <class F>
  event_id schedule_in(time_ps delay, F&& fn) {
    return schedule_at(now_ + delay, std::forward<F>(fn));
  }

  /// Cancels a pending event; its callback is destroyed now. O(1) (the heap entry is dropped
  /// lazily when it reaches the top). Returns whether the event was still pending.
  bool cancel(event_id id) noexcept;

  /// Runs events until none is pending or stop() is called. Rethrows the first exception
  /// escaping a callback or process (the simulation is then stopped at that event).
  void run();

  /// Runs events with time <= `limit`, then sets the clock to `limit` if it is later.
  void run_until(time_ps limit);

  /// Makes run()/run_until() return after the current event.
  void stop() noexcept { stopped_ = true; }

  [[nodiscard]] std::size_t pending() const noexcept { return live_; }
  [[nodiscard]] std::uint64_t events_processed() const noexcept { return processed_; }

  /// The random stream named `name` under this simulation's seed (see random.hpp).
  [[nodiscard]] rng stream(std::string_view name) const noexcept {
    return rng::stream(seed_, name);
  }

  /// Starts a process: it runs until its first suspension at the current time, as an event
  /// scheduled now (so spawning inside a callback never re-enters the caller).
  void spawn(process p);

  // Used by process.hpp; not part of the user-facing contract.
  void detail_process_failed(std::exception_ptr e) noexcept;
  void detail_process_finished(void* frame) noexcept;

 private:
  struct slot {
    detail::event_fn fn;
    std::uint64_t sequence = 0;  ///< sequence of the event occupying the slot; 0 when free
  };

  std::uint32_t acquire_slot() {
    if (free_slots_.empty()) {
      slots_.emplace_back();
      return static_cast<std::uint32_t>(slots_.size() - 1);
    }
    const std::uint32_t index = free_slots_.back();
    free_slots_.pop_back();
    return index;
  }
  event_id commit(std::uint32_t index, time_ps at) {
    const std::uint64_t seq = next_sequence_++;
    slots_[index].sequence = seq;
    if (top_consumed_) {
      queue_.replace_top({at, seq, index});
      top_consumed_ = false;
    } else {
      queue_.push({at, seq, index});
    }
    ++live_;
    return {index, seq};
  }
  void check_not_past(time_ps at) const;
  bool step(time_ps limit);
  void retire_top() noexcept {
    if (top_consumed_) {
      queue_.pop();
      top_consumed_ = false;
    }
  }
  void rethrow_failure();

  std::uint64_t seed_;
  time_ps now_ = 0;
  std::uint64_t next_sequence_ = 1;
  std::uint64_t processed_ = 0;
  std::size_t live_ = 0;
  bool stopped_ = false;
  bool top_consumed_ = false;  ///< the heap's top entry has run and awaits removal
  detail::event_queue queue_;
  std::vector<slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<void*> processes_;  ///< frames of running processes (owned; destroyed in ~simulation)
  std::exception_ptr failure_;
};

}  // namespace moesim::sim
