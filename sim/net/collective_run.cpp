// Playing a collective plan under one protocol (collectives.hpp: run_collective, time_collective,
// choose_protocol); the cost model is the one collectives.hpp and protocol.hpp describe.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "sim/net/collectives.hpp"

namespace moesim::sim::net {

namespace {

struct run_state {
  network& net;
  simulation& sim;
  std::shared_ptr<const collective_plan> plan;
  collective_params params;
  protocol proto;
  protocol_latency latency;  ///< the run's fixed costs, refinements applied
  std::function<void(time_ps)> done;
  time_ps start = 0;
  std::size_t next = 0;
  std::size_t outstanding = 0;
  std::vector<flow_request> buffer;
};

// The fixed costs of running `plan` under `proto`, as NCCL's tuning model counts them
// (tuning.cc): NVLS pays its own latency in place of the launch and step latencies; a ring
// spanning several nodes pays the scale-out step latency on its inter-node steps only (2(N-1)
// for all-reduce, N-1 otherwise: collective_plan::inter_node_steps), the other steps at the
// scale-up figure, and a Simple ring all-reduce across nodes pays all its fixed costs times the
// ring plateau factor. The inter-node surplus is charged once per call, with the launch.
protocol_latency run_latency(const collective_params& p, protocol proto,
                             const collective_plan& plan) {
  protocol_latency l = latency_of(p, proto);
  if (plan.algorithm == collective_algorithm::nvls && p.nvls_latency_ps > 0) {
    return {p.nvls_latency_ps, 0, 0};
  }
  if (plan.algorithm == collective_algorithm::ring && plan.inter_node_steps > 0) {
    l.launch_overhead_ps +=
        plan.inter_node_steps *
        std::max<time_ps>(0, l.scale_out_step_latency_ps - l.scale_up_step_latency_ps);
    l.scale_out_step_latency_ps = l.scale_up_step_latency_ps;
    if (proto == protocol::simple && plan.all_reduce && p.ring_plateau_factor != 1.0) {
      const auto scaled = [&](time_ps t) {
        return static_cast<time_ps>(std::llround(static_cast<double>(t) * p.ring_plateau_factor));
      };
      l = {scaled(l.launch_overhead_ps), scaled(l.scale_up_step_latency_ps),
           scaled(l.scale_out_step_latency_ps)};
    }
  }
  return l;
}

void next_phase(const std::shared_ptr<run_state>& st);

void launch_phase(const std::shared_ptr<run_state>& st, const collective_phase& ph, double scale) {
  if (!ph.exchange_ranks.empty()) {
    st->net.start_all_to_all(ph.exchange_ranks, ph.exchange_bytes * scale,
                             [st] { next_phase(st); });
    return;
  }
  st->outstanding = st->buffer.size();
  st->net.start_batch(st->buffer, [st](std::size_t) {
    if (--st->outstanding == 0) next_phase(st);
  });
}

void next_phase(const std::shared_ptr<run_state>& st) {
  const auto& phases = st->plan->phases;
  while (st->next < phases.size() && phases[st->next].flows.empty() &&
         phases[st->next].exchange_ranks.empty())
    ++st->next;
  if (st->next == phases.size()) {
    st->done(st->sim.now() - st->start);
    return;
  }
  const collective_phase& ph = phases[st->next++];
  const double scale = 1.0 / payload_fraction(st->params, st->proto, ph.scale_out);
  const time_ps step =
      ph.scale_out ? st->latency.scale_out_step_latency_ps : st->latency.scale_up_step_latency_ps;
  const time_ps delay = std::max<time_ps>(0, ph.steps * step - ph.wire_latency_ps) +
                        (ph.hops - 1) * ph.wire_latency_ps;
  st->buffer.assign(ph.flows.begin(), ph.flows.end());
  for (auto& f : st->buffer) f.bytes *= scale;
  if (delay == 0) {
    launch_phase(st, ph, scale);
  } else {
    st->sim.schedule_in(delay, [st, &ph, scale] { launch_phase(st, ph, scale); });
  }
}

}  // namespace

void run_collective(network& net, simulation& sim, std::shared_ptr<const collective_plan> plan,
                    const collective_params& params, protocol proto,
                    std::function<void(time_ps elapsed)> on_done) {
  if (!available(params, proto))
    throw std::invalid_argument("the " + std::string(to_string(proto)) +
                                " protocol needs the chip's collective payload fraction for it");
  const protocol_latency latency = run_latency(params, proto, *plan);
  auto st = std::make_shared<run_state>(run_state{
      net, sim, std::move(plan), params, proto, latency, std::move(on_done), sim.now(), 0, 0, {}});
  if (latency.launch_overhead_ps > 0) {
    sim.schedule_in(latency.launch_overhead_ps, [st] { next_phase(st); });
  } else {
    next_phase(st);
  }
}

collective_timing time_collective(const topo::topology& topo, const collective_params& params,
                                  const collective_plan& plan, timing_model model,
                                  std::optional<protocol> proto, double resolve_quantum) {
  collective_timing out;
  out.algorithm = plan.algorithm;
  out.proto = proto ? *proto : choose_protocol(topo, params, plan);
  simulation sim;
  network_params np = network_params_for(params, model);
  np.resolve_quantum = resolve_quantum;
  network net(sim, topo, np);
  // The caller keeps `plan` alive for this whole call: alias it without copying.
  std::shared_ptr<const collective_plan> view(std::shared_ptr<const collective_plan>{}, &plan);
  run_collective(net, sim, view, params, out.proto, [&](time_ps t) { out.elapsed_ps = t; });
  sim.run();
  out.stats = net.stats();
  return out;
}

protocol choose_protocol(const topo::topology& topo, const collective_params& params,
                         const collective_plan& plan) {
  protocol best = protocol::simple;
  if (plan.algorithm == collective_algorithm::nvls) return best;  // NCCL: NVLS is Simple only
  time_ps best_t = time_max;
  for (const protocol p : {protocol::simple, protocol::ll, protocol::ll128}) {
    if (!available(params, p)) continue;
    const time_ps t = time_collective(topo, params, plan, timing_model::analytical, p).elapsed_ps;
    if (t < best_t) {
      best_t = t;
      best = p;
    }
  }
  return best;
}

}  // namespace moesim::sim::net
