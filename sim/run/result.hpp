#pragma once
// What a simulated run measured. Everything here is simulated (no wall-clock figures), so it
// is a pure function of the scenario and seed; sim/io writes it as metrics JSON and a table.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sim/run/faults.hpp"
#include "sim/run/resilience.hpp"
#include "sim/serve/latency.hpp"

namespace moesim::sim::run {

/// Named seconds on the critical path, in a fixed category order (see critical_path.hpp).
using breakdown = std::vector<std::pair<std::string, double>>;

struct device_usage {
  double compute_busy_s = 0;    ///< time the compute stream was busy
  double hbm_busy_s = 0;        ///< time the HBM (weight-load) stream was busy
  double network_busy_s = 0;    ///< time at least one of the device's flows was active
  double tokens_routed_in = 0;  ///< (token, expert) copies its experts received, whole batch
  double memory_bytes = 0;      ///< HBM the device's memory plan holds (sim/cluster/memory.hpp)
};

struct expert_load {
  double tokens = 0;   ///< (token, expert) copies kept per step, mean over layers and steps
  double dropped = 0;  ///< copies dropped by capacity (not in `tokens`), same units
};

/// What one device holds in HBM (sim/cluster/memory.hpp's plan), whole bytes.
struct memory_breakdown {
  int device = 0;  ///< the stage's lowest device index; every device of a stage holds the same
  int stage = 0;   ///< pipeline stage, 0-based
  std::int64_t hbm_bytes = 0;    ///< the chip's HBM
  std::int64_t total_bytes = 0;  ///< the plan's total, rounded (items are rounded one by one)
  std::vector<std::pair<std::string, std::int64_t>> items;  ///< in the plan's fixed order
};

/// One MoE layer's routing, averaged over steps and EP groups.
struct layer_stats {
  int layer = 0;
  double drop_rate = 0;
  double unique_experts = 0;
  double load_max_over_mean = 0;  ///< per-device received copies, max / mean
  /// (token, expert) copies kept per expert and received per EP rank (experts split
  /// contiguously, as load_max_over_mean counts them), mean per routing pass of the layer.
  std::vector<double> expert_tokens;
  std::vector<double> rank_tokens;
};

/// A disaggregated serving run's figures beyond `serving`: each role's iterations (batch sizes,
/// KV utilisation, queue, over all its instances: serving_report's iteration fields) and the
/// KV transfers from prefill to decode instances.
struct disaggregation_report {
  struct role {
    int instances = 0;
    int devices_per_instance = 0;
    serve::serving_report iterations;  ///< only the iteration fields are set
    [[nodiscard]] int devices() const noexcept { return instances * devices_per_instance; }
    /// Tokens the role's batches computed (prompt tokens in prefill, output tokens in decode)
    /// per second of its instances' busy time, per device: what a saturated instance sustains
    /// (as the lm-sys large-EP blog measured each role); 0 without iterations.
    [[nodiscard]] double busy_tokens_per_s_per_device() const noexcept {
      return iterations.busy_s > 0 && devices_per_instance > 0
                 ? iterations.batch_tokens_total / iterations.busy_s / devices_per_instance
                 : 0.0;
    }
  };
  role prefill;
  role decode;
  std::size_t transfers = 0;
  serve::summary transfer_bytes;  ///< per request
  serve::summary transfer_s;      ///< prefill end to the KV's last byte at the decode instance
};

/// What a mitigation policy's mechanism changed (speculation_policies.hpp); only the fields of
/// the run's policy are filled.
struct policy_figures {
  /// grouped: decoding iterations run at each K (index = K, 0 = plain decoding), their mean K,
  /// and the share of them in test phases.
  std::vector<std::int64_t> k_iterations;
  double mean_k = 0;
  double test_share = 0;
  /// deferral: sequence-steps that could draft, those deferred (first draft below the
  /// threshold), chains cut by confidence after at least one kept draft, drafts per
  /// verification.
  std::int64_t draft_chances = 0;
  std::int64_t deferred = 0;
  std::int64_t cut = 0;
  double drafts_per_verification = 0;
  /// blockwise: verifications keeping a block of s tokens at index s - 1 (accepted + 1), and
  /// the mean block.
  std::vector<std::int64_t> block_sizes;
  double mean_block = 0;
  /// prefetch (expert_prefetch.hpp): the predictor, verifying iterations that preloaded,
  /// experts predicted (over MoE layers, devices and iterations), the share of them the
  /// verification used (hits) and of the verification's experts predicted (coverage), bytes
  /// the preloads fetched and of those the bytes of experts that verification did not use
  /// (wasted).
  std::string prefetch_from;
  std::int64_t prefetch_iterations = 0;
  double prefetch_predicted = 0;
  double prefetch_hit_rate = 0;
  double prefetch_coverage = 0;
  double prefetch_fetched_bytes = 0;
  double prefetch_wasted_bytes = 0;
};

/// One point of a speculative grid (speculative_grid.hpp): `batch` requests decoding together
/// with `policy` at draft length k (0 for none). speedup: decode throughput of the full batch
/// (tokens emitted per second over the iterations in which all `batch` sequences decoded)
/// over the none point's; verify_over_decode_time: the full batch's mean verifying pass over
/// the none point's mean decode pass;
/// unique_experts_verify_over_decode: unique experts per layer of the verification batches
/// over those of the same iterations' plain decode batches; acceptance: accepted / drafted.
struct speculative_point {
  int batch = 0;
  int k = 0;
  std::string policy;
  double acceptance = 0;
  double speedup = 1;
  double verify_over_decode_time = 1;
  double unique_experts_verify_over_decode = 1;
  double mean_accepted_tokens = 1;
  double tpot_s = 0;       ///< mean TPOT of the point's requests
  double draft_share = 0;  ///< drafting / (drafting + verification)
  double unique_experts_verify = 0;
  double unique_experts_plain = 0;
  /// Verifying passes' per-device expert tokens and unique experts, max over mean
  /// (speculative_report's, under the point's placement).
  double rank_tokens_max_over_mean = 0;
  double rank_unique_max_over_mean = 0;
  /// With `offload:`: the full batch's share of active experts found in the HBM cache, and
  /// host -> device expert bytes per emitted token (speculative_report's full_batch_*).
  bool offloaded = false;
  double expert_hit_rate = 0;
  double fetched_bytes_per_token = 0;
  policy_figures mechanism;  ///< the point's policy's figures
};

/// Speculative decoding's figures over a serving run (speculation.hpp).
struct speculative_report {
  std::string drafter;
  std::string policy;
  int k = 0;
  std::vector<double> acceptance;  ///< the conditional rates the run drew from, per position
  std::string acceptance_source;
  std::int64_t verifications = 0;  ///< (sequence, iteration) pairs that verified drafts
  std::int64_t verify_iterations = 0;
  /// Accepted drafts per verification, and tokens emitted per verification (that + 1: vLLM's
  /// "mean acceptance length").
  double mean_accepted_drafts = 0;
  double mean_accepted_tokens = 0;
  double draft_acceptance = 0;  ///< accepted / drafted tokens (vLLM's draft acceptance rate)
  /// Observed per position: accepted / reached (conditional) and accepted / verifications
  /// (marginal, vLLM's "Per-position acceptance rate").
  std::vector<double> observed_conditional;
  std::vector<double> observed_marginal;
  /// Unique experts per MoE layer pass of the verifying iterations (mean), and what the same
  /// iterations' plain decode batches (one token per decoding sequence) touch.
  double unique_experts_verify = 0;
  double unique_experts_plain = 0;
  /// Per EP rank of the verifying passes, max over mean (the mean over MoE layer passes): the
  /// expert-token copies it computes and the experts it streams from HBM, under the run's
  /// placement (policy divided: with the replicas) and under the contiguous split.
  double rank_tokens_max_over_mean = 0;
  double rank_unique_max_over_mean = 0;
  double rank_tokens_max_over_mean_contiguous = 0;
  double rank_unique_max_over_mean_contiguous = 0;
  double verify_pass_s = 0;  ///< mean target pass of a verifying iteration
  /// Drafting over the run per verifying iteration (deferral also drafts in iterations whose
  /// chains were all deferred: their draft steps count here too).
  double draft_s = 0;
  double draft_share = 0;  ///< drafting / (drafting + verification) over those iterations
  /// Iterations in which every running slot (max_running on each rank) decoded, the tokens
  /// they emitted per second, and their mean target pass (after drafting): a full batch's
  /// steady state (0 when the batch never filled).
  std::int64_t full_batch_iterations = 0;
  double full_batch_tokens_per_s = 0;
  double full_batch_verify_pass_s = 0;
  /// With `offload:`, over those iterations: active experts found in the HBM cache / looked
  /// up, and host -> device expert bytes per emitted token.
  bool offloaded = false;
  double full_batch_expert_hit_rate = 0;
  double full_batch_fetched_bytes_per_token = 0;
  policy_figures mechanism;               ///< the policy's own figures
  std::vector<speculative_point> points;  ///< the scenario's grid, when it has one
  /// A draft tree's shape (steps 0: a chain) and its expected accepted drafts at the rates the
  /// run drew from (sim/serve/draft_tree.hpp).
  int tree_steps = 0;
  int tree_top_k = 0;
  int tree_draft_tokens = 0;
  int tree_depth = 0;
  double tree_expected_accepted = 0;
};

/// Where the experts lived (moe.placement; sim/run/expert_residency.hpp). Loads are the
/// (token, expert) copies each EP rank computed in a forward MoE layer pass.
struct placement_report {
  std::string strategy;
  int physical_experts = 0;  ///< slots per MoE layer
  int warmup_passes = 0;     ///< passes routed before the run to place on (0: none needed)
  /// Device load max / mean over the forward layer passes: mean, median, 90th percentile, max.
  double load_max_over_mean = 0;
  double load_max_over_mean_p50 = 0;
  double load_max_over_mean_p90 = 0;
  double load_max_over_mean_max = 0;
  double dispatch_bytes_per_step = 0;    ///< token copies sent to another device
  double cross_node_bytes_per_step = 0;  ///< of which to another node (or torus slice)
  // Rebalancing (zero without).
  int rebalances = 0;
  double bytes_moved = 0;  ///< expert weights moved, all rebalances
  double stall_s = 0;      ///< passes held back by stop_the_world moves, all rebalances
  double load_max_over_mean_before = 0;  ///< mean over the passes before the first rebalance
  double load_max_over_mean_after = 0;   ///< mean over the passes after it
};

/// Expert offloading's figures (`offload:`), over every forward MoE layer pass of the run.
struct offload_report {
  double hit_rate = 0;       ///< active experts found in the HBM cache / active experts
  double bytes_fetched = 0;  ///< host -> device expert weights, demand and prefetch, all devices
  double stall_s = 0;        ///< per step: time experts waited for their weights after their
                             ///< tokens arrived (critical rank of each layer)
  double tokens_per_s = 0;   ///< the run's tokens/s (as summary.tokens_per_s)
  std::vector<double> per_layer;  ///< hit rate per MoE layer, in layer order
  double cached_experts = 0;      ///< cache capacity per device, in experts
  double expert_bytes = 0;        ///< one expert's weights as stored
  // Prefetch (prefetch != none).
  double prefetch_accuracy = 0;  ///< prefetched experts the next layer used / prefetched
  double prefetch_wasted_bytes = 0;
  double prefetched = 0;  ///< experts prefetched
  // Host execution (miss: cpu).
  double cpu_share = 0;   ///< active experts run on the host / active experts
  double cpu_busy_s = 0;  ///< per step, summed over hosts
  std::string policy;
  std::string miss;
  std::string prefetch;
};

struct run_result {
  std::string scenario;
  std::string variant;
  std::uint64_t seed = 0;
  std::string workload;  ///< decode | prefill | train | serve
  std::string network_model;
  int devices = 0;
  std::uint32_t steps = 0;

