// Layout numbering and groups, and the pipeline schedules, checked by hand.
#include "sim/run/layout.hpp"

#include <catch2/catch.hpp>
#include <set>

#include "sim/run/pipeline_schedule.hpp"

using namespace moesim::sim::run;

TEST_CASE("layout numbers devices by the order, innermost first") {
  parallel_config p;
  p.tp = 2;
  p.ep = 4;
  p.dp = 2;
  p.pp = 3;
  const layout l(p);
  CHECK(l.devices() == 48);
  // tp-ep-dp-pp: device = tp + 2 * (ep + 4 * (dp + 2 * pp))
  CHECK(l.device({1, 2, 1, 2}) == 1 + 2 * (2 + 4 * (1 + 2 * 2)));
  for (int d = 0; d < l.devices(); ++d) CHECK(l.device(l.of(d)) == d);
  CHECK(l.tp_group(0, 0, 0) == std::vector<int>{0, 1});
  CHECK(l.ep_group(1, 0, 0) == std::vector<int>{1, 3, 5, 7});
  CHECK(l.expert_dp_group(0, 0, 1) == std::vector<int>{16, 24});
  CHECK(l.attention_dp_group(0, 0) == std::vector<int>{0, 2, 4, 6, 8, 10, 12, 14});

  p.order = "pp-dp-ep-tp";  // pipeline innermost: stages adjacent
  const layout r(p);
  CHECK(r.device({0, 0, 0, 1}) == 1);
  CHECK(r.device({1, 0, 0, 0}) == 24);
  for (int d = 0; d < r.devices(); ++d) CHECK(r.device(r.of(d)) == d);
}

TEST_CASE("layout refuses an order that does not name every axis once") {
  parallel_config p;
  p.order = "tp-ep-pp";
  CHECK_THROWS_WITH(layout(p),
                    "parallelism: order 'tp-ep-pp' must name tp, ep, dp and pp once "
                    "each, innermost first (e.g. tp-ep-dp-pp), or auto");
  p.order = "tp-ep-dp-pp-tp";
  CHECK_FALSE(valid_order(p.order));
}

TEST_CASE("order auto: tp innermost, ep next, dp outermost across TPU slices") {
  const auto [gpu, gpu_rule] = auto_order(false);
  CHECK(gpu == "tp-ep-dp-pp");
  const auto [slices, slices_rule] = auto_order(true);
  CHECK(slices == "tp-ep-pp-dp");
  CHECK(valid_order(gpu));
  CHECK(valid_order(slices));
  // The rule is shown with the groups.
  parallel_config p;
  p.tp = 2;
  p.ep = 4;
  p.order = gpu;
  p.order_rule = gpu_rule;
  CHECK(layout(p).describe().front() == "order tp-ep-dp-pp (" + gpu_rule + ")");
}

namespace {
std::vector<pipeline_task> flat(const std::vector<pipeline_slot>& slots) {
  std::vector<pipeline_task> out;
  for (const auto& s : slots) out.insert(out.end(), s.tasks.begin(), s.tasks.end());
  return out;
}
constexpr auto F = pass_kind::forward;
constexpr auto B = pass_kind::backward;
}  // namespace

TEST_CASE("1F1B: warm-up forwards, alternating steady state, cool-down backwards") {
  const schedule_options o{4, 1, 6, false};
  // Stage 1 of 4: warm-up pp - 1 - 1 = 2 forwards.
  const std::vector<pipeline_task> expected{{F, 0, 0}, {F, 1, 0}, {F, 2, 0}, {B, 0, 0},
                                            {F, 3, 0}, {B, 1, 0}, {F, 4, 0}, {B, 2, 0},
                                            {F, 5, 0}, {B, 3, 0}, {B, 4, 0}, {B, 5, 0}};
  CHECK(flat(one_f_one_b(o, 1)) == expected);
  // The last stage alternates from the start.
  const auto last = flat(one_f_one_b(o, 3));
  CHECK(last[0] == pipeline_task{F, 0, 0});
  CHECK(last[1] == pipeline_task{B, 0, 0});
}

TEST_CASE("interleaved 1F1B follows Megatron's virtual micro-batch order") {
  // pp 2, vp 2, 4 micro-batches, stage 0: warm-up (2-0-1)*2 + (2-1)*2 = 4 forwards;
  // forward k runs micro-batch (k / 4) * 2 + k % 2 through chunk (k / 2) % 2.
  const schedule_options o{2, 2, 4, false};
  const auto t = flat(one_f_one_b(o, 0));
  const std::vector<pipeline_task> head{{F, 0, 0}, {F, 1, 0}, {F, 0, 1}, {F, 1, 1},
                                        {F, 2, 0}, {B, 0, 1}, {F, 3, 0}, {B, 1, 1}};
  REQUIRE(t.size() == 16);
  CHECK(std::vector<pipeline_task>(t.begin(), t.begin() + 8) == head);
  std::set<std::tuple<int, int, int>> seen;
  for (const auto& x : t) seen.insert({static_cast<int>(x.kind), x.micro_batch, x.chunk});
  CHECK(seen.size() == 16);  // every (pass, micro-batch, chunk) exactly once
  CHECK_THROWS_WITH(one_f_one_b({2, 2, 3, false}, 0),
                    "pipeline: the interleaved schedule (vp 2) needs micro_batches (3) divisible "
                    "by pp (2)");
}

TEST_CASE("overlap pairs each steady-state forward with a backward") {
  const auto slots = one_f_one_b({4, 1, 6, true}, 1);
  int pairs = 0;
  for (const auto& s : slots) {
    if (s.tasks.size() == 2) {
      ++pairs;
      CHECK(s.tasks[0].kind == F);
      CHECK(s.tasks[1].kind == B);
      CHECK(s.steady);
    }
  }
  CHECK(pairs == 3);  // 6 micro-batches - (2 + 1) warm-up
  const auto inference = forward_only({1, 1, 4, true}, 0);
  REQUIRE(inference.size() == 2);
  CHECK(inference[0].tasks.size() == 2);
}
