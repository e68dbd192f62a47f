// MPI transport and scheduling of distributed sweeps; see sweep_mpi.hpp for the design.
#include "tools/moesim/sweep_mpi.hpp"

#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace moesim::cli::sweep_mpi {

namespace {

constexpr std::uint64_t stop = std::numeric_limits<std::uint64_t>::max();

enum tag : int {
  tag_request = 1,    ///< worker -> 0: CBOR {} (first request) or {i, point} / {i, code, message}
  tag_assign = 2,     ///< 0 -> worker: one uint64, a point index or `stop`
  tag_rank_done = 3,  ///< worker -> 0: empty; every compute thread of the rank has stopped
  tag_failure = 4,    ///< lowest failing rank -> 0 in agree(): CBOR {code, message}
};

/// A compute thread's message to its process's main thread: a request for a point, with the
/// result of the point it finished (none on its first request).
struct event {
  int thread = 0;
  std::optional<std::size_t> index;
  outcome result;
};

/// `jobs` compute threads fed one point at a time by the main thread (next() / assign()).
class local_pool {
 public:
  local_pool(int jobs, const compute_fn& compute) : compute_(compute), slots_(jobs) {
    active_ = jobs;
    for (int t = 0; t < jobs; ++t) threads_.emplace_back([this, t] { loop(t); });
  }
  ~local_pool() {
    {
      const std::lock_guard lock(mutex_);
      quitting_ = true;  // only when unwinding: normally every thread got `stop` already
    }
    to_threads_.notify_all();
    for (auto& t : threads_) t.join();
  }
  local_pool(const local_pool&) = delete;
  local_pool& operator=(const local_pool&) = delete;

  /// Threads not yet sent `stop`.
  [[nodiscard]] int active() const noexcept { return active_; }

  /// The next event, waiting up to `wait` for one.
  std::optional<event> next(std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    if (!to_main_.wait_for(lock, wait, [this] { return !events_.empty(); })) return std::nullopt;
    event e = std::move(events_.front());
    events_.pop_front();
    return e;
  }

  /// Gives `thread` (which sent an event) its next point, or `stop`.
  void assign(int thread, std::uint64_t point) {
    if (point == stop) --active_;
    {
      const std::lock_guard lock(mutex_);
      slots_[thread] = point;
    }
    to_threads_.notify_all();
  }

 private:
  void loop(int t) {
    event e{t, std::nullopt, {}};
    for (;;) {
      std::uint64_t point = stop;
      {
        std::unique_lock lock(mutex_);
        events_.push_back(std::move(e));
        to_main_.notify_one();
        to_threads_.wait(lock, [&] { return quitting_ || slots_[t].has_value(); });
        if (quitting_ && !slots_[t]) return;
        point = *slots_[t];
        slots_[t].reset();
      }
      if (point == stop) return;
      e = event{t, point, compute_(point)};
    }
  }

  const compute_fn& compute_;
  std::vector<std::optional<std::uint64_t>> slots_;
  int active_ = 0;
  std::mutex mutex_;
  std::condition_variable to_main_;
  std::condition_variable to_threads_;
  std::deque<event> events_;
  bool quitting_ = false;
  std::vector<std::thread> threads_;
};

std::vector<std::uint8_t> encode(const event& e) {
  io::json m = io::json::object();
  if (e.index) {
    m["i"] = *e.index;
    if (e.result.error.code != 0) {
      m["code"] = e.result.error.code;
      m["message"] = e.result.error.message;
    } else {
      m["point"] = e.result.point;
    }
  }
  return io::json::to_cbor(m);
}

/// Receives the message `st` announced.
std::vector<std::uint8_t> receive(const MPI_Status& st) {
  int n = 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(n));
  MPI_Recv(bytes.data(), n, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return bytes;
}

void send(const std::vector<std::uint8_t>& bytes, int to, int tag) {
  MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, to, tag, MPI_COMM_WORLD);
}

/// Rank 0's code, on every rank; rank 0 keeps its message, the others get none.
failure broadcast(failure f, int rank) {
  MPI_Bcast(&f.code, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (rank != 0) f.message.clear();
  return f;
}

}  // namespace