  double simulated_time_s = 0;
  double step_time_s = 0;
  double tokens_per_step = 0;
  double tokens_per_s = 0;
  double tokens_per_s_per_device = 0;
  breakdown breakdown_s;      ///< per step, sums to step_time_s
  double peak_hbm_bytes = 0;  ///< max over devices of per_device[].memory_bytes
  /// Model FLOPs per second per device (training: Megatron-LM's count, 3 x forward with full
  /// attention; inference: the forward's), and its fraction of the chip's peak for the format.
  double model_tflops_per_device = 0;
  double mfu = 0;
  /// Devices x the chip's price per device-hour over tokens per hour; 0 without a price.
  double cost_usd_per_million_tokens = 0;
  std::vector<std::string> layout;  ///< the parallel groups, for people

  // Routing, from the real router on sampled tokens.
  double load_max_over_mean = 0;  ///< per-device received tokens, max / mean, averaged
  double unique_experts = 0;      ///< distinct experts a step's batch touches, per layer
  double drop_rate = 0;
  double dispatch_bytes_per_step = 0;
  std::vector<expert_load> experts;
  std::vector<layer_stats> layers;  ///< MoE layers only, in layer order
  std::vector<device_usage> per_device;
  std::vector<memory_breakdown> memory;  ///< per pipeline stage, in stage order

  /// Serving runs: latency percentiles, throughput, goodput, scheduler figures.
  std::optional<serve::serving_report> serving;
  std::optional<disaggregation_report> disaggregation;  ///< disaggregated serving only
  std::optional<speculative_report> speculative;        ///< serving with speculative decoding
  std::optional<placement_report> placement;            ///< with moe.placement
  std::optional<offload_report> offload;                ///< with `offload:`
  std::optional<fault_report> faults;                   ///< with `faults:`
  /// With workload.training.resilience: the long job (its faults are reported here, not in
  /// `faults`).
  std::optional<resilience_report> resilience;
  /// With link faults: per fault (s.faults order), the network's fault_hits(); filled by the
  /// drivers, read into `faults` by simulate().
  std::vector<std::uint64_t> fault_flows_hit;

  /// Approximations in force for this run, for the reader of the metrics.
  std::vector<std::string> approximations;
  std::uint64_t events = 0;  ///< engine events processed
};

}  // namespace moesim::sim::run
