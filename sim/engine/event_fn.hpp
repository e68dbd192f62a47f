#pragma once
// A move-only `void()` callable with inline storage, for event callbacks: std::function would
// allocate for most lambdas and requires copyability. Callables up to `inline_bytes` (and
// nothrow-movable) live inside the object; larger ones go to the heap.
#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace moesim::sim::detail {

// buf_ is raw storage: a constructor places the callable in it or leaves it unused (ops_ null),
// so clang-tidy's member-init check does not apply (zeroing it would cost every event).
// NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init)
class event_fn {
 public:
  static constexpr std::size_t inline_bytes = 32;

  event_fn() noexcept = default;  // NOLINT(cppcoreguidelines-pro-type-member-init): see above

  template <class F>
  requires(!std::is_same_v<std::decay_t<F>, event_fn> && std::is_invocable_r_v<void, F&>)
      // NOLINTNEXTLINE(bugprone-forwarding-reference-overload,cppcoreguidelines-pro-type-member-init)
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

  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): take() fills buf_
  event_fn(event_fn&& o) noexcept : ops_(o.ops_) { take(o); }
  event_fn& operator=(event_fn&& o) noexcept {
    if (this != &o) {
      reset();
      ops_ = o.ops_;
      take(o);
    }
    return *this;
  }
  event_fn(const event_fn&) = delete;
  event_fn& operator=(const event_fn&) = delete;
  ~event_fn() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  void operator()() { ops_->call(buf_); }
  void reset() noexcept {
    if (ops_ && ops_->destroy) ops_->destroy(buf_);
    ops_ = nullptr;
  }

 private:
  struct ops {
    void (*call)(void*);
    void (*move)(void* from, void* to) noexcept;
    void (*destroy)(void*) noexcept;
  };
  // Trivially copyable callables (lambdas capturing pointers and integers: most events) move
  // by copying bytes and need no destructor: no indirect call on the hot path but the call.
  void take(event_fn& o) noexcept {
    if (ops_ == nullptr) return;
    if (ops_->move == nullptr) {
      std::memcpy(buf_, o.buf_, inline_bytes);
    } else {
      ops_->move(o.buf_, buf_);
    }
    o.ops_ = nullptr;
  }

  template <class T>
  static constexpr bool trivial() {
    return std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>;
  }

  template <class T>
  static constexpr bool fits_inline() {
    return sizeof(T) <= inline_bytes && alignof(T) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<T>;
  }
  template <class T>
  static constexpr ops inline_ops = trivial<T>()
                                        ? ops{[](void* p) { (*static_cast<T*>(p))(); }, nullptr,
                                              nullptr}
                                        : ops{[](void* p) { (*static_cast<T*>(p))(); },
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
