// `moesim sweep`: the points of a scenario's `sweep:` block (sim/io/sweep.hpp) simulated on a
// pool of threads, or over the ranks of an MPI job (sweep_mpi.hpp), journaled as they finish
// (sim/io/sweep_journal.hpp) and written as PREFIX.json and PREFIX.csv in point order
// (byte-identical at any --jobs and rank count).
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "sim/io/limits.hpp"
#include "sim/io/metrics.hpp"
#include "sim/io/overrides.hpp"
#include "sim/io/progress.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/io/sweep.hpp"
#include "sim/io/sweep_journal.hpp"
#include "sim/run/simulate.hpp"
#include "tools/moesim/commands.hpp"
#include "tools/moesim/options.hpp"
#include "tools/moesim/progress_display.hpp"
#include "tools/moesim/sweep_mpi.hpp"

namespace moesim::cli {

namespace {

struct sweep_args {
  std::string file;
  std::string out;
  int jobs = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  std::size_t limit = 0;
  std::size_t seeds = 1;
  bool resume = false;
  bool force = false;
  bool quiet = false;
  bool jobs_given = false;  ///< --jobs on the command line (else, under MPI, cores / ranks)
};

/// The reason a refused point is infeasible: the loader's message without its file position.
std::string reason_of(const io::input_error& e) {
  if (!e.located()) return e.what();
  return (e.context().empty() ? "" : e.context() + ": ") +
         (e.path().empty() ? "" : e.path() + ": ") + e.detail();
}

/// Loads every axis value alone over the base, so a wrong key or value is bad input (exit 2)
/// before anything runs; a value that is only infeasible is a row of the sweep.
void check_axes(const io::doc::node& root, const io::sweep_spec& spec, const std::string& dir,
                bool allow_large) {
  for (const auto* part : {&spec.grid, &spec.zip}) {
    for (const auto& a : *part) {
      for (const auto& v : a.values) {
        io::doc::node point = root;
        io::apply_override(point, a.path, v, a.key_where);
        try {
          (void)io::load_scenario_tree(std::move(point), dir, {{}, {}, allow_large});
        } catch (const io::infeasible_error&) {
        }
      }
    }
  }
}

/// Point `i` over the seeds: its JSON (sim/io/sweep.hpp point_json).
io::json run_point(const io::doc::node& root, const io::sweep_spec& spec, std::size_t i,
                   std::size_t seeds, const std::string& dir, int threads, bool allow_large) {
  std::vector<std::vector<sim::run::run_result>> runs;
  std::vector<std::string> strategies;
  try {
    io::doc::node tree = root;
    io::apply_point(tree, spec, i);
    std::uint64_t seed = 0;
    for (std::size_t k = 0; k < seeds; ++k) {
      io::load_options opt;
      opt.allow_large = allow_large;
      if (k > 0) opt.seed = seed + k;
      const auto set = io::load_scenario_tree(tree, dir, opt);
      io::check_scenario_limits(set.base, "point", allow_large);
      for (const auto& s : set.strategies) {
        io::check_scenario_limits(s, "point (strategy " + s.variant + ")", allow_large);
      }
      if (k == 0) seed = set.base.seed;
      std::vector<const sim::run::scenario*> scenarios{&set.base};
      for (const auto& s : set.strategies) scenarios.push_back(&s);
      if (k == 0) {
        for (const auto* s : scenarios)
          strategies.push_back(s->variant.empty() ? "base" : s->variant);
      }
      auto& results = runs.emplace_back();
      for (const auto* s : scenarios) {
        sim::trace_recorder off(false);
        results.push_back(sim::run::simulate(*s, off, sim::run::run_options{threads, {}, {}}));
      }
    }
  } catch (const io::input_error& e) {
    // Each value loaded alone up front, so a refusal here is of the combination.
    return io::point_json(spec, i, {}, {}, reason_of(e));
  } catch (const std::invalid_argument& e) {
    return io::point_json(spec, i, {}, {}, e.what());  // the workload refused the layout
  }
  return io::point_json(spec, i, strategies, runs, "");
}

void write_text(const std::string& path, const std::string& text) {
  const std::string part = path + ".part";
  {
    std::ofstream out(part, std::ios::binary);
    out << text;
    if (!out.flush()) throw io::input_error(path + ": cannot write the sweep output");
  }
  std::error_code e;
  std::filesystem::rename(part, path, e);
  if (e) throw io::input_error(path + ": cannot write the sweep output (" + e.message() + ")");
}

/// Points done, rate and ETA: redrawn in place on a terminal, else a plain line every 10 s.
class sweep_progress {
 public:
  sweep_progress(std::size_t total, bool enabled) : total_(total) {
    if (enabled) thread_ = std::thread([this] { loop(); });
  }
  ~sweep_progress() {
    if (!thread_.joinable()) return;
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
    if (drawn_ && tty_) std::fputs("\r\033[K", stderr);
  }
  sweep_progress(const sweep_progress&) = delete;
  sweep_progress& operator=(const sweep_progress&) = delete;
  void point_done() noexcept { ++done_; }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    double last = 0;
    while (!wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; })) {
      const double now = std::chrono::duration<double>(clock::now() - start_).count();
      if (now < 1.0 || (!tty_ && now - last < 10.0)) continue;
      last = now;
      const std::size_t done = done_;
      const double rate = static_cast<double>(done) / now;
      const std::string line = fmt::format(
          "moesim sweep: {}/{} points, {:.3g} points/s, {} elapsed{}", done, total_, rate,
          io::format_duration(now),
          done > 0 ? ", ETA " + io::format_duration(static_cast<double>(total_ - done) / rate)
                   : std::string());
      std::fprintf(stderr, tty_ ? "\r%s\033[K" : "%s\n", line.c_str());
      std::fflush(stderr);
      drawn_ = true;
    }
  }
  using clock = std::chrono::steady_clock;
  std::size_t total_;
  std::atomic<std::size_t> done_{0};
  clock::time_point start_ = clock::now();
  bool tty_ = progress_display::stderr_is_terminal();
  bool drawn_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

