#pragma once
// Collective algorithms as phases of flows on the network (network.hpp).
//
// A collective is planned once (plan_* below) into a collective_plan: a sequence of phases, each
// a set of device-to-device flows that run concurrently; a phase starts when the previous one
// has completed (its data dependencies: every algorithm here is bulk-synchronous per step, so a
// phase barrier is where the real kernels wait for their incoming chunk). run_collective() then
// plays the plan on a network under one protocol and reports the elapsed time.
//
// Sizes follow nccl-tests: `bytes` (S) is the per-rank buffer of all-reduce, the per-rank
// *output* of all-gather, the per-rank *input* of reduce-scatter and the per-rank send buffer of
// all-to-all (S / n to every rank, itself included). bus_bandwidth_factor() gives busbw.
//
// Time of one run under protocol P (protocol.hpp: NCCL's Simple, LL, LL128) =
//     P's launch overhead + sum over phases of
//     max(0, steps * P's step latency - wire latency of the phase) + flow time,
// with every flow's bytes divided by P's payload fraction, where "flow time" is what the network
// model gives (bottleneck sharing plus path latency) and the step latency is P's scale-up or
// scale-out figure (scale-out when a flow of the phase crosses an InfiniBand or DCN link). The
// presets' step latencies are NCCL's per-step latencies (tuning.cc hwLat), which include the
// wire; the wire part is already in the flows, hence the subtraction. NCCL's refinements apply
// (its tuning model, src/graph/tuning.cc): an NVLS all-reduce pays the preset's nvls_latency_ps
// in place of launch and step latencies; a ring spanning N nodes pays the scale-out step latency
// on its 2(N-1) (all-reduce) or N-1 inter-node steps only and the scale-up one on the others,
// whichever phases its flows cross (its chunks pipeline through the ring, so a chunk's latency
// is the sum over its hops); a Simple ring all-reduce across nodes pays all its fixed costs
// times ring_plateau_factor. Every parameter comes from the chip preset (collective_params_for);
// none is a constant here.
//
// Algorithms (collective_algorithm):
//  - ring: NCCL rings. On NVSwitch clusters spanning several nodes, one ring per NIC of a node
//    (channels), each entering and leaving every node through a different NIC on the rail of the
//    next node's entry GPU, so every NIC sends and receives for one channel: 2(n-1) phases of
//    S/(n·channels) per flow for all-reduce, n-1 for all-gather / reduce-scatter.
//  - tree: NCCL's double binary tree over the nodes (ncclGetBtree in-order numbering; the
//    second tree mirrors the first) joining one head GPU per node, with a chain through the
//    node's other GPUs below the head (the two trees take opposite ends of the chain as head);
//    each tree carries S/2, reduced towards the root and broadcast back, pipelined in
//    `pipeline_chunks` chunks (a phase per chunk step; steady-state phases cost no step latency).
//    Inside one node this is two chains.
//  - nvls: NVLink SHARP all-reduce inside one NVSwitch domain. Each GPU's ports carry
//    S·(n+1)/n each way (multimem.ld_reduce of its shard plus the multicast store); the network
//    has no switch-terminated flows, so this port load is carried by one flow per GPU to its
//    successor (same per-port bytes; the port links are the domain's only contention points),
//    scaled by 1/nvls_efficiency.
//  - direct: all-to-all(-v) as one phase of n(n-1) flows (NCCL's grouped send/recv); a uniform
//    all-to-all over one whole torus slice as an implicit exchange (collective_phase).
//  - hierarchical: all-reduce as intra-node ring reduce-scatter, inter-node rings per local GPU
//    position on S/L, intra-node all-gather; all-to-all(-v) as DeepEP's normal kernels: each
//    source sends once per destination node over RDMA to the GPU at its own local position
//    (same rail), which fans out over NVLink; the two stages are pipelined in
//    `pipeline_chunks` chunks (fill, overlapped steady state, drain: three phases).
//  - torus: all-gather / reduce-scatter / all-reduce over every axis of the groups' sub-tori at
//    once (torus_plan.hpp): the data split in one part per axis, each part reduce-scattering over
//    the axes in a rotated order (and all-gathering back), per-axis bidirectional rings on
//    wrapping axes and two opposite chains on mesh axes; the scaling book's V/(n_axes W).
//    All-to-all as direct. Groups must be whole sub-tori of one slice (with `axes`, or detected:
//    every chip of a slice, a data-parallel group spanning whole axes, ...).
// Default (automatic): all-to-all -> direct; on tori all-reduce / all-gather / reduce-scatter ->
// torus when the groups are whole sub-tori, else ring; on GPUs all-gather / reduce-scatter ->
// ring and all-reduce -> the fastest of ring, tree (several nodes, the same number of ranks on
// each) and nvls (one domain, if the chip has it) by the analytical model, as NCCL's tuner picks
// by its cost model.
//
// Ties: a flow between chips exactly k/2 apart on an even wrapping axis goes the way
// topo::router's parity rule sends it (routing.hpp: half of the sources each way, exactly
// balanced when k is a multiple of 4, as on every TPU preset); the bidirectional ring's two
// directions carry flow ids 0 and 1, so on a 2-wide wrapping axis they take both cables.
// Known approximations: phases are barriers: rank skew inside a step is not modelled.
//
// Ownership: plans are plain values. run_collective keeps the plan (shared) and references to
// the network and simulation, which must outlive the run. Complexity: planning O(flows); a run
// costs what the network model costs for those flows.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "sim/engine/simulation.hpp"
#include "sim/net/network.hpp"
#include "sim/net/protocol.hpp"
#include "topologies/chip_spec.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::net {

