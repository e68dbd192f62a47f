// Disaggregated serving. The story of a request:
//  1. it arrives (request_source: Poisson, gamma, closed loop or a trace) and goes to a prefill
//     instance, round-robin over the prefill instances;
//  2. that instance's scheduler runs its prompt (chunked prefill and all, as aggregated serving
//     does) with an output of one token: the first token comes from the prefill, and the
//     request's TTFT ends with that iteration (it includes the prefill's queueing);
//  3. its prompt's KV cache (kv_transfer.hpp: prompt tokens x the model's KV bytes per token in
//     the KV precision) is sent as flows over the cluster's network from the prefill
//     instance's devices to a decode instance's, the least loaded one (fewest requests
//     assigned and not finished; ties to the lowest index);
//  4. when the last byte is in, the request joins that decode instance's scheduler with the
//     prompt's KV in place and its first output token still to compute (context = the prompt):
//     it decodes output - 1 more tokens; its end-to-end latency and token gaps join those of
//     its prefill (the first gap spans the transfer and the decode queue).
// Each instance is a serving_instance (the same loop as aggregated serving) on a machine view
// of its devices over one shared cluster_fabric: one simulation, one network, so transfers and
// every instance's expert exchanges share links. A prompt runs on the prefill rank its
// instance assigns (serving_instance.hpp) and its KV goes to decode ranks round-robin.
#include "sim/run/disaggregation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>

#include "sim/run/kv_transfer.hpp"
#include "sim/run/machine.hpp"
#include "sim/run/routing_tally.hpp"
#include "sim/run/serve_instances.hpp"
#include "sim/run/serving_instance.hpp"
#include "sim/serve/latency.hpp"
#include "sim/serve/requests.hpp"

namespace moesim::sim::run {

namespace {

/// ECMP tag of KV transfer flows: one connection per (prefill, decode) device pair, reused by
/// every request (as the expert exchange's connections are), kept apart from those by the tag.
constexpr std::uint64_t kv_tag = 1;

class disaggregated_loop final : public serving_driver {
 public:
  disaggregated_loop(const scenario& s, trace_recorder& trace, const run_options& opt)
      : s_(s),
        spec_(*s.workload.serve),
        closed_(spec_.requests.arrivals == moesim::serve::arrival_kind::closed),
        places_(place_instances(s)),
        whole_(whole_cluster(s)),
        fabric_(whole_, trace, opt.trace),
        requests_(spec_.requests, s.seed),
        stats_(serve::slo{spec_.slo.ttft_s, spec_.slo.tpot_s}),
        progress_(opt.progress) {
    for (const instance_placement& p : places_) {
      const scenario& is = scenarios_.emplace_back(instance_scenario(s, p));
      machine& m = machines_.emplace_back(fabric_, is, p.first_device);
      routing_tally& t =
          tallies_.emplace_back(is.model.moe ? is.model.moe->experts : 0, is.parallelism.ep);
      instances_.emplace_back(is, m, t, *this, opt.threads, p.name());
      prefills_ += p.role == serve_role_kind::prefill ? 1 : 0;
    }
    next_rank_.assign(places_.size(), 0);
    assigned_.assign(places_.size(), 0);
  }

  run_result run() {
    simulation& sim = fabric_.sim();
    sim.spawn(arrivals());
    for (serving_instance& in : instances_) sim.spawn(in.loop());
    sim.run();
    return result();
  }

  // Work reaches instances through add() (arrivals, transfers); none is pulled.
  void admit(serving_instance&, time_ps) override {}
  std::optional<time_ps> idle_until(serving_instance&, time_ps) override { return std::nullopt; }
  // An idle instance waits for wake(); when the run's work is done nothing wakes it, no event
  // is left and the simulation ends (destroying the waiting loops).
  bool stopped(const serving_instance&) const override { return false; }

  void finished(serving_instance& in, const serve::finished_request& f, time_ps now) override {
    const std::size_t i = index_of(in);
    pending& p = pending_.at(f.req.id);
    if (places_[i].role == serve_role_kind::prefill) {
      p.first_token = f.first_token;
      p.preemptions = f.preemptions;
      if (p.req.output_tokens == 1) {
        done({p.req, f.first_token, f.finish, {}, f.preemptions}, now);
        return;
      }
      transfer(i, f.req.id, now);
      return;
    }
    std::vector<time_ps> gaps{f.first_token - p.first_token};
    gaps.insert(gaps.end(), f.token_gaps.begin(), f.token_gaps.end());
    --assigned_[i];
    done({p.req, p.first_token, f.finish, std::move(gaps), p.preemptions + f.preemptions}, now);
  }