/// Everything every process (every MPI rank) derives from the file alone, checked.
struct sweep_plan {
  io::doc::node root;  ///< the scenario without its sweep block
  io::sweep_spec spec;
  std::string dir;        ///< the file's folder (relative paths in the scenario)
  std::size_t total = 0;  ///< points in the sweep
  std::size_t n = 0;      ///< points to have (--limit)
  std::string prefix;
};

sweep_plan plan_sweep(const sweep_args& a) {
  sweep_plan p;
  p.root = io::doc::parse_file(a.file);
  const io::doc::node* block = p.root.is_map() ? p.root.find("sweep") : nullptr;
  if (block == nullptr) {
    throw io::input_error(a.file + ": no sweep: block (axes to sweep; see README \"Sweeps\")");
  }
  p.spec = io::read_sweep(*block);
  p.root.erase("sweep");
  p.total = p.spec.points();
  if (p.total > limits::sweep_points && !a.force) {
    throw io::input_error(
        p.spec.where, "sweep",
        fmt::format("{} points, more than {}: pass {} to run them",
                    p.total == SIZE_MAX ? std::string("too many") : std::to_string(p.total),
                    limits::sweep_points, limits::allow_large_flag));
  }
  p.dir = std::filesystem::path(a.file).parent_path().string();
  check_axes(p.root, p.spec, p.dir, a.force);
  p.n = a.limit > 0 ? std::min(a.limit, p.total) : p.total;
  p.prefix = a.out.empty() ? std::filesystem::path(a.file).stem().string() : a.out;
  return p;
}

/// The writer's state (the only process, or rank 0): the points so far and the journal.
struct sweep_outputs {
  std::vector<io::json> points;  ///< by point index; null = still to run
  std::vector<std::size_t> todo;
  std::unique_ptr<io::sweep_journal> journal;
  std::mutex mutex;

  /// Point `i` done: journaled (durable) first, then kept. Thread-safe.
  void record(std::size_t i, io::json&& point) {
    journal->append(point);
    const std::lock_guard lock(mutex);
    points[i] = std::move(point);
  }
};