enum class collective_op : std::uint8_t { all_reduce, all_gather, reduce_scatter, all_to_all };
enum class collective_algorithm : std::uint8_t {
  automatic,
  ring,
  tree,
  nvls,
  direct,
  hierarchical,
  torus
};

/// "all-reduce", "all-gather", "reduce-scatter", "all-to-all".
[[nodiscard]] std::string_view to_string(collective_op op) noexcept;
/// "auto", "ring", "tree", "nvls", "direct", "hierarchical", "torus".
[[nodiscard]] std::string_view to_string(collective_algorithm a) noexcept;
/// Inverse of to_string; throws std::invalid_argument listing the accepted names.
[[nodiscard]] collective_op parse_collective_op(std::string_view text);
[[nodiscard]] collective_algorithm parse_collective_algorithm(std::string_view text);

/// nccl-tests busbw / algbw: 2(n-1)/n for all-reduce, (n-1)/n otherwise (1 for n = 1 is not
/// meaningful: returns 0).
[[nodiscard]] double bus_bandwidth_factor(collective_op op, int ranks) noexcept;

/// One bulk-synchronous step: flows that run together. Bytes are payload.
struct collective_phase {
  std::vector<flow_request> flows;
  /// A uniform all-to-all kept implicit (a phase holds it or `flows`, not both): with
  /// `exchange_ranks` non-empty, every ordered pair of distinct members sends `exchange_bytes`
  /// (> 0) as one flow of tag 0. plan_collective plans the direct all-to-all of one whole torus
  /// slice this way, as the 85M flow records of the 9216-chip Ironwood pod would take 2.7 GB;
  /// run_collective times it by network::start_all_to_all.
  std::vector<topo::device_id> exchange_ranks;
  double exchange_bytes = 0;
  int steps = 1;  ///< protocol steps whose latency this phase pays (0 in a pipeline)
  /// Dependent neighbour steps the phase stands for (a pipelined ring stage of the torus
  /// algorithm): the phase pays its wire latency `hops` times, hops - 1 of them before its flows.
  int hops = 1;
  bool scale_out = false;       ///< some flow crosses InfiniBand / DCN (filled by finalize)
  time_ps wire_latency_ps = 0;  ///< largest path latency of its flows (filled by finalize)
};

struct collective_plan {
  collective_algorithm algorithm = collective_algorithm::automatic;
  std::vector<collective_phase> phases;
  int groups = 0;           ///< independent groups running the collective at once
  int ranks_per_group = 0;  ///< n of the busbw factor
  bool all_reduce = false;  ///< an all-reduce (NCCL's ring plateau concerns these)
  /// Ring: steps that cross nodes, 2(N-1) for all-reduce or N-1 over N nodes (the most of any
  /// group); 0 inside one node or for other algorithms.
  int inter_node_steps = 0;
};

/// What to run. Groups: with `groups`, exactly those (equal sizes, any devices, e.g. the data-
/// parallel groups of a layout: all run at once); with `axes` (tori only), one group per
/// combination of the other coordinates, members ordered by their coordinates on `axes` (first
/// listed fastest); otherwise one group of devices 0 .. ranks-1 (ranks 0 = every device). On a
/// torus, groups that are whole sub-tori of one slice (however given) can run `torus`.
struct collective_spec {
  collective_op op = collective_op::all_reduce;
  double bytes = 0;  ///< S, nccl-tests convention (see file comment)
  collective_algorithm algorithm = collective_algorithm::automatic;
  int ranks = 0;
  std::vector<int> axes;
  std::vector<std::vector<topo::device_id>> groups;
  /// Chunks of the pipelined algorithms (tree, hierarchical all-to-all): a model resolution,
  /// the pipeline fill and drain exposed is about 1/chunks of a stage.
  int pipeline_chunks = 32;
};

