// The long training job (sim/run/resilience.hpp) against hand-worked timelines (failures at
// fixed times => exact lost work, checkpoints, restarts), and over seeds against the Young/Daly
// first-order model: goodput near the model's and best near sqrt(2 * delta * M).
#include "sim/run/resilience.hpp"

#include <catch2/catch.hpp>
#include <cmath>

#include "sim/run/fault_rates.hpp"

using namespace moesim::sim::run;

namespace {

resilience_event loss(double at_s, int device) {
  resilience_event e;
  e.event.kind = fault_kind::device_loss;
  e.event.at_s = at_s;
  e.event.device = device;
  return e;
}

// Step 10 s, checkpoint after 100 s of training (10 steps) taking 20 s, restart 50 s, 1000 s.
resilience_config hand() {
  resilience_config c;
  c.run_hours = 1000.0 / 3600;
  c.checkpoint_interval_s = 100;
  c.restart_s = 50;
  return c;
}

const step_time_with no_slowdown = [](std::span<const fault_event>) { return 10.0; };

void check_sums(const resilience_report& r) {
  CHECK(r.useful_s + r.lost_work_s + r.checkpointing_s + r.restarting_s + r.unfinished_step_s ==
        Approx(r.run_s).epsilon(1e-9));
  CHECK(r.goodput == Approx(r.useful_s / r.run_s));
}

}  // namespace

TEST_CASE("without faults: 10 steps, a 20 s checkpoint, repeated") {
  const auto r = play_resilience(hand(), 20, 10, {}, no_slowdown);
  // 8 rounds of 120 s (960 s), then 4 steps: 84 steps kept.
  CHECK(r.checkpoints == 8);
  CHECK(r.steps == 84);
  CHECK(r.useful_s == Approx(840));
  CHECK(r.checkpointing_s == Approx(160));
  CHECK(r.failures == 0);
  check_sums(r);
}

TEST_CASE("a device loss while training loses the steps since the checkpoint and the step begun") {
  // Checkpoints end at 120 and 240; at 255 one step (240-250) and 5 s of the next are lost;
  // restart 255-305; then 5 rounds to 905, 9 steps to 995 and 5 s unfinished.
  const auto r = play_resilience(hand(), 20, 10, {loss(255, 3)}, no_slowdown);
  REQUIRE(r.events.size() == 1);
  const auto& e = r.events[0];
  CHECK(e.during == "training");
  CHECK(e.lost_work_s == Approx(15));
  CHECK(e.lost_steps == 1);
  CHECK(e.recovery_s == Approx(50));
  CHECK(r.failures == 1);
  CHECK(r.checkpoints == 7);
  CHECK(r.steps == 79);
  CHECK(r.useful_s == Approx(790));
  CHECK(r.lost_work_s == Approx(15));
  CHECK(r.checkpointing_s == Approx(140));
  CHECK(r.restarting_s == Approx(50));
  CHECK(r.unfinished_step_s == Approx(5));
  CHECK(r.goodput == Approx(0.79));
  check_sums(r);
}

TEST_CASE("a device loss while checkpointing abandons the checkpoint and its 10 steps") {
  // The first checkpoint (100-120) is cut at 110: 100 s of training lost, 10 s spent writing;
  // restart 110-160; rounds of 120 s end at 280, 400, ..., 1000 (7 checkpoints).
  const auto r = play_resilience(hand(), 20, 10, {loss(110, 0)}, no_slowdown);
  CHECK(r.events[0].during == "checkpointing");
  CHECK(r.events[0].lost_work_s == Approx(100));
  CHECK(r.events[0].lost_steps == 10);
  CHECK(r.checkpoints == 7);
  CHECK(r.steps == 70);
  CHECK(r.checkpointing_s == Approx(10 + 7 * 20));
  CHECK(r.unfinished_step_s == 0);
  check_sums(r);
}