  void iterated(serving_instance& in, const serve::iteration_sample& x) override {
    const bool prefill = places_[index_of(in)].role == serve_role_kind::prefill;
    (prefill ? prefill_iterations_ : decode_iterations_).add(x);
    busy_s_ += seconds(x.end - x.start);
    batch_tokens_ += static_cast<double>(x.batch_tokens);
    if (progress_) progress_(requests_.issued(), requests_.issued() + 1);
  }

 private:
  struct pending {
    serve::request req;  ///< as it arrived
    time_ps first_token = 0;
    std::uint32_t preemptions = 0;
  };

  std::size_t index_of(const serving_instance& in) const {
    for (std::size_t i = 0; i < instances_.size(); ++i) {
      if (&instances_[i] == &in) return i;
    }
    return instances_.size();  // not reached: every caller is one of ours
  }

  process arrivals() {
    if (closed_) {
      for (std::uint32_t i = 0; i < spec_.requests.concurrency && requests_.can_issue(0); ++i) {
        dispatch(requests_.next_closed(0));
      }
      co_return;
    }
    while (const auto at = requests_.peek_arrival()) {
      co_await until{*at};
      dispatch(*requests_.next_open());
    }
  }

  /// To the next prefill instance in turn, for its prompt and first token.
  void dispatch(const serve::request& r) {
    pending_[r.id] = {r, 0, 0};
    serve::request prompt = r;
    prompt.output_tokens = 1;
    instances_[static_cast<std::size_t>(next_prefill_)].add(prompt);
    next_prefill_ = (next_prefill_ + 1) % prefills_;
  }

  /// The request's KV from prefill instance i to the least loaded decode instance.
  void transfer(std::size_t i, std::uint64_t id, time_ps now) {
    std::size_t j = static_cast<std::size_t>(prefills_);
    for (std::size_t k = j; k < instances_.size(); ++k) {
      if (assigned_[k] < assigned_[j]) j = k;
    }
    ++assigned_[j];
    const pending& p = pending_.at(id);
    const double bytes =
        kv_transfer_bytes(s_.model, s_.precision.kv_or(s_.model.dtype), p.req.prompt_tokens);
    const int from_rank = instances_[i].rank_of(id);
    const int to_rank = rank(j);
    const std::vector<net::flow_request> flows =
        kv_transfer_flows(s_.model, machines_[i], from_rank, machines_[j], to_rank, bytes, kv_tag);
    auto left = std::make_shared<std::size_t>(flows.size());
    fabric_.network().start_batch(flows, [this, left, id, j, to_rank, now, bytes](std::size_t) {
      if (--*left == 0) arrived(id, j, to_rank, now, bytes);
    });
  }

  /// The next attention-DP rank of instance i, round-robin.
  int rank(std::size_t i) {
    const int ep = scenarios_[i].parallelism.ep;
    const int r = next_rank_[i];
    next_rank_[i] = (r + 1) % ep;
    return r;
  }

  void arrived(std::uint64_t id, std::size_t j, int rank, time_ps sent, double bytes) {
    const time_ps now = fabric_.sim().now();
    transfer_bytes_.push_back(bytes);
    transfer_s_.push_back(seconds(now - sent));
    const serve::request& r = pending_.at(id).req;
    serve::request rest = r;
    rest.prompt_tokens = r.prompt_tokens + 1;  // the prompt and the first output token
    rest.output_tokens = r.output_tokens - 1;
    rest.cached_prompt_tokens = 0;
    instances_[j].add_with_kv(rest, r.prompt_tokens, rank);
  }

  void done(const serve::finished_request& f, time_ps now) {
    stats_.add(f);
    pending_.erase(f.req.id);
    if (closed_ && requests_.can_issue(now)) dispatch(requests_.next_closed(now));
  }

  [[nodiscard]] run_result result() const;

