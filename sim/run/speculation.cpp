#include "sim/run/speculation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <utility>

#include "models/model_params.hpp"
#include "sim/run/model_chunks.hpp"
#include "sim/run/routing_sampler.hpp"
#include "sim/serve/draft_tree.hpp"

namespace moesim::sim::run {

namespace {

using moesim::serve::drafter_kind;

const moesim::serve::speculative_spec* spec_of(const scenario& s) {
  if (!s.workload.serve || !s.workload.serve->speculative) return nullptr;
  return &*s.workload.serve->speculative;
}

/// The conditional rates of positions 0..k-1 (a grid's vector may be longer than this run's k:
/// its first k positions apply).
std::vector<double> rates_for(moesim::serve::speculative_spec spec) {
  if (spec.acceptance.size() > spec.k) spec.acceptance.resize(spec.k);
  return moesim::serve::conditional_acceptance(spec);
}

/// A tree's shape (null for a chain), built before the policy's mechanism, which reads k().
std::unique_ptr<moesim::serve::draft_tree> tree_of(const moesim::serve::speculative_spec& spec) {
  if (!spec.tree) return nullptr;
  return std::make_unique<moesim::serve::draft_tree>(
      static_cast<int>(spec.tree->steps), static_cast<int>(spec.tree->top_k),
      static_cast<int>(spec.tree->draft_tokens) - 1, rates_for(spec), spec.tree->rank_acceptance);
}

/// Draft passes key their routing apart from the target's iterations (routing_sampler keys its
/// token draws by pass).
constexpr int draft_pass_base = 1 << 28;

}  // namespace

models::model_spec eagle_head_model(const models::model_spec& target) {
  models::model_spec m = target;
  m.name = target.name + " EAGLE head";
  m.layers = 1;
  m.mtp_modules = 0;
  m.dense_ffn_hidden = target.dense_ffn_hidden > 0 ? target.dense_ffn_hidden
                       : target.moe                ? target.moe->expert_ffn_hidden
                                                   : 0;
  m.moe.reset();
  return m;
}

models::model_spec mtp_module_model(const models::model_spec& target) {
  if (target.mtp_modules < 1 || !target.moe) {
    throw std::invalid_argument(
        fmt::format("model {} has no multi-token-prediction module (mtp_modules {})", target.name,
                    target.mtp_modules));
  }
  models::model_spec m = target;
  m.name = target.name + " MTP module";
  m.layers = 1;
  m.mtp_modules = 0;
  m.moe->first_k_dense = 0;
  m.moe->every_n = 1;
  return m;
}

double draft_weight_bytes(const scenario& s) {
  const moesim::serve::speculative_spec* spec = spec_of(s);
  if (spec != nullptr && spec->policy == moesim::serve::speculation_policy::blockwise) {
    return proposal_heads_weight_bytes(s.model, static_cast<int>(spec->k), s.parallelism.tp);
  }
  if (spec == nullptr || !spec->draft) return 0;
  const models::model_spec& d = *spec->draft;
  const double tp = s.parallelism.tp;
  const double bytes = models::bytes_per_param(d.dtype);
  switch (spec->drafter) {
    case drafter_kind::draft_model:
      return static_cast<double>(models::total_params(d)) * bytes / tp;
    case drafter_kind::eagle: {
      const double h = d.hidden;
      return (static_cast<double>(models::layer_params(d, 0)) + 2 * h * h) * bytes / tp;
    }
    case drafter_kind::mtp: {
      // One module of the target as models::mtp_params counts it, less the embedding and head
      // it shares with the main model.
      const models::model_spec& t = s.model;
      const double module = static_cast<double>(models::mtp_params(t)) / t.mtp_modules -
                            2.0 * static_cast<double>(models::embedding_params(t));
      const double routed =
          static_cast<double>(t.moe->experts) * static_cast<double>(models::expert_params(t));
      return ((module - routed) / tp + routed / (tp * s.parallelism.ep)) * bytes;
    }
    case drafter_kind::ngram:
      return 0;
  }
  return 0;
}

double draft_kv_bytes_per_token(const scenario& s) {
  const moesim::serve::speculative_spec* spec = spec_of(s);
  if (spec == nullptr || !spec->draft) return 0;
  // Blockwise proposal heads read the target's last hidden state: no cache of their own.
  if (spec->policy == moesim::serve::speculation_policy::blockwise) return 0;
  const models::model_spec& d = *spec->draft;
  const double split = d.attention.kind == models::attention_kind::mla
                           ? 1.0
                           : std::min<double>(s.parallelism.tp, d.attention.kv_heads);
  return models::kv_cache_bytes_per_token(d, s.precision.kv_or(d.dtype)) / split;
}

/// The target's routing, counting unique experts of verifying iterations against the same
/// iteration's plain decode batch routed by a second sampler of the same scenario.
class speculation::routing_tapper final : public routing_source {
 public:
  routing_tapper(const scenario& s, routing_source& inner, const ep_nodes& nodes,
                 const expert_placement& placement)
      : inner_(inner),
        plain_(s, s.parallelism.ep, s.workload.serve->scheduler.token_budget, 1, nodes.node),
        placement_(placement),
        contiguous_(placement.experts(), placement.ranks(), 0) {}

