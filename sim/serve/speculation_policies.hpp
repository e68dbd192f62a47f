#pragma once
// The pure parts of the speculation policies that mitigate MoE verification cost (issue 13;
// speculative_spec.hpp names them). The serving loop's side (sim/run/speculation.*) applies
// them to the scheduler's iterations and times what they leave to run.
//
// grouped: Cascade's utility-driven K (Saxena et al. 2025, "Utility-Driven Speculative
//   Decoding for Mixture-of-Experts", arXiv:2506.20675): speculation utility (token gains over
//   verification cost) shows iteration-level locality, so K is decided periodically by a brief
//   test phase and a longer set phase; Cascade disables speculation when utility falls below
//   one in testing, and otherwise tests several K for the utility-maximising one. Here utility
//   is tokens emitted per second of the iteration (drafting and the target's pass); a test
//   phase runs candidates K = 0, 1, 2, ... up to k for `test_iterations` decoding iterations
//   each and stops at the first candidate whose utility does not beat the best so far (K 1
//   below K 0 is Cascade's utility below one); the set phase runs the best for
//   `set_iterations`, its iterations adding to that K's measurement. Measurements carry over
//   from phase to phase at half weight per new test phase (one iteration's accepted count is
//   noisy at small batches). The phase lengths and the carry-over are our choice (the paper's
//   abstract gives the scheme, not lengths we could read): 2 and 64 iterations by default.
//
// deferral: draft confidence as a calibrated signal of acceptance (EAGLE-2, Li et al. 2024,
//   arXiv:2406.16858: the draft model's confidence score approximates the acceptance rate
//   well). At position i of a sequence of topic t the drafter's confidence is drawn from a
//   Beta distribution with mean p_i(t) (acceptance_model::rate) and concentration kappa
//   (alpha = kappa p, beta = kappa (1 - p)), and the draft is then accepted with probability
//   equal to its confidence, so over the population position i is still accepted at p_i(t).
//   The Beta shape and kappa are our approximation of how confidence spreads around the rate
//   (no measured distribution at hand; kappa defaults to 8). A chain stops drafting at the
//   first position whose confidence is below the threshold (that draft step ran, its token is
//   not verified); a first position below it defers the sequence's speculation this step.
//   Draws are a pure function of (seed, request, step, position).
//
// blockwise: blockwise parallel decoding (Stern, Shazeer, Uszkoreit 2018, arXiv:1811.03115):
//   the block a sequence verifies was proposed by k heads in its previous pass; the longest
//   prefix the target agrees with is kept, plus the target's own next token. Block statistics
//   here; the heads' cost is an op of the target's pass (sim/run/speculation_policies.hpp).
#include <cstdint>
#include <vector>

#include "sim/serve/acceptance.hpp"

namespace moesim::serve {

/// grouped: the test/set phase machine choosing each iteration's K. O(1) per call except the
/// end of a test phase, O(k).
class k_controller {
 public:
  /// Candidates 0..k_max; each tested for `test_iterations` >= 1 iterations, the best set for
  /// `set_iterations` >= 1. Throws std::invalid_argument otherwise (or for k_max < 0).
  k_controller(int k_max, int test_iterations, int set_iterations);

  /// The draft length of the next decoding iteration.
  [[nodiscard]] int k() const noexcept { return testing_ ? candidate_ : chosen_; }
  [[nodiscard]] bool testing() const noexcept { return testing_; }
  /// The iteration that ran at k() emitted `tokens` in `seconds` (drafting and verification).
  /// Advances the phase. Throws std::invalid_argument for seconds <= 0 or tokens < 0.
  void observe(std::int64_t tokens, double seconds);
  /// The K the last test phase chose (0 before the first one ends).
  [[nodiscard]] int chosen() const noexcept { return chosen_; }
  /// Tokens per second measured at K so far (weighted as the file comment says); 0 unmeasured.
  [[nodiscard]] double utility(int k) const;

 private:
  int k_max_;
  int test_;
  int set_;
  bool testing_ = true;
  int candidate_ = 0;
  int done_ = 0;  ///< iterations of the current candidate (test) or of the set phase
  int best_ = 0;  ///< the best candidate of the test phase so far
  int chosen_ = 0;
  std::vector<double> tokens_;   ///< per K, weighted over phases
  std::vector<double> seconds_;  ///< per K, weighted over phases
};

/// deferral: one sequence's chain at one verification step.
struct deferral_chain {
  int steps = 0;     ///< draft steps the drafter ran (the cut one included)
  int drafts = 0;    ///< drafts kept for verification (0: deferred, when steps > 0)
  int accepted = 0;  ///< of them, accepted by the target
  [[nodiscard]] bool deferred() const noexcept { return steps > 0 && drafts == 0; }
};

class confidence_model {
 public:
  /// `acceptance` (kept by reference) gives p_i(t); threshold in [0, 1], concentration > 0.
  /// Throws std::invalid_argument otherwise. O(1).
  confidence_model(const acceptance_model& acceptance, double threshold, double concentration,
                   std::uint64_t seed);

  /// The drafter's confidence in draft `position` of `request` at its verification step
  /// `step`: Beta with mean rate(topic, position) and the concentration. O(1) expected.
  [[nodiscard]] double confidence(std::uint64_t request, std::int64_t step, int position) const;
  /// The chain of at most `max_drafts` (<= k) drafts (see the file comment). O(max_drafts).
  [[nodiscard]] deferral_chain chain(std::uint64_t request, std::int64_t step,
                                     int max_drafts) const;

 private:
  const acceptance_model& acceptance_;
  double threshold_;
  double concentration_;
  std::uint64_t seed_;
};

/// blockwise: how many verifications kept a block of each size (accepted drafts + the target's
/// own token, 1..k+1).
class block_tally {
 public:
  explicit block_tally(int k) : counts_(static_cast<std::size_t>(k) + 1, 0) {}
  void add(int accepted) { ++counts_.at(static_cast<std::size_t>(accepted)); }
  /// counts()[s - 1] = verifications that kept s tokens.
  [[nodiscard]] const std::vector<std::int64_t>& counts() const noexcept { return counts_; }
  [[nodiscard]] double mean_block() const;

 private:
  std::vector<std::int64_t> counts_;
};

}  // namespace moesim::serve
