#include "sim/run/resilience.hpp"

#include <cmath>
#include <stdexcept>

#include "sim/engine/simulation.hpp"
#include "sim/engine/time.hpp"

namespace moesim::sim::run {

namespace {

enum class phase { training, checkpointing, restarting };

const char* to_string(phase p) {
  switch (p) {
    case phase::training:
      return "training";
    case phase::checkpointing:
      return "checkpointing";
    case phase::restarting:
      return "restarting";
  }
  return "?";
}

// The job's state machine on the engine's clock (ps). One event per step, checkpoint end,
// restart end and fault.
class job {
 public:
  job(const resilience_config& c, double write_s, double step_s, const step_time_with& step_time,
      resilience_report& rep)
      : interval_(ps_from_seconds(c.checkpoint_interval_s)),
        write_(ps_from_seconds(write_s)),
        restart_(ps_from_seconds(c.restart_s)),
        step_(ps_from_seconds(step_s)),
        step_time_(step_time),
        rep_(rep) {
    if (step_ <= 0) throw std::invalid_argument("resilience: the step time must be positive");
  }

  void run(time_ps horizon) {
    for (std::size_t i = 0; i < rep_.events.size(); ++i) {
      sim_.schedule_at(ps_from_seconds(rep_.events[i].event.at_s), [this, i] { fault(i); });
    }
    start_step();
    sim_.run_until(horizon);
    finish();
  }

 private:
  void start_step() {
    phase_ = phase::training;
    since_ = sim_.now();
    pending_ = sim_.schedule_in(step_, [this] { step_done(); });
  }

  void step_done() {
    trained_ += sim_.now() - since_;  // the step's own time (begun before a slowdown)
    ++steps_;
    if (trained_ >= interval_) {
      phase_ = phase::checkpointing;
      since_ = sim_.now();
      pending_ = sim_.schedule_in(write_, [this] { checkpoint_done(); });
    } else {
      start_step();
    }
  }

  void checkpoint_done() {
    checkpointing_ += sim_.now() - since_;
    kept_ += trained_;
    kept_steps_ += steps_;
    trained_ = 0;
    steps_ = 0;
    ++rep_.checkpoints;
    start_step();
  }

  void restart_done() {
    restarting_ += sim_.now() - since_;
    for (const std::size_t i : recovering_) {
      recovered(i);
    }
    recovering_.clear();
    start_step();
  }

  // Device loss i: training again now (or the run ends).
  void recovered(std::size_t i) {
    resilience_event& e = rep_.events[i];
    e.recovery_s = seconds(sim_.now() - ps_from_seconds(e.event.at_s));
  }

  void fault(std::size_t i) {
    resilience_event& e = rep_.events[i];
    if (e.event.kind != fault_kind::device_loss) {
      // Never repaired: the step time from the next step on is the step with all of them.
      fault_event active = e.event;
      active.at_s = 0;
      slow_.push_back(active);
      const double s = step_time_(slow_);
      step_ = ps_from_seconds(s);
      if (step_ <= 0) throw std::invalid_argument("resilience: the step time must be positive");
      e.step_time_after_s = s;
      return;
    }
    ++rep_.failures;
    e.during = to_string(phase_);
    sim_.cancel(pending_);
    const time_ps in_phase = sim_.now() - since_;
    time_ps lost = trained_;
    if (phase_ == phase::training) lost += in_phase;
    if (phase_ == phase::checkpointing) checkpointing_ += in_phase;
    if (phase_ == phase::restarting) restarting_ += in_phase;
    e.lost_work_s = seconds(lost);
    e.lost_steps = steps_;
    lost_ += lost;
    trained_ = 0;
    steps_ = 0;
    recovering_.push_back(i);
    phase_ = phase::restarting;
    since_ = sim_.now();
    pending_ = sim_.schedule_in(restart_, [this] { restart_done(); });
  }

  // The end of the run: the training since the last checkpoint is kept (the job ends, it is not
  // lost), the phase in progress is counted up to the horizon.
  void finish() {
    const time_ps in_phase = sim_.now() - since_;
    if (phase_ == phase::training) rep_.unfinished_step_s = seconds(in_phase);
    if (phase_ == phase::checkpointing) checkpointing_ += in_phase;
    if (phase_ == phase::restarting) restarting_ += in_phase;
    for (const std::size_t i : recovering_) {
      recovered(i);
    }
    kept_ += trained_;
    kept_steps_ += steps_;
    rep_.steps = kept_steps_;
    rep_.useful_s = seconds(kept_);
    rep_.lost_work_s = seconds(lost_);
    rep_.checkpointing_s = seconds(checkpointing_);
    rep_.restarting_s = seconds(restarting_);
  }

  simulation sim_;
  time_ps interval_;
  time_ps write_;
  time_ps restart_;
  time_ps step_;
  const step_time_with& step_time_;
  resilience_report& rep_;
  phase phase_ = phase::training;
  time_ps since_ = 0;    // start of the phase in progress (of the step, when training)
  event_id pending_;     // the end of the phase in progress
  time_ps trained_ = 0;  // training since the last checkpoint or restart, completed steps
  std::uint64_t steps_ = 0;
  time_ps kept_ = 0;  // checkpointed training
  std::uint64_t kept_steps_ = 0;
  time_ps lost_ = 0;
  time_ps checkpointing_ = 0;
  time_ps restarting_ = 0;
  std::vector<fault_event> slow_;        // stragglers and link faults so far
  std::vector<std::size_t> recovering_;  // device losses the job has not yet recovered from
};

}  // namespace

resilience_report play_resilience(const resilience_config& config, double checkpoint_write_s,
                                  double step_time_s, std::vector<resilience_event> events,
                                  const step_time_with& step_time) {
  if (!(step_time_s > 0) || !std::isfinite(step_time_s)) {
    throw std::invalid_argument("resilience: the step time must be positive and finite");
  }
  resilience_report rep;
  rep.run_s = config.run_hours * 3600;
  rep.step_time_s = step_time_s;
  rep.checkpoint_interval_s = config.checkpoint_interval_s;
  rep.checkpoint_write_s = checkpoint_write_s;
  rep.restart_s = config.restart_s;
  rep.events = std::move(events);
  const time_ps horizon = ps_from_seconds(rep.run_s);
  job j(config, checkpoint_write_s, step_time_s, step_time, rep);
  j.run(horizon);
  rep.goodput = rep.run_s > 0 ? rep.useful_s / rep.run_s : 0;
  return rep;
}

young_daly_model young_daly(double job_mtbf_s, double interval_s, double checkpoint_write_s,
                            double restart_s) {
  young_daly_model m;
  m.job_mtbf_s = job_mtbf_s;
  m.optimal_interval_s = std::sqrt(2 * checkpoint_write_s * job_mtbf_s);
  const auto goodput = [&](double tau) {
    const double segment = tau + checkpoint_write_s;
    const double g = tau / segment * (1 - (restart_s + segment / 2) / job_mtbf_s);
    return g > 0 ? g : 0.0;
  };
  m.goodput = goodput(interval_s);
  m.goodput_at_optimum = goodput(m.optimal_interval_s);
  return m;
}

}  // namespace moesim::sim::run
