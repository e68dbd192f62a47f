// `moesim sweep`: the points of a scenario's `sweep:` block (sim/io/sweep.hpp) simulated on a
// pool of threads, written as PREFIX.json and PREFIX.csv in point order (byte-identical at any
// --jobs).
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "sim/io/metrics.hpp"
#include "sim/io/overrides.hpp"
#include "sim/io/progress.hpp"
#include "sim/io/scenario_loader.hpp"
#include "sim/io/sweep.hpp"
#include "sim/run/simulate.hpp"
#include "tools/moesim/commands.hpp"
#include "tools/moesim/progress_display.hpp"

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
};

/// The reason a refused point is infeasible: the loader's message without its file position.
std::string reason_of(const io::input_error& e) {
  if (!e.located()) return e.what();
  return (e.context().empty() ? "" : e.context() + ": ") +
         (e.path().empty() ? "" : e.path() + ": ") + e.detail();
}

/// Loads every axis value alone over the base, so a wrong key or value is bad input (exit 2)
/// before anything runs; a value that is only infeasible is a row of the sweep.
void check_axes(const io::doc::node& root, const io::sweep_spec& spec, const std::string& dir) {
  for (const auto* part : {&spec.grid, &spec.zip}) {
    for (const auto& a : *part) {
      for (const auto& v : a.values) {
        io::doc::node point = root;
        io::apply_override(point, a.path, v, a.key_where);
        try {
          (void)io::load_scenario_tree(std::move(point), dir);
        } catch (const io::infeasible_error&) {
        }
      }
    }
  }
}

/// Point `i` over the seeds: its JSON (sim/io/sweep.hpp point_json).
io::json run_point(const io::doc::node& root, const io::sweep_spec& spec, std::size_t i,
                   std::size_t seeds, const std::string& dir, int threads) {
  std::vector<std::vector<sim::run::run_result>> runs;
  std::vector<std::string> strategies;
  try {
    io::doc::node tree = root;
    io::apply_point(tree, spec, i);
    std::uint64_t seed = 0;
    for (std::size_t k = 0; k < seeds; ++k) {
      io::load_options opt;
      if (k > 0) opt.seed = seed + k;
      const auto set = io::load_scenario_tree(tree, dir, opt);
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
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw io::input_error(path + ": cannot write the sweep output");
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

int run_sweep(const sweep_args& a) {
  const auto t0 = std::chrono::steady_clock::now();
  io::doc::node root = io::doc::parse_file(a.file);
  const io::doc::node* block = root.is_map() ? root.find("sweep") : nullptr;
  if (block == nullptr) {
    throw io::input_error(a.file + ": no sweep: block (axes to sweep; see README \"Sweeps\")");
  }
  const io::sweep_spec spec = io::read_sweep(*block);
  root.erase("sweep");
  const std::size_t total = spec.points();
  if (total > io::sweep_point_limit && !a.force) {
    throw io::input_error(
        spec.where, "sweep",
        fmt::format("{} points, more than {}: pass --force to run them",
                    total == SIZE_MAX ? std::string("too many") : std::to_string(total),
                    io::sweep_point_limit));
  }
  const std::string dir = std::filesystem::path(a.file).parent_path().string();
  check_axes(root, spec, dir);
  const std::size_t n = a.limit > 0 ? std::min(a.limit, total) : total;
  const std::string prefix = a.out.empty() ? std::filesystem::path(a.file).stem().string() : a.out;
  std::vector<io::json> points(n);
  if (a.resume && std::filesystem::exists(prefix + ".json")) {
    std::ifstream in(prefix + ".json", std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    io::json old;
    try {
      old = io::json::parse(text.str());
    } catch (const io::json::exception& e) {
      throw io::input_error(prefix + ".json: --resume: not JSON (" + e.what() + ")");
    }
    points = io::resumable_points(old, spec, a.seeds, n, prefix + ".json");
  }
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < n; ++i) {
    if (points[i].is_null()) todo.push_back(i);
  }
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
          points[todo[k]] = run_point(root, spec, todo[k], a.seeds, dir, inner);
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
  io::json doc{
      {"schema", io::sweep_schema},
      {"scenario", root.find("name") && root.find("name")->is_scalar() ? root.find("name")->text()
                                                                       : std::string()},
      {"seeds", a.seeds},
      {"axes", spec.axis_names()},
      {"points_total", total},
      {"points", points}};
  write_text(prefix + ".json", io::dump(doc));
  write_text(prefix + ".csv", io::sweep_csv(doc));
  if (!a.quiet) {
    std::size_t infeasible = 0;
    for (const auto& p : points) infeasible += p.at("rows").at(0).at("feasible") ? 0 : 1;
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print(std::cout,
               "{}: {} of {} points ({} infeasible, {} resumed), {} seed{} each; wrote {}.csv "
               "and {}.json\n  wall time {:.3f} s ({:.3g} points/s run)\n",
               a.file, n, total, infeasible, n - todo.size(), a.seeds, a.seeds == 1 ? "" : "s",
               prefix, prefix, wall, static_cast<double>(todo.size()) / std::max(wall, 1e-9));
  }
  return 0;
}

}  // namespace

void add_sweep_command(CLI::App& app, commands& cmds) {
  auto* sub = app.add_subcommand(
      "sweep", "Simulate every point of a scenario's sweep: block; write PREFIX.csv and .json");
  auto st = std::make_shared<sweep_args>();
  sub->add_option("file", st->file, "Scenario YAML file with a sweep: block")->required();
  sub->add_option("--jobs", st->jobs,
                  "Points simulated at once (default: the machine's cores); the outputs are "
                  "byte-identical for any count")
      ->check(CLI::Range(1, 256));
  sub->add_option("--out", st->out, "Output prefix (default: the file's name without .yaml)");
  sub->add_option("--limit", st->limit, "Run only the first N points")
      ->check(CLI::Range(1, 1 << 30));
  sub->add_option("--seeds", st->seeds,
                  "Run each point with seeds seed..seed+S-1; report mean and 95% CI")
      ->check(CLI::Range(1, 1000));
  sub->add_flag("--resume", st->resume, "Keep the points already in PREFIX.json");
  sub->add_flag("--force", st->force, "Allow more than 100,000 points");
  sub->add_flag("--quiet", st->quiet, "Print nothing on success, and no progress");
  sub->callback([&cmds, st] { cmds.run = [st] { return run_sweep(*st); }; });
}

}  // namespace moesim::cli
