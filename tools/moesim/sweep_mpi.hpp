#pragma once
// Distributed sweeps: the points of `moesim sweep` spread over the ranks of an MPI job
// (`mpirun -n R moesim sweep ...`, or `srun moesim sweep ...` under Slurm) and gathered on rank
// 0, which writes the same files as a threaded run (tools/moesim/cmd_sweep.cpp). This header
// needs no MPI; sweep_mpi.cpp, the only file of moesim that includes mpi.h, is built when CMake
// finds MPI and then defines MOESIM_WITH_MPI for the moesim target (tools/CMakeLists.txt).
//
// Design:
// - Dynamic hand-out: each compute thread that finishes a point sends the result with a request
//   for the next; rank 0 answers with the next point in point order, or stop. Slow points do not
//   idle the others; --jobs N runs N compute threads on every rank.
// - Rank 0 computes too: it runs its --jobs compute threads like every rank, and its main thread
//   serves the requests: MPI_Iprobe, then a wait of at most 1 ms on its own threads' events. So
//   it neither spins a core (2 ranks at --jobs 1 on 2 cores compete with no third busy thread)
//   nor delays a request by more than about 1 ms. Other ranks' main threads wait on their
//   threads' events and block in MPI only for the answer to a request.
// - MPI_THREAD_FUNNELED: only the main thread of a process calls MPI; compute threads pass
//   results to it through a mutex-guarded queue. Every MPI build provides that level (MULTIPLE
//   is optional in Open MPI builds and makes every call take locks), and one small message each
//   way per point needs nothing more.
// - Results travel as CBOR of the point's JSON: exact, doubles keep every bit, so rank 0 writes
//   the threaded run's bytes.
// - Errors: setup (reading the file, checking the axes) runs on every rank and agree() brings
//   the lowest failing rank's message to rank 0; a point failing with an error (not an
//   infeasible row) stops the hand-out. Every rank ends with the same exit code; only rank 0
//   prints.
#include <cstddef>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sim/io/schema.hpp"

namespace moesim::cli::sweep_mpi {

/// This process's rank in a job started by an MPI launcher, read from the environment (no MPI
/// call, so a plain `moesim sweep` never initialises MPI): Open MPI's mpirun sets
/// OMPI_COMM_WORLD_RANK, PMIx launchers (srun --mpi=pmix, prterun) PMIX_RANK, Slurm's PMI-2 and
/// MPICH's PMI_RANK. nullopt when not launched by one.
inline std::optional<int> launched_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"}) {
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') return std::atoi(v);
  }
  return std::nullopt;
}

/// A failed step: the exit code (2 bad input, 1 internal error; 0 = no failure) and message.
struct failure {
  int code = 0;
  std::string message;
};

/// A point's result: its JSON, or the failure that stopped it. (clang-tidy 14 takes the implicit
/// noexcept move for one that may throw: json's and string's moves do not.)
struct outcome {  // NOLINT(bugprone-exception-escape)
  io::json point;
  failure error;
};
/// Computes one point on a compute thread; must not throw.
using compute_fn = std::function<outcome(std::size_t point)>;
/// Takes one finished point on rank 0's main thread, in completion order; must not throw (a
/// failure stops the hand-out).
using done_fn = std::function<failure(std::size_t point, io::json&& result)>;

/// The MPI job: MPI_Init_thread (FUNNELED) on construction, MPI_Finalize on destruction, or
/// MPI_Abort of the whole job when destroyed by an exception (never a hang); one per process, on
/// the main thread.
class world {
 public:
  world();
  ~world();
  world(const world&) = delete;
  world& operator=(const world&) = delete;
  [[nodiscard]] int rank() const noexcept { return rank_; }
  [[nodiscard]] int size() const noexcept { return size_; }
  /// Ranks on this machine (MPI_Comm_split_type SHARED), for the default --jobs: its cores
  /// shared among them.
  [[nodiscard]] int ranks_on_node() const noexcept { return ranks_on_node_; }

  /// Collective. `mine`: this rank's outcome of a step (code 0 = fine). Returns, on rank 0, the
  /// failure of the lowest failing rank (its message sent over); on other ranks that code with
  /// no message; code 0 when every rank is fine.
  [[nodiscard]] failure agree(const failure& mine) const;

  /// Collective: the points `todo` (read on rank 0 only) computed by `jobs` threads on every
  /// rank, handed out one at a time; each result goes to `done` on rank 0. Returns as agree():
  /// the first failure (rank 0 has its message), or code 0.
  [[nodiscard]] failure run(const std::vector<std::size_t>& todo, int jobs,
                            const compute_fn& compute, const done_fn& done) const;

 private:
  int rank_ = 0;
  int size_ = 1;
  int ranks_on_node_ = 1;
};

}  // namespace moesim::cli::sweep_mpi
