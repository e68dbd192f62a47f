#include "sim/run/expert_prefetch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sim/run/iteration_routing.hpp"

namespace moesim::sim::run {

std::string prefetch_approximation(const moesim::serve::speculative_spec& spec) {
  if (spec.prefetch_from == moesim::serve::prefetch_source::draft) {
    return fmt::format(
        "prefetch: the draft's routing predicts each expert the verification uses with "
        "probability {} (stated, not measured on this drafter), else a wrong expert of the "
        "device; predictions cost no compute; preloads run on one copy stream per device in "
        "layer order from the start of drafting",
        spec.prefetch_accuracy);
  }
  return "prefetch: the context predicts the experts routed to most in the passes so far (the "
         "iterations' tokens are drawn afresh, so the context is the instance's, not the "
         "sequence's); preloads run on one copy stream per device in layer order from the start "
         "of drafting";
}

int expected_experts_touched(int per_rank, int experts, int top_k, double tokens) {
  if (!(tokens > 0) || per_rank <= 0 || experts <= 0) return 0;
  const double miss = std::pow(1.0 - static_cast<double>(top_k) / experts, tokens);
  const auto n = static_cast<int>(std::lround(per_rank * (1.0 - miss)));
  return std::clamp(n, 1, per_rank);
}

speculative_prefetch::speculative_prefetch(const scenario& s, expert_offload& offload,
                                           iteration_routing& routing, std::vector<int> moe_layers)
    : s_(s),
      offload_(offload),
      routing_(routing),
      layers_(std::move(moe_layers)),
      from_(s.workload.serve->speculative->prefetch_from),
      accuracy_(s.workload.serve->speculative->prefetch_accuracy),
      gen_(rng::stream(s.seed, "speculative prefetch")) {}

int speculative_prefetch::start(std::span<const moesim::serve::iteration> its, int pass) {
  bool verifies = false;
  double tokens = 0;
  for (const moesim::serve::iteration& it : its) {
    tokens += static_cast<double>(it.tokens());
    for (const moesim::serve::seq_work& w : it.seqs) verifies = verifies || w.drafts > 0;
  }
  if (!verifies) return 0;
  ++iterations_;
  const int ranks = static_cast<int>(its.size());
  const int per_rank = offload_.experts_per_rank();
  const int experts = s_.model.moe->experts;
  std::vector<std::vector<expert_offload::layer_experts>> wanted(
      static_cast<std::size_t>(ranks));
  std::vector<std::vector<std::vector<int>>> truths(static_cast<std::size_t>(ranks));
  for (const int layer : layers_) {
    // The verification's routing, computed ahead (the pass reuses it), or the context's.
    const auto truth_lr = routing_.peek(pass, layer);
    const std::span<const double> context = offload_.routed(layer);
    for (int e = 0; e < ranks; ++e) {
      std::vector<int> truth;
      for (int x = 0; x < per_rank; ++x) {
        if (truth_lr->expert_load[static_cast<std::size_t>(e * per_rank + x)] > 0) {
          truth.push_back(x);
        }
      }
      std::vector<int> predicted;
      if (from_ == moesim::serve::prefetch_source::draft) {
        predicted = predict_experts(truth, per_rank, accuracy_, gen_);
      } else {
        std::vector<int> order(static_cast<std::size_t>(per_rank));
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
          return context[static_cast<std::size_t>(e * per_rank + a)] >
                 context[static_cast<std::size_t>(e * per_rank + b)];
        });
        order.resize(static_cast<std::size_t>(
            expected_experts_touched(per_rank, experts, s_.model.moe->top_k, tokens)));
        predicted = std::move(order);
      }
      predicted_ += static_cast<double>(predicted.size());
      needed_ += static_cast<double>(truth.size());
      for (const int x : predicted) {
        if (std::find(truth.begin(), truth.end(), x) != truth.end()) hits_ += 1;
      }
      wanted[static_cast<std::size_t>(e)].push_back({layer, std::move(predicted)});
      truths[static_cast<std::size_t>(e)].push_back(std::move(truth));
    }
  }
  int fetched = 0;
  for (int e = 0; e < ranks; ++e) {
    const auto ue = static_cast<std::size_t>(e);
    const std::vector<expert_offload::layer_experts> got = offload_.preload(0, 0, e, wanted[ue]);
    for (std::size_t i = 0; i < got.size(); ++i) {
      const std::vector<int>& truth = truths[ue][i];
      for (const int x : got[i].experts) {
        ++fetched;
        if (std::find(truth.begin(), truth.end(), x) == truth.end()) wasted_ += 1;
      }
    }
  }
  fetched_ += fetched;
  return fetched;
}

void speculative_prefetch::fill(policy_figures& f) const {
  f.prefetch_from = moesim::serve::to_string(from_);
  f.prefetch_iterations = iterations_;
  f.prefetch_predicted = predicted_;
  f.prefetch_hit_rate = predicted_ > 0 ? hits_ / predicted_ : 0;
  f.prefetch_coverage = needed_ > 0 ? hits_ / needed_ : 0;
  f.prefetch_fetched_bytes = fetched_ * offload_.expert_bytes();
  f.prefetch_wasted_bytes = wasted_ * offload_.expert_bytes();
}

}  // namespace moesim::sim::run