/// Plans a collective. Throws std::invalid_argument when the request does not fit the topology
/// (e.g. nvls across NVSwitch domains, torus on a GPU cluster, axes out of range, ranks > devices,
/// negative bytes), naming the numbers that disagree.
[[nodiscard]] collective_plan plan_collective(const topo::topology& topo,
                                              const collective_params& params,
                                              const collective_spec& spec);

/// Point-to-point: one flow of `bytes` from src to dst.
[[nodiscard]] collective_plan plan_send_recv(const topo::topology& topo, topo::device_id src,
                                             topo::device_id dst, double bytes);

/// All-to-all-v among devices 0 .. n-1, bytes[src * n + dst] (diagonal ignored), by `algorithm`
/// direct or hierarchical (automatic = direct).
[[nodiscard]] collective_plan plan_all_to_all_v(const topo::topology& topo,
                                                std::span<const double> bytes, int n,
                                                collective_algorithm algorithm,
                                                int pipeline_chunks = 32);

/// Expert-parallel traffic of one MoE layer among ranks 0 .. ranks-1 (DeepEP's view), counted
/// in tokens; rows are sources. Node = NVSwitch domain of the rank.
struct expert_traffic {
  int ranks = 0;
  int nodes = 0;
  std::vector<double> pair_tokens;  ///< [src*ranks+dst]: tokens of src with >= 1 expert on dst
  std::vector<double> node_tokens;  ///< [src*nodes+node]: tokens of src with >= 1 expert there
  std::vector<double> copies;       ///< [src*ranks+dst]: (token, expert) copies src -> dst
};
enum class ep_mode : std::uint8_t { normal, low_latency };

/// DeepEP dispatch (combine = false) or combine (true, every flow reversed and the stages in
/// reverse order). normal: one NVLink phase inside one node, else the hierarchical pipeline
/// (RDMA once per destination node to the same-position GPU, then NVLink fan-out) with
/// unique-(token, rank) bytes; low_latency: one phase of direct per-(token, expert) copies.
/// `bytes_per_token` is per token (normal) or per copy (low-latency).
[[nodiscard]] collective_plan plan_expert_exchange(const topo::topology& topo,
                                                   const expert_traffic& traffic, ep_mode mode,
                                                   double bytes_per_token, bool combine,
                                                   int pipeline_chunks = 32);

/// Fills every phase's wire latency and scale-out flag from the routed paths. The plan_*
/// functions call it; call it again after editing a plan's flows. O(flows · path).
void finalize(collective_plan& plan, const topo::topology& topo);

/// Plays `plan` on `net` from sim.now() under protocol `proto` (LL / LL128 need their payload
/// fraction, else std::invalid_argument); on_done(elapsed) runs as an event when its last flow
/// arrived.
void run_collective(network& net, simulation& sim, std::shared_ptr<const collective_plan> plan,
                    const collective_params& params, protocol proto,
                    std::function<void(time_ps elapsed)> on_done);

/// Result of a stand-alone collective.
struct collective_timing {
  time_ps elapsed_ps = 0;
  protocol proto = protocol::simple;
  collective_algorithm algorithm = collective_algorithm::automatic;
  network_stats stats;
};

/// Runs `plan` alone on a fresh simulation and network (`model`; the flow model with the named
/// re-solve quantum `resolve_quantum`, 0 = exact), under `proto`, or under the protocol
/// choose_protocol picks when proto is empty. O(network cost of the flows).
[[nodiscard]] collective_timing time_collective(const topo::topology& topo,
                                                const collective_params& params,
                                                const collective_plan& plan, timing_model model,
                                                std::optional<protocol> proto = std::nullopt,
                                                double resolve_quantum = 0.0);

/// The protocol NCCL would take: the fastest of those available by the analytical model (NVLS
/// runs Simple only, as in NCCL). Cost: one analytical run of the plan per available protocol.
[[nodiscard]] protocol choose_protocol(const topo::topology& topo, const collective_params& params,
                                       const collective_plan& plan);

}  // namespace moesim::sim::net
