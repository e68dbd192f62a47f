#include "sim/run/routing_sampler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "models/batch_scaling.hpp"
#include "models/capacity.hpp"

namespace moesim::sim::run {

namespace {
// DeepSeek-V3's bias update speed for auxiliary-loss-free balancing (gamma = 0.001).
constexpr float bias_update_rate = 0.001F;

models::token_source make_source(const scenario& s, int hidden) {
  models::token_source_config cfg;
  cfg.hidden = hidden;
  cfg.skew = s.sampling.skew;
  return models::token_source(cfg, s.seed);
}
}  // namespace

routing_sampler::routing_sampler(const scenario& s, int sources, std::int64_t tokens_per_source,
                                 int threads, std::vector<int> rank_nodes,
                                 std::vector<std::vector<int>> layer_expert_ranks)
    : s_(s),
      sources_(sources),
      threads_(std::max(threads, 1)),
      tokens_per_source_(tokens_per_source),
      math_hidden_(s.sampling.math_hidden > 0 ? static_cast<int>(s.sampling.math_hidden)
                                              : s.model.hidden),
      sample_(s.sampling.trace
                  ? s.sampling.trace->layers.front().tokens
                  : std::min<std::int64_t>(static_cast<std::int64_t>(sources) * tokens_per_source,
                                           s.sampling.tokens_per_step)),
      router_(s.model.moe ? models::router_config_for(*s.model.moe) : models::router_config{}),
      tokens_(make_source(s, math_hidden_)) {
  if (s.model.moe) {
    // Multi-token-prediction modules route as layers numbered after the main ones.
    gates_.resize(static_cast<std::size_t>(s.model.layers + s.model.mtp_modules));
    gate_once_ = std::make_unique<std::once_flag[]>(gates_.size());
    bias_.resize(static_cast<std::size_t>(s.model.layers + s.model.mtp_modules));
    if (s.moe.exchange != exchange_kind::per_copy && sources > 0 &&
        router_.experts % sources == 0) {
      expert_rank_.resize(static_cast<std::size_t>(router_.experts));
      for (int e = 0; e < router_.experts; ++e) {
        expert_rank_[static_cast<std::size_t>(e)] = e / (router_.experts / sources);
      }
    }
    if (s.moe.exchange == exchange_kind::hierarchical) {
      if (rank_nodes.size() != static_cast<std::size_t>(sources)) {
        throw std::logic_error("routing_sampler: a hierarchical exchange needs each rank's node");
      }
      rank_node_ = std::move(rank_nodes);
      nodes_ = *std::max_element(rank_node_.begin(), rank_node_.end()) + 1;
    }
    for (const std::vector<int>& row : layer_expert_ranks) {
      if (expert_rank_.empty() || row.empty()) continue;
      if (row.size() != expert_rank_.size() ||
          std::any_of(row.begin(), row.end(), [&](int r) { return r < 0 || r >= sources; })) {
        throw std::logic_error("routing_sampler: a layer's expert ranks of the wrong shape");
      }
    }
    layer_expert_rank_ = std::move(layer_expert_ranks);
  }
}

const models::row_matrix& routing_sampler::gate(int layer) {
  auto& g = gates_[static_cast<std::size_t>(layer)];
  std::call_once(gate_once_[static_cast<std::size_t>(layer)], [&] {
    rng gen = rng::stream(s_.seed, "gate").fork(static_cast<std::uint64_t>(layer));
    g = models::make_gate_weights(math_hidden_, router_.experts, gen);
  });
  return g;
}

std::shared_ptr<const models::row_matrix> routing_sampler::tokens(int group, int pass, int sample) {
  // Up to 64 MiB of token matrices stay for the layers still to come.
  const std::size_t keep = std::max<std::size_t>(
      1, (std::size_t{64} << 20) /
             (static_cast<std::size_t>(sample) * static_cast<std::size_t>(math_hidden_) * 4 + 1));
  std::shared_ptr<token_batch> batch;
  {
    const std::scoped_lock lock(tokens_mutex_);
    auto& slot = token_batches_[{group, pass, sample}];
    if (!slot) {
      slot = std::make_shared<token_batch>();
      token_order_.emplace_back(group, pass, sample);
      if (token_order_.size() > keep) {
        token_batches_.erase(token_order_.front());
        token_order_.pop_front();
      }
    }
    batch = slot;
  }
  std::call_once(batch->drawn, [&] {
    const auto index =
        static_cast<std::uint64_t>(group) * s_.workload.steps * s_.workload.micro_batches +
        static_cast<std::uint64_t>(pass);
    rng gen = rng::stream(s_.seed, "tokens").fork(index);
    batch->x = tokens_.generate(sample, 1, gen);
  });
  return {batch, &batch->x};
}

models::routing routing_sampler::policy_decisions(int group, int pass, int layer, int sample,
                                                  rng& gen, const models::route_options& opt) {
  if (s_.sampling.trace) {
    // The recorded layer with this index, else (reuse cyclic) the recorded layers in turn by
    // MoE ordinal.
    const auto& tr = *s_.sampling.trace;
    for (std::size_t i = 0; i < tr.layer_ids.size(); ++i) {
      if (tr.layer_ids[i] == layer) return tr.layers[i];
    }
    if (s_.sampling.routing_trace.reuse != trace_reuse::cyclic) {
      throw std::logic_error("routing_sampler: layer " + std::to_string(layer) +
                             " is not in the trace (the loader checks coverage)");
    }
    int ordinal = 0;
    for (int l = 0; l < layer; ++l) ordinal += models::is_moe_layer(s_.model, l) ? 1 : 0;
    return tr.layers[static_cast<std::size_t>(ordinal) % tr.layers.size()];
  }
  const bool uniform = s_.sampling.skew == 0;
  switch (s_.moe.routing) {
    case routing_policy::top_k:
      return uniform
                 ? models::route_logits(models::uniform_logits(sample, router_.experts, gen),
                                        router_, opt)
                       .decisions
                 : models::route(*tokens(group, pass, sample), gate(layer), router_, opt).decisions;
    case routing_policy::expert_choice: {
      // Each expert takes tokens * c / experts tokens (Zhou et al. 2022); c = top_k * CF keeps
      // the same average experts per token as the model's top-k router.
      const double cf = router_.top_k * (s_.moe.capacity_factor > 0 ? s_.moe.capacity_factor : 1.0);
      return models::route_expert_choice(
          uniform ? models::uniform_logits(sample, router_.experts, gen)
                  : models::gate_logits(*tokens(group, pass, sample), gate(layer)),
          cf);
    }
    case routing_policy::hash: {
      // Token ids: a fresh id per sampled token and step (hash routing ignores content).
      std::vector<std::uint32_t> ids(static_cast<std::size_t>(sample));
      for (int i = 0; i < sample; ++i)
        ids[static_cast<std::size_t>(i)] = static_cast<std::uint32_t>(gen());
      return models::route_hash(ids, router_.experts, router_.top_k,
                                s_.seed ^ static_cast<std::uint64_t>(layer));
    }
  }
  return {};
}

bool routing_sampler::independent() const noexcept {
  return s_.moe.balance != balance_mode::bias || s_.sampling.trace;
}

int routing_sampler::sample_for(std::int64_t total_tokens) const noexcept {
  // A smaller pass than the constructor's samples no more tokens than it has.
  if (total_tokens <= 0 || s_.sampling.trace) return static_cast<int>(sample_);
  return static_cast<int>(std::min<std::int64_t>(sample_, total_tokens));
}

layer_routing routing_sampler::route(int group, int step, int layer, int threads,
                                     std::int64_t tokens_per_source) {
  const std::vector<std::int64_t> per_source(
      static_cast<std::size_t>(sources_),
      tokens_per_source > 0 ? tokens_per_source : tokens_per_source_);
  const int sample = sample_for(tokens_per_source > 0 ? tokens_per_source * sources_ : 0);
  return count(decide(group, step, layer, sample, threads), per_source, threads);
}

layer_routing routing_sampler::route(int group, int step, int layer, int threads,
                                     std::span<const std::int64_t> tokens_per_source) {
  check_counts(tokens_per_source);
  const std::int64_t total =
      std::accumulate(tokens_per_source.begin(), tokens_per_source.end(), std::int64_t{0});
  return count(decide(group, step, layer, sample_for(total), threads), tokens_per_source, threads);
}

void routing_sampler::check_counts(std::span<const std::int64_t> tokens_per_source) const {
  if (tokens_per_source.size() != static_cast<std::size_t>(sources_)) {
    throw std::invalid_argument(fmt::format("routing_sampler: {} token counts for {} sources",
                                            tokens_per_source.size(), sources_));
  }
  std::int64_t total = 0;
  for (const std::int64_t n : tokens_per_source) {
    if (n < 0 || n > tokens_per_source_) {
      throw std::invalid_argument(fmt::format(
          "routing_sampler: {} tokens on a source, outside [0, {}]", n, tokens_per_source_));
    }
    total += n;
  }
  if (total == 0) throw std::invalid_argument("routing_sampler: a pass without tokens");
}

sampled_decisions routing_sampler::decide(int group, int pass, int layer, int sample, int threads) {
  if (threads <= 0) threads = threads_;
  const auto index =
      (static_cast<std::uint64_t>(group) * s_.workload.steps * s_.workload.micro_batches +
       static_cast<std::uint64_t>(pass)) *
          static_cast<std::uint64_t>(s_.model.layers) +
      static_cast<std::uint64_t>(layer);
  sampled_decisions d{
      group, pass, layer, sample, {}, rng::stream(s_.seed, "routing").fork(index), {}, {}};
  const bool balance = s_.moe.balance == balance_mode::bias && !s_.sampling.trace;
  auto& bias = bias_[static_cast<std::size_t>(layer)];
  if (balance && bias.empty()) bias.assign(static_cast<std::size_t>(router_.experts), 0.0F);
  models::route_options opt;
  opt.logsumexp = false;  // decisions only
  // Threads only pay for large score matrices (starting one costs tens of microseconds).
  opt.threads = sample_ * router_.experts >= (std::int64_t{1} << 22) ? threads : 1;
  if (balance) opt.selection_bias = bias;

  // 1. Routing decisions for the sample: replayed, or made by the chosen policy.
  models::routing decided = policy_decisions(group, pass, layer, sample, d.gen, opt);

  // 2. Capacity on the sample at the sample's own capacity: exact when the sample is the
  //    batch; count() redecides the drops of a larger batch from `offered` (step 3).
  //    (Expert choice fills each expert to its capacity by construction: nothing to drop.)
  if (balance) models::update_balance_bias(bias, models::expert_load(decided), bias_update_rate);
  if ((s_.moe.routing == routing_policy::expert_choice && !s_.sampling.trace) ||
      s_.moe.capacity_factor == models::dropless) {
    d.cap = models::apply_capacity(decided, models::unlimited_capacity, s_.moe.drop);
  } else {
    const std::int64_t capacity = models::expert_capacity(decided.tokens, decided.experts,
                                                          router_.top_k, s_.moe.capacity_factor);
    d.priority = models::priority_order(decided, s_.moe.drop);
    d.cap = models::apply_capacities(
        decided, d.priority,
        std::vector<std::int64_t>(static_cast<std::size_t>(decided.experts), capacity));
    d.cap.capacity = capacity;
    d.offered = std::move(decided);
  }
  return d;
}

layer_routing routing_sampler::count(const sampled_decisions& d,
                                     std::span<const std::int64_t> per_source, int threads) const {
  if (threads <= 0) threads = threads_;
  rng gen = d.gen;
  // 3. Per-source counts of the full batch: exact when it fits in the sample, else scaled.
  const std::int64_t total = std::accumulate(per_source.begin(), per_source.end(), std::int64_t{0});
  const std::int64_t have = d.cap.kept.tokens;  // a replayed trace may hold more than the batch
  const bool scaled = total > have;
  // Scaled under a capacity factor: the sample drops the share of each expert's assignments
  // the batch is expected to drop at the batch's capacity, not at the sample's.
  const models::capacity_result batch_cap =
      scaled && !d.priority.empty() ? batch_capacity(d, total) : models::capacity_result{};
  const models::capacity_result& cap = scaled && !d.priority.empty() ? batch_cap : d.cap;
  // per_rank exchange: also the tokens that need each EP rank at least once (DeepEP's count).
  //    Under a placement, the ranks holding the layer's experts.
  std::span<const int> rank_of = expert_rank_;
  if (!expert_rank_.empty() && static_cast<std::size_t>(d.layer) < layer_expert_rank_.size() &&
      !layer_expert_rank_[static_cast<std::size_t>(d.layer)].empty()) {
    rank_of = layer_expert_rank_[static_cast<std::size_t>(d.layer)];
  }
  const models::expert_grouping by_rank{rank_of, rank_of.empty() ? 0 : sources_, rank_node_,
                                        nodes_};
  const models::batch_counts counts =
      scaled ? models::scale_to_batch(cap.kept, per_source, router_.n_groups, gen, by_rank, threads)
             : models::count_batch(models::slice_tokens(cap.kept, 0, static_cast<int>(total)),
                                   per_source, by_rank);

  layer_routing lr;
  lr.sources = sources_;
  lr.experts = router_.experts;
  lr.copies = counts.device_expert;
  lr.expert_load = counts.expert_load;
  lr.rank_tokens = counts.device_group_tokens;
  lr.node_tokens = counts.device_parent_tokens;
  lr.scaled = scaled;
  lr.drop_rate = cap.drop_rate;
  const double scale = static_cast<double>(total) / static_cast<double>(have);
  lr.dropped_per_expert.reserve(cap.dropped_per_expert.size());
  for (auto n : cap.dropped_per_expert) {
    lr.dropped_per_expert.push_back(
        static_cast<std::int64_t>(static_cast<double>(n) * scale + 0.5));
  }
  lr.unique_experts = static_cast<double>(std::count_if(
      counts.expert_load.begin(), counts.expert_load.end(), [](std::int64_t n) { return n > 0; }));
  return lr;
}

models::capacity_result routing_sampler::batch_capacity(const sampled_decisions& d,
                                                        std::int64_t total) const {
  const models::routing& r = d.offered;
  const std::int64_t capacity =
      models::expert_capacity(total, r.experts, router_.top_k, s_.moe.capacity_factor);
  const std::vector<std::int64_t> load = models::expert_load(r);
  const std::vector<double> drops = models::expected_batch_drops(load, r.tokens, total, capacity);
  // Each expert keeps its sampled assignments less its expected batch drops scaled to the
  // sample, rounded up or down at random in proportion (so the drops stay unbiased).
  rng gen = rng::stream(s_.seed, "capacity")
                .fork(static_cast<std::uint64_t>(d.layer))
                .fork(static_cast<std::uint64_t>(d.group) * s_.workload.steps *
                          s_.workload.micro_batches +
                      static_cast<std::uint64_t>(d.pass));
  std::vector<std::int64_t> keep(load.size());
  const double scale = static_cast<double>(r.tokens) / static_cast<double>(total);
  for (std::size_t e = 0; e < load.size(); ++e) {
    const double x = std::min(drops[e] * scale, static_cast<double>(load[e]));
    const double whole = std::floor(x);
    const auto dropped = static_cast<std::int64_t>(whole) + (gen.uniform01() < x - whole ? 1 : 0);
    keep[e] = load[e] - dropped;
  }
  return models::apply_capacities(r, d.priority, keep);
}

}  // namespace moesim::sim::run
