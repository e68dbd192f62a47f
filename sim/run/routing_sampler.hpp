#pragma once
// The bridge from real routing maths to timing. For every MoE layer and step it draws sampled
// token hidden states (models::token_source, or DeepEP-style random scores when skew is 0),
// runs the model's router on them (models::route), applies capacity and dropping, and turns
// the decisions into (token, expert) copies per (source device, expert) for the *full* batch:
// exact when the batch fits in the sample, otherwise scaled from the sample by multinomial
// draws so per-device counts keep their variance (models/batch_scaling.hpp). Capacity is the
// full batch's: a larger batch's expected drops per expert (models::expected_batch_drops, from
// the sample's loads) are dropped from the sample, lowest priority first, before scaling.
//
// A pass's sampled tokens are the same in every layer, as a token's residual stream carries it
// through the model (each layer routes them with its own gate): a sequence keeps its topic from
// layer to layer, and the tokens are drawn once per pass, not once per layer.
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <tuple>
#include <utility>
#include <vector>

#include "models/capacity.hpp"
#include "models/router.hpp"
#include "models/token_source.hpp"
#include "sim/engine/random.hpp"
#include "sim/run/layer_routing.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::sim::run {

class routing_sampler {
 public:
  /// `sources` devices each contribute `tokens_per_source` tokens per step to one EP group.
  /// `threads` work on the router and the batch scaling; results do not depend on it.
  /// `rank_nodes` (hierarchical exchange): the node of each source rank, numbered from 0.
  /// `layer_expert_ranks` (per_rank / hierarchical exchange under a moe.placement whose experts
  /// have one copy each): layer_expert_ranks[layer][e] is the EP rank holding expert e, so
  /// rank_tokens and node_tokens count the ranks and nodes that hold each token's experts; a
  /// layer without a row (or an empty one) keeps the contiguous split.
  routing_sampler(const scenario& s, int sources, std::int64_t tokens_per_source, int threads = 1,
                  std::vector<int> rank_nodes = {},
                  std::vector<std::vector<int>> layer_expert_ranks = {});

  /// Routing of one pass through one MoE layer for EP group `group`; `pass` counts
  /// micro-batches over the run (step * micro_batches + micro-batch). Deterministic in
  /// (seed, group, pass, layer), and in the order of the calls for each layer when the scenario
  /// balances by bias (each call updates the layer's bias). `threads` (0: the constructor's)
  /// share the maths of this one call. O(sample * math_hidden * experts).
  ///
  /// Thread safety: when independent() is true, calls for different keys may run concurrently.
  /// `tokens_per_source` > 0: this pass's tokens per source instead of the constructor's (a
  /// serving iteration's; at most the constructor's, which sized the sample).
  layer_routing route(int group, int pass, int layer, int threads = 0,
                      std::int64_t tokens_per_source = 0);
  /// As route(), with each source's own token count this pass (a serving iteration whose
  /// attention-DP ranks run batches of their own); one count per source, each at most the
  /// constructor's, not all zero. The sample is the smaller of the constructor's and their sum.
  layer_routing route(int group, int pass, int layer, int threads,
                      std::span<const std::int64_t> tokens_per_source);

  /// route() in two halves, so the decisions can be made ahead (on another thread) of knowing
  /// the batch they are counted for: route(g, p, l, t, counts) == count(decide(g, p, l,
  /// sample_for(sum of counts), t), counts). decide() depends only on (group, pass, layer,
  /// sample) (and, balancing by bias, on the order of the calls per layer); count() is
  /// O(experts x sources) plus the scaling draws, and const.
  [[nodiscard]] sampled_decisions decide(int group, int pass, int layer, int sample,
                                         int threads = 0);
  [[nodiscard]] layer_routing count(const sampled_decisions& d,
                                    std::span<const std::int64_t> per_source,
                                    int threads = 0) const;
  /// Tokens sampled for a pass of `total_tokens` tokens over all sources (0: the
  /// constructor's size): the full sample, or the whole batch when it is smaller.
  [[nodiscard]] int sample_for(std::int64_t total_tokens) const noexcept;
  /// Throws std::invalid_argument unless `tokens_per_source` has one count per source, each in
  /// [0, the constructor's], not all zero.
  void check_counts(std::span<const std::int64_t> tokens_per_source) const;
  /// True when routings do not depend on one another (no bias balancing).
  [[nodiscard]] bool independent() const noexcept;

  [[nodiscard]] int sources() const noexcept { return sources_; }
  [[nodiscard]] int math_hidden() const noexcept { return math_hidden_; }
  [[nodiscard]] std::int64_t sample_tokens() const noexcept { return sample_; }

 private:
  const models::row_matrix& gate(int layer);
  /// d's decisions after the capacity of a `total`-token batch larger than the sample: each
  /// expert drops the share of its sampled assignments the batch is expected to drop
  /// (models::expected_batch_drops), lowest priority first. Needs d.priority. O(assignments).
  [[nodiscard]] models::capacity_result batch_capacity(const sampled_decisions& d,
                                                       std::int64_t total) const;
  /// The `sample` sampled hidden states of (group, pass). Thread-safe; recent ones are kept
  /// (evicted ones are drawn again, identically: their stream depends only on the key).
  std::shared_ptr<const models::row_matrix> tokens(int group, int pass, int sample);
  models::routing policy_decisions(int group, int pass, int layer, int sample, rng& gen,
                                   const models::route_options& opt);

  const scenario& s_;
  int sources_;
  int threads_;
  std::int64_t tokens_per_source_;
  int math_hidden_;
  std::int64_t sample_;
  models::router_config router_;
  models::token_source tokens_;
  std::vector<models::row_matrix> gates_;        ///< per layer, created on first use
  std::unique_ptr<std::once_flag[]> gate_once_;  ///< per layer: creates gates_[layer] once
  std::vector<std::vector<float>> bias_;         ///< per layer selection bias (balance: bias)
  std::vector<int> expert_rank_;  ///< per_rank / hierarchical exchange: each expert's EP rank
  std::vector<std::vector<int>> layer_expert_rank_;  ///< per layer, when placed (constructor)
  std::vector<int> rank_node_;    ///< hierarchical exchange: each EP rank's node
  int nodes_ = 0;
  struct token_batch {
    std::once_flag drawn;
    models::row_matrix x;
  };
  std::mutex tokens_mutex_;
  using token_key = std::tuple<int, int, int>;  ///< (group, pass, sample)
  std::map<token_key, std::shared_ptr<token_batch>> token_batches_;
  std::deque<token_key> token_order_;  ///< keys of token_batches_, oldest first
};

}  // namespace moesim::sim::run
