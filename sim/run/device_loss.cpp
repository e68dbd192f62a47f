#include "sim/run/device_loss.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "sim/run/layout.hpp"

namespace moesim::sim::run {

namespace {

/// Why `s` cannot lose a device at all, or empty (see the header's last paragraph).
std::string refusal(const scenario& s) {
  if (s.workload.kind == workload_kind::train) {
    return "device_loss in a training run needs workload.training.resilience (checkpoint "
           "interval, restart time: the job restarts from its last checkpoint)";
  }
  if (s.workload.kind != workload_kind::serve) {
    return "device_loss needs workload kind serve: a fixed batch has no requests to move to "
           "the surviving devices";
  }
  const moesim::serve::serve_spec& sv = *s.workload.serve;
  if (sv.disaggregation) {
    return "device_loss is simulated in aggregated serving only, not with "
           "workload.serve.disaggregation";
  }
  if (sv.speculative) return "device_loss is not simulated with workload.serve.speculative";
  if (s.offload) return "device_loss is not simulated with offload: (expert offloading)";
  if (s.moe.placement && s.moe.placement->rebalance) {
    return "device_loss is not simulated with moe.placement.rebalance (a rebalance would "
           "place experts on the lost device again)";
  }
  if (s.model.moe && s.moe.exchange != exchange_kind::per_copy) {
    return "device_loss needs moe.exchange per_copy (per_rank and hierarchical count tokens by "
           "each expert's single home, which a lost device takes away)";
  }
  if (s.model.moe && s.moe.padded) {
    return "device_loss is not simulated with moe.padded (static buffers to every rank)";
  }
  if (s.parallelism.ep < 2) {
    return "device_loss needs ep >= 2 (attention-DP ranks): with one rank nothing survives";
  }
  return {};
}

}  // namespace

std::optional<device_loss_problem> check_device_losses(const scenario& s) {
  std::vector<std::size_t> losses;
  for (std::size_t i = 0; i < s.faults.size(); ++i) {
    if (s.faults[i].kind == fault_kind::device_loss) losses.push_back(i);
  }
  if (losses.empty()) return std::nullopt;
  // A training job with resilience restarts from a checkpoint instead (resilience.hpp).
  if (s.workload.kind == workload_kind::train && s.workload.training &&
      s.workload.training->resilience) {
    return std::nullopt;
  }
  if (std::string why = refusal(s); !why.empty()) {
    return device_loss_problem{losses.front(), "kind", std::move(why)};
  }
  const layout lay(s.parallelism);
  std::vector<std::size_t> lost_by(static_cast<std::size_t>(s.parallelism.ep), s.faults.size());
  std::size_t ranks_lost = 0;
  for (const std::size_t i : losses) {
    const int d = s.faults[i].device.value_or(0);
    if (d < 0 || d >= lay.devices()) {
      return device_loss_problem{
          i, "device",
          fmt::format("device {} is not in the serving instance (devices 0 to {})", d,
                      lay.devices() - 1)};
    }
    const int rank = lay.of(d).ep;
    std::size_t& by = lost_by[static_cast<std::size_t>(rank)];
    if (by != s.faults.size()) {
      return device_loss_problem{
          i, "device",
          fmt::format("device {} is on EP rank {}, which faults[{}] loses already (a rank is "
                      "its whole TP group of {})",
                      d, rank, by, s.parallelism.tp)};
    }
    by = i;
    if (++ranks_lost == lost_by.size()) {
      return device_loss_problem{
          i, "device",
          fmt::format("the device_loss faults lose all {} EP ranks: nothing would survive",
                      s.parallelism.ep)};
    }
  }
  return std::nullopt;
}

expert_loss lose_rank(expert_placement& p, int rank, const std::vector<int>& moe_layers) {
  expert_loss out;
  const auto experts = static_cast<std::size_t>(p.experts());
  for (const int layer : moe_layers) {
    const std::vector<std::vector<int>> held = p.experts_on(layer);
    std::vector<int> holders(experts, 0);
    for (const std::vector<int>& on : held) {
      for (const int e : on) ++holders[static_cast<std::size_t>(e)];
    }
    std::vector<int> gone;
    for (const int e : held.at(static_cast<std::size_t>(rank))) {
      ++out.copies_held;
      if (holders[static_cast<std::size_t>(e)] > 1) {
        ++out.failed_over;
      } else {
        gone.push_back(e);
      }
    }
    std::sort(gone.begin(), gone.end());
    for (const int e : gone) out.lost.emplace_back(layer, e);
  }
  p.remove_rank(rank);
  return out;
}

device_loss_tracker::device_loss_tracker(const scenario& s, layer_observer* next)
    : next_(next), lost_(static_cast<std::size_t>(std::max(s.parallelism.ep, 0)), 0) {
  const layout lay(s.parallelism);
  for (std::size_t i = 0; i < s.faults.size(); ++i) {
    const fault_event& f = s.faults[i];
    if (f.kind != fault_kind::device_loss) continue;
    pending_loss l;
    l.fault = i;
    l.at = ps_from_seconds(f.at_s);
    l.device = f.device.value_or(0);
    l.rank = lay.of(l.device).ep;
    losses_.push_back(std::move(l));
  }
  std::stable_sort(losses_.begin(), losses_.end(),
                   [](const pending_loss& a, const pending_loss& b) { return a.at < b.at; });
}

std::vector<std::size_t> device_loss_tracker::due(time_ps now) const {
  std::vector<std::size_t> out;
  for (const pending_loss& l : losses_) {
    if (!l.applied && l.at <= now) out.push_back(l.fault);
  }
  return out;
}

int device_loss_tracker::rank_of(std::size_t fault) const {
  for (const pending_loss& l : losses_) {
    if (l.fault == fault) return l.rank;
  }
  throw std::out_of_range(fmt::format("device_loss_tracker: fault {} is no device_loss", fault));
}

void device_loss_tracker::applied(std::size_t fault, time_ps now, const expert_loss& experts,
                                  const std::vector<serve::detail::sequence>& moved,
                                  std::size_t running) {
  const auto it = std::find_if(losses_.begin(), losses_.end(),
                               [&](const pending_loss& l) { return l.fault == fault; });
  if (it == losses_.end() || it->applied) {
    throw std::logic_error(fmt::format("device_loss_tracker: fault {} applied twice", fault));
  }
  pending_loss& l = *it;
  l.applied = true;
  lost_[static_cast<std::size_t>(l.rank)] = 1;
  device_loss_report& r = l.report;
  r.fault = fault;
  r.device = l.device;
  r.rank = l.rank;
  r.applied_at_s = seconds(now);
  r.expert_copies_held = experts.copies_held;
  r.experts_failed_over = experts.failed_over;
  r.experts_lost = experts.lost;
  for (const auto& [layer, e] : experts.lost) ++r.experts_lost_per_layer[layer];
  r.requests_requeued = static_cast<std::int64_t>(moved.size());
  r.requests_running = static_cast<std::int64_t>(running);
  for (const serve::detail::sequence& s : moved) {
    r.kv_tokens_recomputed += s.computed;
    l.waiting_for.insert(s.req.id);
  }
  if (l.waiting_for.empty()) l.recovered = l.at;
  order_.push_back(static_cast<std::size_t>(it - losses_.begin()));
  segments_.emplace_back();
}

void device_loss_tracker::on_layer(int layer, const layer_routing& lr,
                                   const expert_placement::pass_assignment& placed,
                                   double token_bytes) {
  if (next_ != nullptr) next_->on_layer(layer, lr, placed, token_bytes);
  if (!decode_) return;
  segment& g = segments_.back();
  double busiest = 0;
  double sum = 0;
  int live = 0;
  for (std::size_t r = 0; r < placed.ranks.size(); ++r) {
    if (r < lost_.size() && lost_[r] != 0) continue;
    ++live;
    busiest = std::max(busiest, placed.ranks[r].copies);
    sum += placed.ranks[r].copies;
  }
  const std::size_t n = placed.ranks.size();
  double between = 0;
  for (std::size_t src = 0; src < n; ++src) {
    for (std::size_t dst = 0; dst < n; ++dst) {
      if (src != dst) between += static_cast<double>(placed.pairs[src * n + dst]);
    }
  }
  ++g.passes;
  g.busiest += busiest;
  g.max_over_mean += sum > 0 ? busiest / (sum / live) : 0;
  g.bytes += between * token_bytes;
  g.dropped += static_cast<double>(placed.dropped);
}

void device_loss_tracker::begin_iteration(const std::vector<serve::iteration>& its) {
  decode_ = std::all_of(its.begin(), its.end(),
                        [](const serve::iteration& it) { return it.prefill_tokens() == 0; });
}

void device_loss_tracker::on_iteration(time_ps start, time_ps end,
                                       const std::vector<serve::iteration>& its) {
  segment& g = segments_.back();
  if (decode_) {
    ++g.iterations;
    g.seconds += seconds(end - start);
  }
  for (const serve::iteration& it : its) {
    for (const serve::seq_work& w : it.seqs) {
      if (!w.emits_token) continue;
      if (decode_) g.output_tokens += 1;
      for (pending_loss& l : losses_) {
        if (l.waiting_for.erase(w.request) > 0 && l.waiting_for.empty()) l.recovered = end;
      }
    }
  }
}

device_loss_side device_loss_tracker::side_of(const segment& g) {
  device_loss_side s;
  s.layer_passes = g.passes;
  s.iterations = g.iterations;
  if (g.passes > 0) {
    const auto n = static_cast<double>(g.passes);
    s.busiest_rank_copies = g.busiest / n;
    s.max_over_mean = g.max_over_mean / n;
    s.dispatch_bytes = g.bytes / n;
    s.copies_dropped = g.dropped / n;
  }
  if (g.iterations > 0) s.iteration_s = g.seconds / static_cast<double>(g.iterations);
  if (g.seconds > 0) s.output_tokens_per_s = g.output_tokens / g.seconds;
  return s;
}

std::vector<device_loss_report> device_loss_tracker::reports() const {
  std::vector<device_loss_report> out;
  for (std::size_t k = 0; k < order_.size(); ++k) {
    const pending_loss& l = losses_[order_[k]];
    device_loss_report r = l.report;
    r.before = side_of(segments_[k]);
    r.after = side_of(segments_[k + 1]);
    r.recovery_s = l.recovered < 0 ? -1 : seconds(l.recovered - l.at);
    if (r.before.iteration_s > 0 && r.after.iteration_s > 0) {
      r.slowdown = r.after.iteration_s / r.before.iteration_s;
    }
    if (r.before.output_tokens_per_s > 0 && r.after.iterations > 0) {
      r.throughput_loss = 1 - r.after.output_tokens_per_s / r.before.output_tokens_per_s;
    }
    r.why = fmt::format(
        "decode iteration {:.4g} ms before, {:.4g} ms after ({:.3f}x); output {:.4g} -> {:.4g} "
        "tokens/s. The busiest live rank computes {:.4g} -> {:.4g} token copies per MoE layer "
        "pass (max/mean {:.3f} -> {:.3f}): {} expert copies failed over to surviving replicas, "
        "{} experts lost ({:.4g} copies per pass dropped). {} requests moved to the survivors "
        "({} running) recompute {} KV tokens there; the last of them emitted its next token {}.",
        r.before.iteration_s * 1e3, r.after.iteration_s * 1e3, r.slowdown,
        r.before.output_tokens_per_s, r.after.output_tokens_per_s, r.before.busiest_rank_copies,
        r.after.busiest_rank_copies, r.before.max_over_mean, r.after.max_over_mean,
        r.experts_failed_over, r.experts_lost.size(), r.after.copies_dropped, r.requests_requeued,
        r.requests_running, r.kv_tokens_recomputed,
        r.recovery_s < 0 ? std::string("not within the run")
                         : fmt::format("{:.4g} s after the loss", r.recovery_s));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace moesim::sim::run
