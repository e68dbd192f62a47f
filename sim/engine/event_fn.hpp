#pragma once
// A move-only `void()` callable with inline storage, for event callbacks: std::function would
// allocate for most lambdas and requires copyability. Callables up to `inline_bytes` (and
// nothrow-movable) live inside the object; larger ones go to the heap.
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace moesim::sim::detail {

class event_fn {
 public:
  static constexpr std::size_t inline_bytes = 48;

  event_fn() noexcept = default;

  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, event_fn> && std::is_invocable_r_v<void, F&>)
  event_fn(F&& f) {  // NOLINT(google-explicit-constructor): used like std::function
    using T = std::decay_t<F>;
    if constexpr (fits_inline<T>()) {
      ::new (static_cast<void*>(buf_)) T(std::forward<F>(f));
      ops_ = &inline_ops<T>;
    } else {
      *reinterpret_cast<T**>(buf_) = new T(std::forward<F>(f));
      ops_ = &heap_ops<T>;
    }
  }

  event_fn(event_fn&& o) noexcept : ops_(o.ops_) {
    if (ops_) ops_->move(o.buf_, buf_);
    o.ops_ = nullptr;
  }
  event_fn& operator=(event_fn&& o) noexcept {
    if (this != &o) {
      reset();
      ops_ = o.ops_;
      if (ops_) ops_->move(o.buf_, buf_);
      o.ops_ = nullptr;
    }
    return *this;
  }
  event_fn(const event_fn&) = delete;
  event_fn& operator=(const event_fn&) = delete;
  ~event_fn() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  void operator()() { ops_->call(buf_); }
  void reset() noexcept {
    if (ops_) ops_->destroy(buf_);
    ops_ = nullptr;
  }

 private:
  struct ops {
    void (*call)(void*);
    void (*move)(void* from, void* to) noexcept;
    void (*destroy)(void*) noexcept;
  };
  template <class T>
  static constexpr bool fits_inline() {
    return sizeof(T) <= inline_bytes && alignof(T) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<T>;
  }
  template <class T>
  static constexpr ops inline_ops{
      [](void* p) { (*static_cast<T*>(p))(); },
      [](void* from, void* to) noexcept {
        ::new (to) T(std::move(*static_cast<T*>(from)));
        static_cast<T*>(from)->~T();
      },
      [](void* p) noexcept { static_cast<T*>(p)->~T(); }};
  template <class T>
  static constexpr ops heap_ops{
      [](void* p) { (**static_cast<T**>(p))(); },
      [](void* from, void* to) noexcept { *static_cast<T**>(to) = *static_cast<T**>(from); },
      [](void* p) noexcept { delete *static_cast<T**>(p); }};

  alignas(std::max_align_t) unsigned char buf_[inline_bytes];
  const ops* ops_ = nullptr;
};

}  // namespace moesim::sim::detail