TEST_CASE("a device loss while restarting restarts the restart and loses nothing more") {
  const auto r = play_resilience(hand(), 20, 10, {loss(255, 3), loss(280, 5)}, no_slowdown);
  REQUIRE(r.events.size() == 2);
  CHECK(r.events[1].during == "restarting");
  CHECK(r.events[1].lost_work_s == 0);
  CHECK(r.events[0].recovery_s == Approx(75));  // training again at 330
  CHECK(r.events[1].recovery_s == Approx(50));
  CHECK(r.restarting_s == Approx(75));
  CHECK(r.lost_work_s == Approx(15));
  check_sums(r);
}

TEST_CASE("a straggler slows the steps from the next one on") {
  resilience_event slow;
  slow.event.kind = fault_kind::straggler;
  slow.event.device = 1;
  slow.event.compute_factor = 2;
  slow.event.at_s = 55;
  std::size_t calls = 0;
  const step_time_with doubled = [&](std::span<const fault_event> active) {
    ++calls;
    REQUIRE(active.size() == 1);
    CHECK(active[0].at_s == 0);
    return 20.0;
  };
  // Steps end at 10..60 (6, the one begun at 50 keeps 10 s), then 20 s each: 2 more to 100
  // (100 s trained), checkpoint to 120; then rounds of 5 steps + checkpoint (120 s) to 960 and
  // 2 steps to 1000.
  const auto r = play_resilience(hand(), 20, 10, {slow}, doubled);
  CHECK(calls == 1);
  CHECK(r.events[0].step_time_after_s == 20);
  CHECK(r.checkpoints == 8);
  CHECK(r.steps == 8 + 7 * 5 + 2);
  CHECK(r.useful_s == Approx(840));
  CHECK(r.unfinished_step_s == 0);
  check_sums(r);
}

TEST_CASE("over seeds the goodput follows Young/Daly and peaks near sqrt(2 delta M)") {
  // 100 devices at 200 h each: M = 2 h = 7200 s; delta 60 s, R 120 s; step 5 s; 300 h runs.
  const double delta = 60;
  const double restart = 120;
  fault_event item;
  item.kind = fault_kind::device_loss;
  item.mtbf_h = 200;
  const fault_event items[] = {item};
  fault_targets targets;
  targets.devices = 100;
  const double m = 7200;
  const double optimum = std::sqrt(2 * delta * m);  // 929.5 s
  const double factors[] = {0.25, 0.5, 1, 2, 4};
  double mean[5] = {};
  const int seeds = 8;
  for (int seed = 1; seed <= seeds; ++seed) {
    resilience_config c;
    c.run_hours = 300;
    c.restart_s = restart;
    std::vector<resilience_event> events;
    for (const auto& t :
         expand_faults(items, targets, static_cast<std::uint64_t>(seed), c.run_hours * 3600)) {
      resilience_event e;
      e.event = t.event;
      events.push_back(e);
    }
    for (int k = 0; k < 5; ++k) {
      c.checkpoint_interval_s = optimum * factors[k];
      const auto r = play_resilience(c, delta, 5, events, no_slowdown);
      check_sums(r);
      mean[k] += r.goodput / seeds;
    }
  }
  int best = 0;
  for (int k = 1; k < 5; ++k) best = mean[k] > mean[best] ? k : best;
  CHECK(best >= 1);  // the best interval is within a factor 2 of the optimum
  CHECK(best <= 3);
  CHECK(mean[2] > mean[0]);
  CHECK(mean[2] > mean[4]);
  for (int k = 1; k <= 2; ++k) {
    const young_daly_model model = young_daly(m, optimum * factors[k], delta, restart);
    CHECK(model.optimal_interval_s == Approx(optimum));
    INFO("interval " << optimum * factors[k] << " s: simulated " << mean[k] << ", model "
                     << model.goodput);
    CHECK(std::abs(mean[k] - model.goodput) < 0.01);
  }
}