  std::shared_ptr<const layer_routing> routing(int rep, int pass, int layer, bool fwd) override {
    auto lr = inner_.routing(rep, pass, layer, fwd);
    if (active_) {
      verify_sum_ += lr->unique_experts;
      plain_sum_ += plain_.route(0, pass, layer, 1, plain_tokens_).unique_experts;
      ++layers_;
      const rank_spread placed = spread_of(placement_.assign(*lr, layer));
      const rank_spread split = spread_of(contiguous_.assign(*lr, layer));
      spread_.tokens_max_over_mean += placed.tokens_max_over_mean;
      spread_.unique_max_over_mean += placed.unique_max_over_mean;
      split_.tokens_max_over_mean += split.tokens_max_over_mean;
      split_.unique_max_over_mean += split.unique_max_over_mean;
    }
    return lr;
  }
  /// The mean over verifying layer passes of the per-rank spread under the placement (or, with
  /// `contiguous`, under the contiguous split).
  [[nodiscard]] rank_spread spread(bool contiguous) const {
    const rank_spread& sum = contiguous ? split_ : spread_;
    const double n = layers_ ? static_cast<double>(layers_) : 1.0;
    return {sum.tokens_max_over_mean / n, sum.unique_max_over_mean / n};
  }
  /// The next pass verifies drafts, with plain_tokens[e] decoding sequences on rank e (all
  /// zero: it does not).
  void next(std::vector<std::int64_t> plain_tokens) {
    plain_tokens_ = std::move(plain_tokens);
    active_ = std::any_of(plain_tokens_.begin(), plain_tokens_.end(),
                          [](std::int64_t n) { return n > 0; });
  }
  [[nodiscard]] double verify_mean() const {
    return layers_ ? verify_sum_ / static_cast<double>(layers_) : 0;
  }
  [[nodiscard]] double plain_mean() const {
    return layers_ ? plain_sum_ / static_cast<double>(layers_) : 0;
  }

 private:
  routing_source& inner_;
  routing_sampler plain_;
  const expert_placement& placement_;
  expert_placement contiguous_;
  rank_spread spread_;
  rank_spread split_;
  std::vector<std::int64_t> plain_tokens_;
  bool active_ = false;
  double verify_sum_ = 0;
  double plain_sum_ = 0;
  std::int64_t layers_ = 0;
};

/// An MTP module's routing: the target's MTP gate (routing_sampler numbers the modules after
/// the main layers) over each draft pass's tokens.
class speculation::draft_routing final : public routing_source {
 public:
  draft_routing(const scenario& target, const ep_nodes& nodes)
      : layer_(target.model.layers),
        sampler_(target, target.parallelism.ep, target.workload.serve->scheduler.token_budget, 1,
                 nodes.node) {}
  void next(std::vector<std::int64_t> tokens) { tokens_ = std::move(tokens); }
  std::shared_ptr<const layer_routing> routing(int, int pass, int, bool) override {
    return std::make_shared<const layer_routing>(sampler_.route(0, pass, layer_, 1, tokens_));
  }