world::world() {
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    throw std::runtime_error("MPI_Init_thread failed");
  }
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw std::runtime_error(
        "the MPI library does not provide MPI_THREAD_FUNNELED, which moesim sweep needs");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &ranks_on_node_);
  MPI_Comm_free(&node);
}

world::~world() {
  // An exception leaving while MPI lives would leave the other ranks waiting for this one:
  // abort the job instead (callers return agreed failures, never throw, while a world lives).
  if (std::uncaught_exceptions() > 0) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Finalize();
}

failure world::agree(const failure& mine) const {
  const int me = mine.code != 0 ? rank_ : size_;
  int lowest = size_;
  MPI_Allreduce(&me, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (lowest == size_) return {};
  failure out = rank_ == lowest ? mine : failure{};
  if (lowest != 0 && rank_ == lowest) {
    send(io::json::to_cbor(io::json{{"code", mine.code}, {"message", mine.message}}), 0,
         tag_failure);
  } else if (lowest != 0 && rank_ == 0) {
    MPI_Status st;
    MPI_Probe(lowest, tag_failure, MPI_COMM_WORLD, &st);
    const auto m = io::json::from_cbor(receive(st));
    out = failure{m.at("code").get<int>(), m.at("message").get<std::string>()};
  }
  return broadcast(std::move(out), rank_);
}

failure world::run(const std::vector<std::size_t>& todo, int jobs, const compute_fn& compute,
                   const done_fn& done) const {
  using std::chrono::milliseconds;
  local_pool local(jobs, compute);
  if (rank_ != 0) {
    while (local.active() > 0) {
      auto e = local.next(milliseconds(1000));
      if (!e) continue;
      send(encode(*e), 0, tag_request);
      std::uint64_t point = stop;
      MPI_Recv(&point, 1, MPI_UINT64_T, 0, tag_assign, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      local.assign(e->thread, point);
    }
    MPI_Send(nullptr, 0, MPI_BYTE, 0, tag_rank_done, MPI_COMM_WORLD);
    return broadcast({}, rank_);
  }
  failure first;
  std::size_t next = 0;
  auto take = [&](std::size_t i, outcome&& r) {
    failure f = r.error.code != 0 ? std::move(r.error) : done(i, std::move(r.point));
    if (f.code != 0 && first.code == 0) first = std::move(f);
  };
  // After a failure every request is answered `stop`: the points in flight finish, no new one
  // starts.
  auto hand_out = [&]() -> std::uint64_t {
    return first.code != 0 || next >= todo.size() ? stop : todo[next++];
  };
  int remote = size_ - 1;
  while (remote > 0 || local.active() > 0) {
    bool served = false;
    if (remote > 0) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
      if (flag != 0) {
        served = true;
        if (st.MPI_TAG == tag_rank_done) {
          (void)receive(st);
          --remote;
        } else {
          const auto m = io::json::from_cbor(receive(st));
          if (m.contains("i")) {
            outcome r;
            if (m.contains("code")) {
              r.error = failure{m.at("code").get<int>(), m.at("message").get<std::string>()};
            } else {
              r.point = m.at("point");
            }
            take(m.at("i").get<std::size_t>(), std::move(r));
          }
          const std::uint64_t point = hand_out();
          MPI_Send(&point, 1, MPI_UINT64_T, st.MPI_SOURCE, tag_assign, MPI_COMM_WORLD);
        }
      }
    }
    // Wait on the local threads: briefly while other ranks may ask (Iprobe again soon), not at
    // all right after serving one (more may be queued), long once only local threads are left.
    const milliseconds wait(served ? 0 : remote > 0 ? 1 : 1000);
    for (auto e = local.next(wait); e; e = local.next(milliseconds(0))) {
      if (e->index) take(*e->index, std::move(e->result));
      local.assign(e->thread, hand_out());
    }
  }
  return broadcast(std::move(first), rank_);
}

}  // namespace moesim::cli::sweep_mpi
