#pragma once
// Processes: C++20 coroutines that wait in simulated time.
//
//   sim::process worker(sim::simulation& sim, sim::flag& done) {
//     co_await sim::delay{5 * sim::ps_per_us};   // resume 5 us later
//     co_await done;                             // resume when `done` is set
//   }
//   sim.spawn(worker(sim, done));
//
// A process starts at the time it is spawned (as an ordinary event, so FIFO order holds) and
// every resumption is an event too: waking order follows the same (time, sequence) rule as
// callbacks. The simulation owns spawned frames and destroys finished ones at once, unfinished
// ones when it is destroyed. An exception escaping a process stops the simulation and is
// rethrown by run().
#include <coroutine>
#include <exception>
#include <vector>

#include "sim/engine/simulation.hpp"

namespace moesim::sim {

/// Awaitable: resume after `duration` picoseconds (>= 0).
struct delay {
  time_ps duration;
};

/// Awaitable: resume at absolute time `at` (>= now).
struct until {
  time_ps at;
};

/// A level-triggered flag processes can wait on. set() wakes every waiter (each through an
/// event at the current time, in the order they started waiting); while set, co_await does not
/// suspend. reset() clears it. Not copyable: waiters hold its address.
class flag {
 public:
  explicit flag(simulation& sim) : sim_(&sim) {}
  flag(const flag&) = delete;
  flag& operator=(const flag&) = delete;

  [[nodiscard]] bool is_set() const noexcept { return set_; }
  void set() {
    set_ = true;
    std::vector<std::coroutine_handle<>> waiters;
    waiters.swap(waiters_);
    for (auto h : waiters) sim_->schedule_in(0, [h] { h.resume(); });
  }
  void reset() noexcept { set_ = false; }

  auto operator co_await() noexcept {
    struct awaiter {
      flag* f;
      [[nodiscard]] bool await_ready() const noexcept { return f->set_; }
      void await_suspend(std::coroutine_handle<> h) { f->waiters_.push_back(h); }
      void await_resume() const noexcept {}
    };
    return awaiter{this};
  }

 private:
  simulation* sim_;
  bool set_ = false;
  std::vector<std::coroutine_handle<>> waiters_;
};

class [[nodiscard]] process {
 public:
  struct promise_type {
    simulation* sim = nullptr;

    process get_return_object() noexcept {
      return process(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    auto final_suspend() noexcept {
      struct finisher {
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> h) noexcept {
          simulation* s = h.promise().sim;
          s->detail_process_finished(h.address());
          h.destroy();
        }
        void await_resume() const noexcept {}
      };
      return finisher{};
    }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { sim->detail_process_failed(std::current_exception()); }

    auto await_transform(delay d) { return time_awaiter{sim, sim->now() + d.duration}; }
    auto await_transform(until u) { return time_awaiter{sim, u.at}; }
    template <class A>
    decltype(auto) await_transform(A&& a) noexcept {
      return std::forward<A>(a);
    }

    struct time_awaiter {
      simulation* sim;
      time_ps at;
      [[nodiscard]] bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<> h) {
        sim->schedule_at(at, [h] { h.resume(); });
      }
      void await_resume() const noexcept {}
    };
  };

  process(process&& o) noexcept : handle_(o.handle_) { o.handle_ = {}; }
  process& operator=(process&&) = delete;
  process(const process&) = delete;
  ~process() {
    if (handle_) handle_.destroy();  // never spawned
  }

 private:
  friend class simulation;
  explicit process(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  std::coroutine_handle<promise_type> release() noexcept {
    auto h = handle_;
    handle_ = {};
    return h;
  }

  std::coroutine_handle<promise_type> handle_;
};

}  // namespace moesim::sim
