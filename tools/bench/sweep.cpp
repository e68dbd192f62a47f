// Sweep speed (issue 15): the 200-point serving sweep scenarios/sweep-mixtral-serve.yaml as
// `moesim sweep` runs it, measured with this very binary (/proc/self/exe) in child processes so
// that both sides of each comparison are timed the same way (wall clock around a process):
//   - points/s at --jobs 1 and --jobs 2 over all 200 points (target: 2 threads >= 1.8x one), with
//     the children's CPU seconds (getrusage) to tell contention from a busy machine, and a check
//     that both runs wrote byte-identical files;
//   - under `mpirun -n 2` (1 thread a rank) when this binary has the MPI transport and mpirun is
//     on PATH: its wall time against --jobs 2 (target: within 10%), outputs byte-identical;
//   - the sweep's overhead per point, on a sample of the points (every 7th: all four layouts and
//     the whole rate range): point by point, interleaved, `moesim run --threads 1 --set ...`
//     (what a user runs for one point) against `moesim sweep --jobs 1` of a file holding that
//     point alone; overhead = the sweeps' wall time / the runs' - 1 (target < 5%; an upper
//     bound, the lone sweep paying its fixed costs for one point), and the same in CPU seconds
//     (user + system of the children). The sample as one sweep gives the amortised cost.
// The scenario's text is the shipped copy compiled into the binary. Minutes of wall time.
#include "sim/io/sweep.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ostream.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/io/doc.hpp"
#include "sim/io/embedded.hpp"
#include "tools/bench/bench.hpp"

namespace moesim::io::detail {
std::span<const embedded_file> embedded_scenarios();  // generated (sim/io/CMakeLists.txt)
}

