#pragma once
// The network benchmarks behind `moesim collective` and `moesim dispatch` (and the calibration
// rows that reuse them): a cluster resolved from its presets, a collective timed alone on it
// with nccl-tests' figures, and a DeepEP-style expert dispatch/combine with DeepEP's byte
// accounting (deepseek-ai/DeepEP tests/test_intranode.py, test_internode.py, test_low_latency.py:
// bytes per token as the tests count them).
//
// Units: sizes in bytes, times in seconds, bandwidths in GB/s = 1e9 B/s (nccl-tests, DeepEP).
// Bad values (unknown names, sizes that do not divide, ranks beyond the cluster) throw
// io::input_error with the numbers that disagree.
#include <cstdint>
#include <string>
#include <vector>

#include "sim/net/collectives.hpp"
#include "topologies/chip_spec.hpp"
#include "topologies/cluster_spec.hpp"
#include "topologies/topology.hpp"

namespace moesim::validate {

/// A cluster ready to simulate on. Owns its topology.
struct bench_cluster {
  topo::cluster_spec cluster;
  topo::chip_spec chip;
  topo::topology topo;
  sim::net::collective_params params;
};

/// Validates the specs and builds the graph. O(vertices + links).
[[nodiscard]] bench_cluster make_bench_cluster(topo::cluster_spec cluster, topo::chip_spec chip);
/// A preset name or YAML file (io::load_cluster), with `nodes` (> 0) or `shape` (non-empty)
/// replacing the preset's. Its devices are checked against the work limits (io/limits.hpp)
/// before the graph is built, unless `allow_large`.
[[nodiscard]] bench_cluster load_bench_cluster(const std::string& name_or_file, int nodes,
                                               const std::string& shape, bool allow_large = false);

/// One size of an nccl-tests-style run.
struct collective_figures {
  double bytes = 0;   ///< S
  double time_s = 0;  ///< one call, launch overhead included
  double algbw_GBps = 0;
  double busbw_GBps = 0;
  int ranks = 0;   ///< per group
  int groups = 0;  ///< groups running at once (torus axes)
  std::string algorithm;
  std::string protocol;
};

/// Plans and times one collective alone (flow model with re-solve quantum `resolve_quantum`,
/// 0 = exact, or the analytical model).
[[nodiscard]] collective_figures bench_collective(const bench_cluster& c,
                                                  const sim::net::collective_spec& spec,
                                                  sim::net::timing_model model,
                                                  double resolve_quantum = 0.0);

/// nccl-tests size lists: "1M" or "8:16G:x2" (from:to:xF, from:to:+STEP). Binary units.
/// O(sizes); at most 4096 sizes.
[[nodiscard]] std::vector<double> parse_size_sweep(const std::string& text);

enum class wire_dtype { fp8, bf16 };
/// "fp8" / "bf16"; anything else throws io::input_error.
[[nodiscard]] wire_dtype parse_wire_dtype(const std::string& text);

/// The benchmark verbs' re-solve quantum (--resolve-quantum; sim/net/network.hpp): 0.02 keeps a
/// skewed 256-GPU all-to-all within 0.3% of the exact makespan at a fraction of its time.
inline constexpr double default_resolve_quantum = 0.02;

struct dispatch_options {
  int ranks = 0;      ///< EP ranks: devices 0 .. ranks-1
  int tokens = 4096;  ///< per rank
  int hidden = 7168;
  int experts = 256;
  int topk = 8;
  int node_groups = 0;  ///< nodes a token may reach (0: no limit)
  wire_dtype dispatch = wire_dtype::fp8;
  wire_dtype combine = wire_dtype::bf16;
  sim::net::ep_mode mode = sim::net::ep_mode::normal;
  std::uint64_t seed = 0;
  sim::net::timing_model model = sim::net::timing_model::flow;
  double resolve_quantum = 0;  ///< flow model: the named re-solve quantum (0 = exact)
  /// Which kernels to time: the two are timed independently (the same figure alone as with the
  /// other), so a caller that reads one skips the other's flow solve; the other's time and GB/s
  /// stay 0.
  bool time_dispatch = true;
  bool time_combine = true;
};

struct dispatch_figures {
  double dispatch_time_s = 0;
  double combine_time_s = 0;
  double dispatch_bytes = 0;  ///< DeepEP's accounting, mean per rank
  double combine_bytes = 0;
  double dispatch_GBps = 0;
  double combine_GBps = 0;
  std::string accounting;            ///< which of DeepEP's byte counts is used
  double link_efficiency = 1;        ///< scale-up line-rate fraction the kernels were timed at
  std::string link_efficiency_from;  ///< the preset key it came from
  double fixed_cost_s = 0;           ///< per kernel, before its transfers (step latencies aside)
  std::string fixed_cost_from;       ///< the preset key(s) it came from
};

/// Routes |N(0,1)|+1 scores (models::uniform_logits, stream "dispatch.scores" of `seed`) of every
/// rank's tokens through models::route_logits (node-limited with n_groups = nodes and
/// topk_groups = node_groups when node_groups > 0), then times dispatch and combine. Experts are
/// spread evenly, experts/ranks per rank. Scale-up links run at the chip's
/// collective.ep_link_efficiency (DeepEP's kernels are not NCCL), or at efficiency.link when the
/// preset has no such figure; the figures name which. A low-latency kernel pays the chip's
/// collective.ep_low_latency_kernel_ps (none when absent) and no NCCL step latency; normal
/// kernels pay NCCL Simple's launch and step latencies. O(ranks · tokens · experts) for the
/// routing.
[[nodiscard]] dispatch_figures bench_dispatch(const bench_cluster& c, const dispatch_options& o);

/// The per-rank traffic of such a routing (exposed for tests).
[[nodiscard]] sim::net::expert_traffic dispatch_traffic(const bench_cluster& c,
                                                        const dispatch_options& o);

}  // namespace moesim::validate
