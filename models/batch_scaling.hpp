#pragma once
// From the routing of a sample of S tokens to the counts of a full batch of B tokens spread
// over source devices, without routing the B tokens.
//
// Counts a simulator needs per MoE layer and step: for each source device d and expert e, the
// assignments its tokens send to e (dispatch traffic, expert load); optionally for each device
// and expert group (rank or node of a placement), the tokens that need the group at least once
// (DeepEP's "unique (token, rank)" byte accounting).
//
// Scaling: each device's b_d tokens are a multinomial draw from the sampled tokens (b_d
// independent uniform picks of a sample token; for b_d >= S the equivalent sequential
// binomials, rng::binomial(remaining, 1/(S - i))). Each picked token keeps its whole expert set,
// so the within-token structure (k distinct experts, group limits) survives. Multiplying sample
// counts by B/S would keep the sample's noise and scale it up, and plain resampling would add
// the batch's noise on top of it; both inflate the expert-to-expert variance by about B/S.
// Here a fraction lambda of the picks is relabelled by a random shift that maps every expert
// uniformly onto all experts while keeping the token's group structure (group g -> (g + a) mod G,
// member j -> (j + b) mod m). lambda is chosen so that the expected spread of the scaled counts
// across experts equals that of routing B tokens exactly:
//   D = sum_e (X_e - mean X)^2, N = sum_e X_e (S - X_e) / (S - 1)  (binomial noise of X_e),
//   (1 - lambda)^2 = max(0, 1 - N / D)
// i.e. only the part of the sample's spread that exceeds its own sampling noise (the model's
// structural skew) is carried to the batch. Tested against exact routing of the full batch
// (DeepSeek-V3 router, S = 1024, B = 8192 on 16 devices): the mean expert max/mean matches
// within a few percent; the EP16 rank max/mean comes out about 0.03 low at the default skew, and
// from draw to draw the scaled values vary 2-3x more than exact ones, because the sample only
// estimates the structure. Tokens are treated as independent draws; sequence-correlated
// prefill tokens make the real spread larger.
#include <cstdint>
#include <span>
#include <vector>

#include "models/routing.hpp"
#include "sim/engine/random.hpp"

namespace moesim::models {

struct batch_counts {
  int devices = 0;
  int experts = 0;
  int groups = 0;                                 ///< 0 when no expert grouping was given
  std::vector<std::int64_t> device_tokens;        ///< per device
  std::vector<std::int64_t> device_expert;        ///< devices x experts, row-major
  std::vector<std::int64_t> device_group_tokens;  ///< devices x groups, row-major
  int parents = 0;                                ///< 0 when the grouping has no coarser level
  /// devices x parents, row-major: tokens that need the parent (e.g. node) at least once.
  std::vector<std::int64_t> device_parent_tokens;
  std::vector<std::int64_t> expert_load;  ///< per expert, summed over devices
  double relabel_fraction = 0.0;          ///< lambda (0 for exact counts)

  [[nodiscard]] std::int64_t at(int device, int expert) const noexcept {
    return device_expert[static_cast<std::size_t>(device) * static_cast<std::size_t>(experts) +
                         static_cast<std::size_t>(expert)];
  }
};

/// Optional expert -> group map (e.g. the rank or node hosting each expert), and optionally a
/// coarser level above it (e.g. rank -> node).
struct expert_grouping {
  std::span<const int> expert_group{};  ///< empty, or one group id per expert in [0, groups)
  int groups = 0;
  std::span<const int> group_parent{};  ///< empty, or one parent per group in [0, parents)
  int parents = 0;
};

/// Exact counts of a routed batch: device 0 owns the first tokens_per_device[0] tokens, and so
/// on; the sizes must sum to r.tokens. O(assignments).
[[nodiscard]] batch_counts count_batch(const routing& r,
                                       std::span<const std::int64_t> tokens_per_device,
                                       const expert_grouping& grouping = {});

/// lambda for a sample (formula above). O(assignments + experts).
[[nodiscard]] double relabel_fraction(const routing& sample);

/// Counts of a batch of tokens_per_device tokens scaled from `sample` (see above).
/// `router_groups` is the router's n_groups (1 if none): relabelling preserves it; it must
/// divide the experts. Throws std::invalid_argument on an empty sample or bad sizes.
/// Device d draws from gen.fork(d) (gen itself advances by one draw), so the counts are the
/// same for any `threads`, which split the devices among workers.
/// O(sum over devices of min(b_d, 16 S) + relabelled picks * k) draws.
[[nodiscard]] batch_counts scale_to_batch(const routing& sample,
                                          std::span<const std::int64_t> tokens_per_device,
                                          int router_groups, rng& gen,
                                          const expert_grouping& grouping = {}, int threads = 1);

}  // namespace moesim::models