namespace moesim::bench {

namespace {

constexpr const char* scenario_name = "sweep-mixtral-serve";
constexpr std::size_t sample_stride = 7;  // coprime with the 4 layouts: every layout sampled

using clock_type = std::chrono::steady_clock;

std::string shipped_text(const std::string& name) {
  const std::string path = "scenarios/" + name + ".yaml";
  for (const auto& f : io::detail::embedded_scenarios()) {
    if (f.path == path) return std::string(f.content);
  }
  throw std::invalid_argument("moesim bench sweep: no shipped " + path);
}

double cpu_of_children() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  const auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return s(u.ru_utime) + s(u.ru_stime);
}

struct child_time {
  double wall_s = 0;
  double cpu_s = 0;  ///< user + system seconds of the child
};

/// Runs `program` with `args` (stdout and stderr to /dev/null); throws when it fails.
child_time run_program(const std::string& program, const std::vector<std::string>& args) {
  std::vector<std::string> all{program};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(all.size() + 1);
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  const double cpu0 = cpu_of_children();
  const auto t0 = clock_type::now();
  pid_t pid = 0;
  const int err = posix_spawn(&pid, program.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  if (err != 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    std::string cmd = program;
    for (const auto& a : args) cmd += " " + a;
    throw std::runtime_error("moesim bench sweep: `" + cmd + "` failed");
  }
  return {std::chrono::duration<double>(clock_type::now() - t0).count(), cpu_of_children() - cpu0};
}

/// Runs this binary with `args`.
child_time run_self(const std::vector<std::string>& args) {
  return run_program("/proc/self/exe", args);
}

/// The path of `mpirun` on PATH when this binary has the MPI transport, else empty.
std::string mpirun_path() {
#ifdef MOESIM_WITH_MPI
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  for (std::string d; std::getline(dirs, d, ':');) {
    const std::filesystem::path p = std::filesystem::path(d) / "mpirun";
    if (!d.empty() && access(p.c_str(), X_OK) == 0) return p.string();
  }
#endif
  return {};
}

double load_average() {
  double load = 0;
  std::ifstream("/proc/loadavg") >> load;
  return load;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int sweep(const options& opt, std::ostream& out) {
  namespace fs = std::filesystem;
  const std::string text = shipped_text(scenario_name);
  const io::doc::node root = io::doc::parse(text, scenario_name);
  const io::sweep_spec spec = io::read_sweep(*root.find("sweep"));
  const std::size_t points = spec.points();
  const fs::path dir = fs::temp_directory_path() / fmt::format("moesim-bench-sweep-{}", getpid());
  fs::create_directories(dir);
  const std::string file = (dir / (std::string(scenario_name) + ".yaml")).string();
  std::ofstream(file, std::ios::binary) << text;
  const double load_start = load_average();

  // 1 and 2 threads over every point.
  const auto sweep_at = [&](int jobs, const std::string& f, const std::string& prefix) {
    return run_self(
        {"sweep", f, "--quiet", "--jobs", std::to_string(jobs), "--out", (dir / prefix).string()});
  };
  const child_time j1 = sweep_at(1, file, "j1");
  const child_time j2 = sweep_at(2, file, "j2");
  const bool identical = slurp(dir / "j1.csv") == slurp(dir / "j2.csv") &&
                         slurp(dir / "j1.json") == slurp(dir / "j2.json");
  // 2 Open MPI ranks of 1 thread each on this machine (the target: within 10% of 2 threads),
  // with the options the README gives for one machine in a container; mpirun's own start and
  // teardown are included, as a user pays them.
  const std::string mpirun = mpirun_path();
  child_time mpi{-1, -1};
  bool mpi_identical = false;
  if (!mpirun.empty()) {
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    mpi = run_program(mpirun, {"-q", "-n", "2", "--oversubscribe", "--mca", "btl", "self,vader",
                               "--mca", "btl_vader_single_copy_mechanism", "none",
                               fs::read_symlink("/proc/self/exe").string(), "sweep", file,
                               "--quiet", "--jobs", "1", "--out", (dir / "mpi").string()});
    mpi_identical = slurp(dir / "j1.csv") == slurp(dir / "mpi.csv") &&
                    slurp(dir / "j1.json") == slurp(dir / "mpi.json");
  }

  // The sample: the base without its sweep block, the chosen points zipped.
  const auto names = spec.axis_names();
  std::vector<std::size_t> sample;
  for (std::size_t i = 0; i < points; i += sample_stride) sample.push_back(i);
  const auto cut = text.find("\nsweep:");
  if (cut == std::string::npos) throw std::logic_error("moesim bench sweep: no sweep: line");
  const auto sweep_of = [&](const std::vector<std::size_t>& chosen, const std::string& stem) {
    std::string t = text.substr(0, cut + 1) + "sweep:\n  zip:\n";
    for (std::size_t a = 0; a < names.size(); ++a) {
      t += "    " + names[a] + ": [";
      for (std::size_t k = 0; k < chosen.size(); ++k) {
        t += (k ? ", " : "") + io::value_text(*spec.point(chosen[k])[a]);
      }
      t += "]\n";
    }
    std::string f = (dir / (stem + ".yaml")).string();
    std::ofstream(f, std::ios::binary) << t;
    return f;
  };
  const child_time in_sweep = sweep_at(1, sweep_of(sample, "sample"), "sample");
  // Point by point, interleaved so that the machine's load drifts over both alike: a `moesim
  // run` of the point, then a sweep of that point alone. Each is one process (one start); the
  // sweep alone also pays what a sweep pays once (its axes checked, its files written), so this
  // bounds the per-point overhead from above.
  child_time runs;
  child_time alone;
  for (std::size_t i : sample) {
    std::vector<std::string> args{"run", file, "--quiet", "--threads", "1"};
    for (std::size_t a = 0; a < names.size(); ++a) {
      args.push_back("--set");
      args.push_back(names[a] + "=" + io::value_text(*spec.point(i)[a]));
    }
    const child_time r = run_self(args);
    const child_time w = sweep_at(1, sweep_of({i}, "one"), "one");
    runs.wall_s += r.wall_s;
    runs.cpu_s += r.cpu_s;
    alone.wall_s += w.wall_s;
    alone.cpu_s += w.cpu_s;
  }
  fs::remove_all(dir);
  const double load_end = load_average();

  const auto n = static_cast<double>(points);
  const auto m = static_cast<double>(sample.size());
  const double pps1 = n / j1.wall_s;
  const double pps2 = n / j2.wall_s;
  const double speedup = pps2 / pps1;
  const double overhead = alone.wall_s / runs.wall_s - 1;
  const double overhead_cpu = alone.cpu_s / runs.cpu_s - 1;
  const double mpi_over_threads = mpi.wall_s > 0 ? mpi.wall_s / j2.wall_s : 0;
  const bool met = speedup >= 1.8 && overhead < 0.05 &&
                   (mpi.wall_s < 0 || (mpi_over_threads <= 1.1 && mpi_identical));
  if (opt.json) {
    nlohmann::ordered_json j{{"scenario", scenario_name},
                             {"points", points},
                             {"jobs1_wall_s", j1.wall_s},
                             {"jobs1_cpu_s", j1.cpu_s},
                             {"jobs2_wall_s", j2.wall_s},
                             {"jobs2_cpu_s", j2.cpu_s},
                             {"points_per_s_1", pps1},
                             {"points_per_s_2", pps2},
                             {"speedup", speedup},
                             {"identical_outputs", identical},
                             {"mpi2_wall_s", mpi.wall_s},
                             {"mpi2_cpu_s", mpi.cpu_s},
                             {"mpi2_over_jobs2", mpi_over_threads},
                             {"mpi_identical_outputs", mpi_identical},
                             {"sample_points", sample.size()},
                             {"sample_sweep_wall_s", in_sweep.wall_s},
                             {"sample_sweep_cpu_s", in_sweep.cpu_s},
                             {"sample_runs_wall_s", runs.wall_s},
                             {"sample_runs_cpu_s", runs.cpu_s},
                             {"sample_alone_wall_s", alone.wall_s},
                             {"sample_alone_cpu_s", alone.cpu_s},
                             {"sweep_point_s", in_sweep.wall_s / m},
                             {"run_point_s", runs.wall_s / m},
                             {"alone_point_s", alone.wall_s / m},
                             {"overhead", overhead},
                             {"overhead_cpu", overhead_cpu},
                             {"load_average_start", load_start},
                             {"load_average_end", load_end},
                             {"target_speedup", 1.8},
                             {"target_overhead", 0.05},
                             {"target_mpi_over_jobs2", 1.1},
                             {"met", met}};
    out << j.dump(2) << "\n";
    return 0;
  }
  fmt::print(out,
             "{}: {} points\n"
             "  --jobs 1: {:.1f} s wall, {:.1f} CPU s, {:.3g} points/s\n"
             "  --jobs 2: {:.1f} s wall, {:.1f} CPU s, {:.3g} points/s: {:.2f}x one thread "
             "(target >= 1.8x); outputs {}\n"
             "  {}\n"
             "  {} sampled points, per point: in one sweep {:.3f} s; alone, interleaved: "
             "`moesim run` {:.3f} s, a one-point sweep {:.3f} s: overhead {:+.1f}% (target < "
             "5%), {:+.1f}% in CPU seconds\n"
             "  targets {}; 1-minute load average {:.2f} at the start, {:.2f} at the end\n",
             scenario_name, points, j1.wall_s, j1.cpu_s, pps1, j2.wall_s, j2.cpu_s, pps2, speedup,
             identical ? "byte-identical" : "DIFFERENT",
             mpi.wall_s < 0
                 ? std::string("MPI: not measured (no mpirun on PATH, or built without MPI)")
                 : fmt::format("mpirun -n 2 --jobs 1: {:.1f} s wall, {:.1f} CPU s: {:.2f}x the "
                               "time of --jobs 2 (target <= 1.10x); outputs {}",
                               mpi.wall_s, mpi.cpu_s, mpi_over_threads,
                               mpi_identical ? "byte-identical" : "DIFFERENT"),
             sample.size(), in_sweep.wall_s / m, runs.wall_s / m, alone.wall_s / m, 100 * overhead,
             100 * overhead_cpu, met ? "met" : "NOT met", load_start, load_end);
  return 0;
}

}  // namespace moesim::bench