/// --resume's points (PREFIX.json, then the journal PREFIX.partial.jsonl), and a fresh journal
/// holding them.
void open_outputs(const sweep_args& a, const sweep_plan& p, sweep_outputs& out) {
  out.points.assign(p.n, io::json());
  const std::string journal = io::sweep_journal_path(p.prefix);
  if (a.resume && std::filesystem::exists(p.prefix + ".json")) {
    const std::string text = io::read_input_file(
        p.prefix + ".json", p.prefix + ".json: --resume: cannot read the earlier output");
    io::json old;
    try {
      old = io::json::parse(text);
    } catch (const io::json::exception& e) {
      throw io::input_error(p.prefix + ".json: --resume: not JSON (" + e.what() + ")");
    }
    out.points = io::resumable_points(old, p.spec, a.seeds, p.n, p.prefix + ".json");
  }
  if (a.resume && std::filesystem::exists(journal)) {
    auto journaled = io::read_sweep_journal(journal, p.spec, a.seeds, p.n);
    for (std::size_t i = 0; i < p.n; ++i) {
      if (out.points[i].is_null()) out.points[i] = std::move(journaled[i]);
    }
  }
  for (std::size_t i = 0; i < p.n; ++i) {
    if (out.points[i].is_null()) out.todo.push_back(i);
  }
  out.journal = std::make_unique<io::sweep_journal>(journal, p.spec, a.seeds, out.points);
}

/// The points to run on `a.jobs` threads of this process.
void run_threads(const sweep_args& a, const sweep_plan& p, sweep_outputs& out) {
  const auto& todo = out.todo;
  std::vector<std::exception_ptr> errors(todo.size());
  std::atomic<std::size_t> next{0};
  {
    sweep_progress progress(todo.size(), !a.quiet);
    const auto workers = std::min<std::size_t>(static_cast<std::size_t>(a.jobs), todo.size());
    // Threads beyond the points go to each simulation's routing maths (byte-identical).
    const int inner =
        static_cast<int>(static_cast<std::size_t>(a.jobs) / std::max<std::size_t>(workers, 1));
    auto work = [&] {
      for (std::size_t k = next++; k < todo.size(); k = next++) {
        try {
          out.record(todo[k], run_point(p.root, p.spec, todo[k], a.seeds, p.dir, inner, a.force));
        } catch (...) {
          errors[k] = std::current_exception();
        }
        progress.point_done();
      }
    };
    std::vector<std::thread> pool;
    for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
  }
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

/// Writes PREFIX.json and PREFIX.csv in point order (each through a temporary file renamed
/// over it), removes the journal, prints the summary (`startup`: MPI's start-up, part of the
/// wall time from `t0`).
int finish(const sweep_args& a, const sweep_plan& p, sweep_outputs& out,
           std::chrono::steady_clock::time_point t0, std::optional<double> startup = {}) {
  const auto* name = p.root.find("name");
  io::json doc{{"schema", io::sweep_schema},
               {"scenario", name && name->is_scalar() ? name->text() : std::string()},
               {"seeds", a.seeds},
               {"axes", p.spec.axis_names()},
               {"points_total", p.total},
               {"points", out.points}};
  write_text(p.prefix + ".json", io::dump(doc));
  write_text(p.prefix + ".csv", io::sweep_csv(doc));
  out.journal->remove();
  if (!a.quiet) {
    std::size_t infeasible = 0;
    for (const auto& pt : out.points) infeasible += pt.at("rows").at(0).at("feasible") ? 0 : 1;
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::size_t ran = out.todo.size();
    fmt::print(std::cout,
               "{}: {} of {} points ({} infeasible, {} resumed), {} seed{} each; wrote {}.csv "
               "and {}.json\n  wall time {:.3f} s ({:.3g} points/s run{})\n",
               a.file, p.n, p.total, infeasible, p.n - ran, a.seeds, a.seeds == 1 ? "" : "s",
               p.prefix, p.prefix, wall, static_cast<double>(ran) / std::max(wall, 1e-9),
               startup ? fmt::format("; MPI start-up {:.3f} s of it", *startup) : "");
  }
  return 0;
}

#if MOESIM_WITH_MPI
/// The failure `fn` throws, if any (input_error: exit 2; anything else: exit 1).
sweep_mpi::failure attempt(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const io::input_error& e) {
    return {2, e.what()};
  } catch (const std::exception& e) {
    return {1, e.what()};
  }
  return {};
}

/// A failure agreed by every rank: rank 0 throws it for main() to print (exactly as a threaded
/// run would), the others exit with its code silently.
int fail(const sweep_mpi::failure& f, int rank) {
  if (rank != 0) return f.code;
  if (f.code == 2) throw io::input_error(f.message);
  throw std::runtime_error(f.message);
}