  const scenario& s_;
  const moesim::serve::serve_spec& spec_;
  bool closed_;
  std::vector<instance_placement> places_;
  scenario whole_;
  cluster_fabric fabric_;
  // Deques: elements keep their addresses (instances hold references to the others).
  std::deque<scenario> scenarios_;
  std::deque<machine> machines_;
  std::deque<routing_tally> tallies_;
  std::deque<serving_instance> instances_;
  int prefills_ = 0;
  int next_prefill_ = 0;
  std::vector<int> next_rank_;
  std::vector<int> assigned_;  ///< decode instances: requests sent and not finished
  serve::request_source requests_;
  std::map<std::uint64_t, pending> pending_;
  serve::serving_stats stats_;
  serve::serving_stats prefill_iterations_;
  serve::serving_stats decode_iterations_;
  std::vector<double> transfer_bytes_;
  std::vector<double> transfer_s_;
  double busy_s_ = 0;
  double batch_tokens_ = 0;
  progress_fn progress_;
};

run_result disaggregated_loop::result() const {
  run_result r = serving_result(s_, static_cast<int>(cluster_devices(s_.cluster)), stats_.report());
  const auto hits = fabric_.network().fault_hits();
  r.fault_flows_hit.assign(hits.begin(), hits.end());
  int iterations = 0;
  time_ps end = 0;
  double dispatch_bytes = 0;
  for (const serving_instance& in : instances_) {
    iterations += in.iterations();
    end = std::max(end, in.last_end());
    dispatch_bytes += in.dispatch_bytes();
  }
  const int steps = std::max(iterations, 1);
  r.steps = static_cast<std::uint32_t>(iterations);
  r.simulated_time_s = seconds(end);
  r.step_time_s = busy_s_ / steps;
  double model_flops = 0;
  for (const serving_instance& in : instances_) model_flops += in.model_flops();
  serving_model_flops(r, s_, model_flops);
  r.tokens_per_step = batch_tokens_ / steps;
  for (const machine& m : machines_) {
    for (const auto& [k, v] : m.ops().critical_path()) {
      auto it = std::find_if(r.breakdown_s.begin(), r.breakdown_s.end(),
                             [&k = k](const auto& e) { return e.first == k; });
      if (it == r.breakdown_s.end()) it = r.breakdown_s.insert(it, {k, 0.0});
      it->second += v / steps;
    }
  }
  const std::size_t decode0 = static_cast<std::size_t>(prefills_);
  if (tallies_[decode0].routed_layers() > 0) {
    r.dispatch_bytes_per_step = dispatch_bytes / steps;
    const int d = std::max(instances_[decode0].iterations(), 1);
    tallies_[decode0].fill(r, d, d);
  }
  for (const serving_instance& in : instances_) in.fill_devices(r);
  disaggregation_report x;
  const auto role = [&](const serve::serving_stats& st, std::size_t first) {
    disaggregation_report::role out;
    out.devices_per_instance = places_[first].devices;
    for (const auto& p : places_) out.instances += p.role == places_[first].role ? 1 : 0;
    out.iterations = st.report();
    return out;
  };
  x.prefill = role(prefill_iterations_, 0);
  x.decode = role(decode_iterations_, decode0);
  x.transfers = transfer_bytes_.size();
  x.transfer_bytes = serve::summarize(transfer_bytes_);
  x.transfer_s = serve::summarize(transfer_s_);
  r.disaggregation = x;
  for (std::size_t i : {std::size_t{0}, decode0}) {
    const instance_placement& p = places_[i];
    const parallel_config& par = scenarios_[i].parallelism;
    r.layout.push_back(
        fmt::format("{} x {} instance(s) of tp {} ep {} ({} devices each), the "
                    "first from device {} (numbered from there below):",
                    p.role == serve_role_kind::prefill ? x.prefill.instances : x.decode.instances,
                    to_string(p.role), par.tp, par.ep, p.devices, p.first_device));
    for (const std::string& line : machines_[i].layout().describe()) {
      r.layout.push_back("  " + line);
    }
  }
  serving_approximations(r, instances_[0]);
  run_result tmp;
  serving_approximations(tmp, instances_[decode0]);
  for (const std::string& a : tmp.approximations) {
    if (std::find(r.approximations.begin(), r.approximations.end(), a) == r.approximations.end()) {
      r.approximations.push_back("decode instances: " + a);
    }
  }
  r.approximations.push_back(
      "disaggregation: a prompt's KV cache leaves when its prefill's last iteration ends (no "
      "layer-by-layer overlap with the prefill) and the decode instance holds its own copy; "
      "prefill instances are chosen round-robin, decode instances least-loaded, a prompt's KV "
      "to the decode instance's attention-DP ranks round-robin");
  r.approximations.push_back(
      "disaggregation: expert loads and routing figures are decode instance 0's; the breakdown "
      "sums every instance's critical path per iteration of all instances");
  r.events = fabric_.sim().events_processed();
  return r;
}

}  // namespace

run_result simulate_disaggregated(const scenario& s, trace_recorder& trace,
                                  const run_options& opt) {
  disaggregated_loop loop(s, trace, opt);
  return loop.run();
}

}  // namespace moesim::sim::run
