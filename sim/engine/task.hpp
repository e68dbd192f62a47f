#pragma once
// Tasks: coroutines a process (or another task) awaits inline, for work that reads best as its
// own function but belongs to the awaiting process's story.
//
//   sim::task pass(sim::simulation& sim) { co_await sim::delay{5 * sim::ps_per_us}; }
//   sim::process worker(sim::simulation& sim) { co_await pass(sim); /* 5 us later */ }
//
// A task starts when it is awaited and hands control back to its awaiter the moment it ends
// (symmetric transfer), so awaiting a task schedules no event of its own: the event order is
// exactly what it would be were the task's body written inline in the awaiter. Inside, a task
// awaits what a process awaits (delay, until, flag, other tasks). An exception escaping a task
// is rethrown in its awaiter. The awaiter's frame owns the task's frame (the task object lives
// in the co_await expression), so a simulation destroying an unfinished process destroys the
// tasks it is awaiting too. A task that is never awaited never runs.
#include <coroutine>
#include <exception>
#include <utility>

#include "sim/engine/process.hpp"

namespace moesim::sim {

class [[nodiscard]] task {
 public:
  struct promise_type {
    simulation* sim = nullptr;
    std::coroutine_handle<> awaiter;
    std::exception_ptr failure;

    task get_return_object() noexcept {
      return task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    auto final_suspend() noexcept {
      struct resume_awaiter {
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
          return h.promise().awaiter;
        }
        void await_resume() const noexcept {}
      };
      return resume_awaiter{};
    }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { failure = std::current_exception(); }

    auto await_transform(delay d) {
      return process::promise_type::time_awaiter{sim, sim->now() + d.duration};
    }
    auto await_transform(until u) { return process::promise_type::time_awaiter{sim, u.at}; }
    template <class A>
    decltype(auto) await_transform(A&& a) noexcept {
      return std::forward<A>(a);
    }
  };

  task(task&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
  task& operator=(task&&) = delete;
  task(const task&) = delete;
  ~task() {
    if (handle_) handle_.destroy();
  }

  /// Awaiting a task runs it now, inside the awaiter's event; the awaiter resumes when it ends.
  struct awaiter {
    std::coroutine_handle<promise_type> h;
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> caller) noexcept {
      h.promise().sim = caller.promise().sim;
      h.promise().awaiter = caller;
      return h;
    }
    void await_resume() const {
      if (h.promise().failure) std::rethrow_exception(h.promise().failure);
    }
  };
  awaiter operator co_await() && noexcept { return awaiter{handle_}; }

 private:
  explicit task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  std::coroutine_handle<promise_type> handle_;
};

}  // namespace moesim::sim