/// The collective part: every rank reads and checks the file, then rank 0 the outputs; points
/// are handed out by rank 0 (sweep_mpi.hpp) and recorded there. Failures are returned, agreed.
sweep_mpi::failure distribute(const sweep_mpi::world& world, sweep_args a, sweep_plan& plan,
                              sweep_outputs& out) {
  if (!a.jobs_given) {  // the node's cores shared by its ranks
    a.jobs = std::max(1, a.jobs / world.ranks_on_node());
  }
  // Every rank's file checked before rank 0 touches the outputs (a bad file on any rank must
  // leave an earlier journal as it was).
  sweep_mpi::failure f = world.agree(attempt([&] { plan = plan_sweep(a); }));
  if (f.code != 0) return f;
  f = world.agree(attempt([&] {
    if (world.rank() == 0) open_outputs(a, plan, out);
  }));
  if (f.code != 0) return f;
  std::optional<sweep_progress> progress;
  if (world.rank() == 0) progress.emplace(out.todo.size(), !a.quiet);
  auto compute = [&](std::size_t i) {
    sweep_mpi::outcome o;
    o.error = attempt(
        [&] { o.point = run_point(plan.root, plan.spec, i, a.seeds, plan.dir, 1, a.force); });
    return o;
  };
  auto done = [&](std::size_t i, io::json&& point) {
    auto r = attempt([&] { out.record(i, std::move(point)); });
    progress->point_done();
    return r;
  };
  return world.run(out.todo, a.jobs, compute, done);
}

/// Under mpirun/srun. Rank 0 writes the files after MPI_Finalize, so nothing that can throw runs
/// while MPI lives (an exception then aborts the job: sweep_mpi::world).
int run_sweep_mpi(const sweep_args& a, std::chrono::steady_clock::time_point t0) {
  sweep_plan plan;
  sweep_outputs out;
  sweep_mpi::failure f;
  int rank = 0;
  double startup = 0;
  {
    const sweep_mpi::world world;
    startup = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rank = world.rank();
    f = distribute(world, a, plan, out);
  }
  if (f.code != 0) return fail(f, rank);
  return rank == 0 ? finish(a, plan, out, t0, startup) : 0;
}
#endif

int run_sweep(const sweep_args& a) {
  const auto t0 = std::chrono::steady_clock::now();
  if (const auto rank = sweep_mpi::launched_rank()) {
#if MOESIM_WITH_MPI
    return run_sweep_mpi(a, t0);
#else
    if (*rank != 0) return 0;
    std::cerr << "moesim sweep: this moesim was built without MPI: the sweep runs on rank 0's "
                 "threads only (rebuild with libopenmpi-dev installed to spread it over ranks)\n";
#endif
  }
  const sweep_plan plan = plan_sweep(a);
  sweep_outputs out;
  open_outputs(a, plan, out);
  run_threads(a, plan, out);
  return finish(a, plan, out, t0);
}

}  // namespace

void add_sweep_command(CLI::App& app, commands& cmds) {
  auto* sub = app.add_subcommand(
      "sweep", "Simulate every point of a scenario's sweep: block; write PREFIX.csv and .json");
  auto st = std::make_shared<sweep_args>();
  sub->add_option("file", st->file, "Scenario YAML file with a sweep: block")->required();
  sub->add_option("--jobs", st->jobs,
                  "Points simulated at once (default: the machine's cores); under MPI, per rank "
                  "(default: the machine's cores over its ranks); the outputs are "
                  "byte-identical for any count")
      ->check(CLI::Range(1, 256));
  sub->add_option("--out", st->out, "Output prefix (default: the file's name without .yaml)");
  sub->add_option("--limit", st->limit, "Run only the first N points")
      ->check(CLI::Range(1, 1 << 30));
  sub->add_option("--seeds", st->seeds,
                  "Run each point with seeds seed..seed+S-1; report mean and 95% CI")
      ->check(CLI::Range(1, 1000));
  sub->add_flag("--resume", st->resume,
                "Keep the points already in PREFIX.json and in the journal PREFIX.partial.jsonl");
  add_allow_large(sub, st->force, std::string(limits::allow_large_flag) + ",--force")
      ->description(
          "Run even when the estimated work exceeds moesim's limits: more than "
          "100,000 points, or a point beyond the devices, flows, requests or tokens "
          "limits (README: Limits); --force is the same flag");
  sub->add_flag("--quiet", st->quiet, "Print nothing on success, and no progress");
  sub->callback([&cmds, st, sub] {
    st->jobs_given = sub->count("--jobs") > 0;
    cmds.run = [st] { return run_sweep(*st); };
  });
}

}  // namespace moesim::cli
