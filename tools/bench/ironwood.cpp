// Analytical all-to-all on the 9216-chip Ironwood pod (issue 3 speed target: <= 5 s wall and
// <= 4 GiB): what `moesim collective --cluster tpu-ironwood --shape 16x24x24 --op all-to-all
// --bytes 1G --network analytical` runs, timed end to end (cluster build included), with the
// process's peak resident memory. The fast path times the 85M flows by the torus's symmetry
// (sim/net/all_to_all_load.hpp); as a check, the same exchange is then streamed pair by pair on
// a 4096-chip 16x16x16 slice (16.8M flows; the full pod would take about 5x longer) and both
// answers are printed side by side.
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <ostream>
#include <string>

#include "sim/net/all_to_all_load.hpp"
#include "sim/net/network.hpp"
#include "sim/validate/net_bench.hpp"
#include "tools/bench/bench.hpp"

namespace moesim::bench {

namespace {

using clock_type = std::chrono::steady_clock;

struct check_result {
  std::string shape;
  double flows = 0;
  double streamed_s = 0;
  double symmetric_s = 0;
  double streamed_finish_s = 0;
  double symmetric_finish_s = 0;
};

// Both ways of all_to_all_load.hpp on one slice, with the preset's link efficiency applied as
// the network would.
check_result cross_check(const std::string& shape, double bytes) {
  const auto c = validate::load_bench_cluster("tpu-ironwood", 0, shape);
  const auto p = sim::net::network_params_for(c.params, sim::net::timing_model::analytical);
  sim::simulation sim;
  const sim::net::network net(sim, c.topo, p);
  std::vector<double> cap;
  cap.reserve(static_cast<std::size_t>(c.topo.link_count()));
  for (int l = 0; l < c.topo.link_count(); ++l) cap.push_back(net.capacity_bytes_per_s(l));
  std::vector<topo::device_id> ranks(static_cast<std::size_t>(c.topo.device_count()));
  std::iota(ranks.begin(), ranks.end(), 0);
  const double per_pair = bytes / static_cast<double>(ranks.size());
  check_result r;
  r.shape = shape;
  r.flows = static_cast<double>(ranks.size()) * static_cast<double>(ranks.size() - 1);
  auto t0 = clock_type::now();
  const auto sym = sim::net::all_to_all_on_torus(c.topo, cap, 0, per_pair);
  r.symmetric_s = since(t0);
  t0 = clock_type::now();
  const auto str = sim::net::all_to_all_streamed(c.topo, cap, ranks, per_pair);
  r.streamed_s = since(t0);
  r.symmetric_finish_s = sim::seconds(sym.finish_ps);
  r.streamed_finish_s = sim::seconds(str.finish_ps);
  return r;
}

}  // namespace

double peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) * 1024.0;
  }
  return 0;
}

int ironwood(const options& opt, std::ostream& out) {
  const std::string shape = "16x24x24";
  const double bytes = 1024.0 * 1024 * 1024;
  const auto t0 = clock_type::now();
  const auto c = validate::load_bench_cluster("tpu-ironwood", 0, shape);
  const double build_s = since(t0);
  sim::net::collective_spec spec;
  spec.op = sim::net::collective_op::all_to_all;
  spec.bytes = bytes;
  const auto t1 = clock_type::now();
  const auto f = validate::bench_collective(c, spec, sim::net::timing_model::analytical);
  const double collective_s = since(t1);
  const double wall_s = since(t0);
  const double rss = peak_rss_bytes();
  const double n = c.topo.device_count();
  const auto check = cross_check("16x16x16", bytes);
  if (opt.json) {
    nlohmann::ordered_json j{{"cluster", "tpu-ironwood " + shape},
                             {"chips", c.topo.device_count()},
                             {"flows", n * (n - 1)},
                             {"bytes", bytes},
                             {"build_s", build_s},
                             {"collective_s", collective_s},
                             {"wall_s", wall_s},
                             {"target_wall_s", 5.0},
                             {"peak_rss_bytes", rss},
                             {"target_rss_bytes", 4.0 * 1024 * 1024 * 1024},
                             {"time_s", f.time_s},
                             {"busbw_GBps", f.busbw_GBps},
                             {"check",
                              {{"cluster", "tpu-ironwood " + check.shape},
                               {"flows", check.flows},
                               {"symmetric_s", check.symmetric_s},
                               {"streamed_s", check.streamed_s},
                               {"symmetric_finish_s", check.symmetric_finish_s},
                               {"streamed_finish_s", check.streamed_finish_s}}}};
    out << j.dump(2) << "\n";
    return 0;
  }
  fmt::print(
      out,
      "all-to-all of 1 GiB per chip, analytical model, tpu-ironwood {} ({} chips, {:.1f}M flows)\n",
      shape, c.topo.device_count(), n * (n - 1) / 1e6);
  fmt::print(out, "  build cluster {:8.3f} s\n", build_s);
  fmt::print(out, "  plan + time   {:8.3f} s   collective time {:.2f} us, busbw {:.2f} GB/s\n",
             collective_s, f.time_s * 1e6, f.busbw_GBps);
  fmt::print(out,
             "  total wall    {:8.3f} s   peak RSS {:.0f} MiB   (targets <= 5 s, <= 4096 MiB)\n",
             wall_s, rss / (1024 * 1024));
  fmt::print(out,
             "check on {} ({:.1f}M flows): symmetric {:.4f} s -> {:.3f} us; streamed {:.2f} s "
             "({:.0f} ns/flow) -> {:.3f} us\n",
             check.shape, check.flows / 1e6, check.symmetric_s, check.symmetric_finish_s * 1e6,
             check.streamed_s, check.streamed_s / check.flows * 1e9, check.streamed_finish_s * 1e6);
  return 0;
}

}  // namespace moesim::bench