 private:
  int layer_;
  routing_sampler sampler_;
  std::vector<std::int64_t> tokens_;
};

speculation::speculation(const scenario& s, machine& m, expert_exchange& x, routing_source& target,
                         const ep_nodes& nodes, const expert_placement& placement)
    : s_(s),
      spec_(*spec_of(s)),
      acceptance_(rates_for(spec_), spec_.topic_spread, s.seed),
      tree_(tree_of(spec_)),
      tap_(std::make_unique<routing_tapper>(s, target, nodes, placement)),
      mechanism_(spec_, k(), acceptance_, s.seed),
      full_slots_(static_cast<std::int64_t>(s.workload.serve->scheduler.max_running) *
                  s.parallelism.ep),
      reached_(spec_.k, 0),
      accepted_at_(spec_.k, 0) {
  if (spec_.drafter == drafter_kind::ngram || !mechanism_.drafter_runs()) return;
  if (!spec_.draft) throw std::logic_error("speculation: the drafter's model was not resolved");
  draft_s_ = std::make_unique<scenario>(s);
  draft_s_->model = *spec_.draft;
  // The drafter's weights stay in HBM (`offload:` concerns the target's routed experts; an
  // MTP module's experts are its own, counted in draft_weight_bytes).
  draft_s_->offload.reset();
  draft_chunks_ = std::make_unique<model_chunks>(*draft_s_, /*is_training=*/false);
  if (spec_.drafter == drafter_kind::mtp) {
    draft_routing_ = std::make_unique<draft_routing>(s, nodes);
  }
  // A dense drafter never asks for routing; the MTP module asks draft_routing_.
  routing_source& routing = draft_routing_ ? static_cast<routing_source&>(*draft_routing_)
                                           : static_cast<routing_source&>(*tap_);
  draft_executor_ = std::make_unique<pass_executor>(m, x, routing, *draft_s_, *draft_chunks_);
}

speculation::~speculation() = default;

int speculation::k() const noexcept {
  if (spec_.policy == moesim::serve::speculation_policy::none) return 0;
  return tree_ ? tree_->size() : static_cast<int>(spec_.k);
}

routing_source& speculation::tap() noexcept {
  return *tap_;
}

int speculation::proposal_heads() const noexcept {
  return mechanism_.proposal_heads();
}

void speculation::before_next(std::span<serve::scheduler> ranks) {
  mechanism_.before_next(ranks);
}

void speculation::plan(std::span<serve::iteration> its, std::span<serve::scheduler> ranks) {
  mechanism_.plan(its, ranks);
}

task speculation::draft(std::span<const serve::iteration> its, int iteration, op_id* last) {
  std::vector<std::int64_t> plain(its.size(), 0);
  std::int64_t steps = 0;
  verifying_ = false;
  for (std::size_t e = 0; e < its.size(); ++e) {
    for (const serve::seq_work& w : its[e].seqs) {
      plain[e] += w.drafts > 0 ? 1 : 0;
      verifying_ = verifying_ || w.drafts > 0;
      steps = std::max(steps, mechanism_.draft_steps(w));
    }
  }
  tap_->next(plain);
  // A tree runs all its passes for every sequence with drafts, pass j > 0 over its top_k
  // frontier nodes (draft_tree.hpp).
  if (tree_ && verifying_) steps = tree_->steps();
  if (steps == 0 || !draft_executor_) co_return;
  const models::model_spec& d = draft_s_->model;
  for (std::int64_t j = 0; j < steps; ++j) {
    // Draft step j: every sequence drafting more than j steps proposes its token j, reading
    // its context and the j drafts before it from the drafter's KV cache.
    pass_request request{
        0,
        0,
        0,
        pass_kind::forward,
        draft_pass_base + iteration * std::max(k(), static_cast<int>(steps)) + static_cast<int>(j),
        {},
        *last,
        {}};
    std::vector<std::int64_t> tokens(its.size(), 0);
    for (std::size_t e = 0; e < its.size(); ++e) {
      pass_shape p;
      p.tp = s_.parallelism.tp;
      p.kv_dtype = s_.precision.kv_or(d.dtype);
      p.decode = true;
      double keys = 0;
      const double width = tree_ && j > 0 ? tree_->top_k() : 1;
      for (const serve::seq_work& w : its[e].seqs) {
        if (tree_ ? w.drafts <= 0 : mechanism_.draft_steps(w) <= j) continue;
        const auto context = static_cast<double>(w.context + j);
        p.slices.push_back({width, context});
        keys += width * (context + 1);
      }
      p.tokens = width * static_cast<double>(p.slices.size());
      p.sequences = p.tokens;
      p.keys = p.tokens > 0 ? keys / p.tokens : 0;
      tokens[e] = static_cast<std::int64_t>(p.tokens);
      request.ranks.push_back(std::move(p));
    }
    if (draft_routing_) draft_routing_->next(tokens);
    co_await draft_executor_->run(request, last);
  }
}

std::vector<int> speculation::accept(const serve::iteration& it) {
  std::vector<int> out(it.seqs.size(), 0);
  for (std::size_t i = 0; i < it.seqs.size(); ++i) {
    const serve::seq_work& w = it.seqs[i];
    iteration_prefill_ = iteration_prefill_ || w.prefill;
    if (w.prefill || !w.emits_token) continue;
    ++iteration_decoding_;
    ++iteration_emitted_;
    if (w.drafts <= 0) continue;
    // The sequence's KV length keys the draw: one verification per length (a recomputation
    // after preemption verifies the same positions again, and draws the same).
    const std::optional<int> decided = mechanism_.accepted(w);
    const int a = decided ? *decided
                  : tree_ ? tree_->accepted(acceptance_, s_.seed, w.request, w.context,
                                            static_cast<int>(w.drafts))
                          : acceptance_.accepted(w.request, w.context, static_cast<int>(w.drafts));
    out[i] = a;
    mechanism_.verified(a);
    ++verifications_;
    iteration_emitted_ += a;
    drafted_ += w.drafts;
    accepted_ += a;
    // Positions of a chain, depths of a tree.
    const int reach = tree_ ? tree_->depth(static_cast<int>(w.drafts)) : static_cast<int>(w.drafts);
    for (int p = 0; p < reach && p <= a && p < static_cast<int>(spec_.k); ++p) {
      ++reached_[static_cast<std::size_t>(p)];
      if (p < a) ++accepted_at_[static_cast<std::size_t>(p)];
    }
  }
  return out;
}

void speculation::iterated(time_ps start, time_ps drafted, time_ps end,
                           const expert_offload::totals* offload) {
  const std::int64_t decoding = std::exchange(iteration_decoding_, 0);
  const std::int64_t emitted = std::exchange(iteration_emitted_, 0);
  mechanism_.iterated(decoding, std::exchange(iteration_prefill_, false), emitted,
                      seconds(end - start));
  draft_ps_ += drafted - start;  // deferral drafts in iterations that verify nothing
  if (decoding == full_slots_) {
    ++full_iterations_;
    full_emitted_ += emitted;
    full_ps_ += end - start;
    full_verify_ps_ += end - drafted;
    if (offload != nullptr) {
      full_offload_.lookups += offload->lookups;
      full_offload_.hits += offload->hits;
      full_offload_.bytes_fetched += offload->bytes_fetched;
    }
  }
  if (!verifying_) return;
  ++verify_iterations_;
  verify_ps_ += end - drafted;
  verifying_ = false;
}

speculative_report speculation::report() const {
  speculative_report r;
  r.drafter = moesim::serve::to_string(spec_.drafter);
  r.policy = moesim::serve::to_string(spec_.policy);
  r.k = k();
  if (tree_) {
    r.tree_steps = tree_->steps();
    r.tree_top_k = tree_->top_k();
    r.tree_draft_tokens = tree_->size() + 1;
    r.tree_depth = tree_->depth(tree_->size());
    r.tree_expected_accepted = tree_->expected_accepted(tree_->size());
  }
  r.acceptance = rates_for(spec_);
  r.acceptance_source = spec_.acceptance_source;
  r.verifications = verifications_;
  r.verify_iterations = verify_iterations_;
  const double v = static_cast<double>(std::max<std::int64_t>(verifications_, 1));
  r.mean_accepted_drafts = static_cast<double>(accepted_) / v;
  r.mean_accepted_tokens = verifications_ > 0 ? r.mean_accepted_drafts + 1 : 0;
  r.draft_acceptance =
      drafted_ > 0 ? static_cast<double>(accepted_) / static_cast<double>(drafted_) : 0;
  for (std::size_t p = 0; p < reached_.size(); ++p) {
    const auto reached = static_cast<double>(reached_[p]);
    const auto accepted = static_cast<double>(accepted_at_[p]);
    r.observed_conditional.push_back(reached > 0 ? accepted / reached : 0);
    r.observed_marginal.push_back(verifications_ > 0 ? accepted / v : 0);
  }
  r.unique_experts_verify = tap_->verify_mean();
  r.unique_experts_plain = tap_->plain_mean();
  const rank_spread placed = tap_->spread(false);
  const rank_spread split = tap_->spread(true);
  r.rank_tokens_max_over_mean = placed.tokens_max_over_mean;
  r.rank_unique_max_over_mean = placed.unique_max_over_mean;
  r.rank_tokens_max_over_mean_contiguous = split.tokens_max_over_mean;
  r.rank_unique_max_over_mean_contiguous = split.unique_max_over_mean;
  const double n = static_cast<double>(std::max<std::int64_t>(verify_iterations_, 1));
  r.verify_pass_s = seconds(verify_ps_) / n;
  r.draft_s = seconds(draft_ps_) / n;
  r.full_batch_iterations = full_iterations_;
  if (full_iterations_ > 0) {
    r.full_batch_tokens_per_s = static_cast<double>(full_emitted_) / seconds(full_ps_);
    r.full_batch_verify_pass_s = seconds(full_verify_ps_) / static_cast<double>(full_iterations_);
  }
  r.offloaded = s_.offload.has_value();
  if (full_offload_.lookups > 0) {
    r.full_batch_expert_hit_rate = full_offload_.hits / full_offload_.lookups;
  }
  if (full_emitted_ > 0) {
    r.full_batch_fetched_bytes_per_token =
        full_offload_.bytes_fetched / static_cast<double>(full_emitted_);
  }
  const time_ps total = draft_ps_ + verify_ps_;
  r.mechanism = mechanism_.figures(drafted_, verifications_);
  r.draft_share = total > 0 ? static_cast<double>(draft_ps_) / static_cast<double>(total) : 0;
  return r;
}

}  // namespace moesim::sim::run
