#include "sim/run/speculation_policies.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "sim/run/expert_prefetch.hpp"

namespace moesim::sim::run {

using moesim::serve::speculation_policy;

std::string policy_approximation(const moesim::serve::speculative_spec& spec) {
  switch (spec.policy) {
    case speculation_policy::grouped:
      return fmt::format(
          "grouped speculation: one K for every sequence of an iteration, chosen by tokens per "
          "second measured on decode-only iterations; test phases of {} and set phases of {} "
          "iterations (our choice)",
          spec.test_iterations, spec.set_iterations);
    case speculation_policy::deferral:
      return fmt::format(
          "deferral: a draft's confidence is drawn from a Beta distribution with mean the "
          "position's acceptance rate and concentration {} (an approximation: EAGLE-2 reports "
          "confidence tracking acceptance, not its spread), the draft accepted with probability "
          "its confidence",
          spec.confidence_concentration);
    case speculation_policy::blockwise:
      return "blockwise: each proposal head is a hidden x hidden feedforward layer (two "
             "matrices) with the shared output projection, run at every verified position; a "
             "head's proposals are accepted at the scenario's per-position rates";
    case speculation_policy::prefetch:
      return prefetch_approximation(spec);
    case speculation_policy::none:
    case speculation_policy::naive:
    case speculation_policy::divided:
      break;
  }
  return "";
}

speculation_mechanism::speculation_mechanism(const moesim::serve::speculative_spec& spec, int k,
                                             const moesim::serve::acceptance_model& acceptance,
                                             std::uint64_t seed)
    : policy_(spec.policy), k_(k), blocks_(k) {
  if (policy_ == speculation_policy::grouped) {
    grouped_.emplace(k, static_cast<int>(spec.test_iterations),
                     static_cast<int>(spec.set_iterations));
    k_iterations_.assign(static_cast<std::size_t>(k) + 1, 0);
  }
  if (policy_ == speculation_policy::deferral) {
    confidence_.emplace(acceptance, spec.threshold, spec.confidence_concentration, seed);
  }
}

bool speculation_mechanism::drafter_runs() const noexcept {
  return policy_ != speculation_policy::blockwise;
}

int speculation_mechanism::proposal_heads() const noexcept {
  return policy_ == speculation_policy::blockwise ? k_ : 0;
}

void speculation_mechanism::before_next(std::span<moesim::serve::scheduler> ranks) {
  if (!grouped_) return;
  iteration_k_ = grouped_->k();
  iteration_testing_ = grouped_->testing();
  for (moesim::serve::scheduler& sc : ranks) {
    sc.set_draft_tokens(static_cast<std::uint32_t>(iteration_k_));
  }
}

void speculation_mechanism::plan(std::span<moesim::serve::iteration> its,
                                 std::span<moesim::serve::scheduler> ranks) {
  if (!confidence_) return;
  chains_.clear();
  for (std::size_t e = 0; e < its.size(); ++e) {
    std::vector<std::int64_t> kept;
    kept.reserve(its[e].seqs.size());
    bool cut_any = false;
    for (const moesim::serve::seq_work& w : its[e].seqs) {
      kept.push_back(w.drafts);
      if (w.drafts <= 0) continue;
      // The sequence's KV length keys the draws, as the acceptance model's do.
      const moesim::serve::deferral_chain c =
          confidence_->chain(w.request, w.context, static_cast<int>(w.drafts));
      chains_[w.request] = c;
      ++draft_chances_;
      if (c.deferred()) {
        ++deferred_;
      } else if (c.drafts < w.drafts) {
        ++cut_;
      }
      kept.back() = c.drafts;
      cut_any = cut_any || c.drafts < w.drafts;
    }
    if (cut_any) ranks[e].withdraw_drafts(its[e], kept);
  }
}

std::int64_t speculation_mechanism::draft_steps(const moesim::serve::seq_work& w) const {
  if (!drafter_runs()) return 0;
  if (confidence_) {
    const auto c = chains_.find(w.request);
    return c == chains_.end() ? 0 : c->second.steps;
  }
  return w.drafts;
}

std::optional<int> speculation_mechanism::accepted(const moesim::serve::seq_work& w) const {
  if (!confidence_) return std::nullopt;
  const auto c = chains_.find(w.request);
  return c == chains_.end() ? 0 : c->second.accepted;
}

void speculation_mechanism::verified(int accepted) {
  if (policy_ == speculation_policy::blockwise) blocks_.add(accepted);
}

void speculation_mechanism::iterated(std::int64_t decoding, bool prefill, std::int64_t emitted,
                                     double seconds) {
  // Only iterations of decoding sequences alone measure a K's utility: a prefill chunk's time
  // in the iteration would weigh on whichever K ran beside it.
  if (!grouped_ || decoding == 0 || prefill || !(seconds > 0)) return;
  ++k_iterations_[static_cast<std::size_t>(iteration_k_)];
  if (iteration_testing_) ++test_iterations_;
  grouped_->observe(emitted, seconds);
}

policy_figures speculation_mechanism::figures(std::int64_t drafted,
                                              std::int64_t verifications) const {
  policy_figures f;
  switch (policy_) {
    case speculation_policy::grouped: {
      f.k_iterations = k_iterations_;
      const std::int64_t n =
          std::accumulate(k_iterations_.begin(), k_iterations_.end(), std::int64_t{0});
      double sum = 0;
      for (std::size_t k = 0; k < k_iterations_.size(); ++k) {
        sum += static_cast<double>(k) * static_cast<double>(k_iterations_[k]);
      }
      f.mean_k = n > 0 ? sum / static_cast<double>(n) : 0;
      f.test_share = n > 0 ? static_cast<double>(test_iterations_) / static_cast<double>(n) : 0;
      break;
    }
    case speculation_policy::deferral:
      f.draft_chances = draft_chances_;
      f.deferred = deferred_;
      f.cut = cut_;
      f.drafts_per_verification =
          verifications > 0 ? static_cast<double>(drafted) / static_cast<double>(verifications) : 0;
      break;
    case speculation_policy::blockwise:
      f.block_sizes = blocks_.counts();
      f.mean_block = blocks_.mean_block();
      break;
    case speculation_policy::none:
    case speculation_policy::naive:
    case speculation_policy::divided:
    case speculation_policy::prefetch:  // its figures come from expert_prefetch
      break;
  }
  return f;
}

}  // namespace moesim::sim::run
