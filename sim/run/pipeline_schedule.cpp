#include "sim/run/pipeline_schedule.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace moesim::sim::run {

namespace {

pipeline_task forward_at(const schedule_options& o, int k) {
  const int group = o.pp * o.vp;
  return {pass_kind::forward, (k / group) * o.pp + k % o.pp, (k / o.pp) % o.vp};
}

pipeline_task backward_at(const schedule_options& o, int k) {
  pipeline_task t = forward_at(o, k);
  t.kind = pass_kind::backward;
  t.chunk = o.vp - 1 - t.chunk;
  return t;
}

void check(const schedule_options& o) {
  if (o.pp < 1 || o.vp < 1 || o.micro_batches < 1) {
    throw std::invalid_argument("pipeline: pp, vp and micro_batches must be >= 1");
  }
  if (o.vp > 1 && o.micro_batches % o.pp != 0) {
    throw std::invalid_argument("pipeline: the interleaved schedule (vp " + std::to_string(o.vp) +
                                ") needs micro_batches (" + std::to_string(o.micro_batches) +
                                ") divisible by pp (" + std::to_string(o.pp) + ")");
  }
}

}  // namespace

std::vector<pipeline_slot> one_f_one_b(const schedule_options& o, int stage) {
  check(o);
  const int total = o.micro_batches * o.vp;
  // Overlap pairs a forward with the backward of an earlier micro-batch, so one more forward
  // is in flight (as DualPipe keeps extra activations).
  const int warmup =
      std::min(total, (o.vp == 1 ? o.pp - stage - 1 : (o.pp - stage - 1) * 2 + (o.vp - 1) * o.pp) +
                          (o.overlap ? 1 : 0));
  std::vector<pipeline_slot> slots;
  for (int k = 0; k < warmup; ++k) slots.push_back({{forward_at(o, k)}, false});
  for (int i = 0; i < total - warmup; ++i) {
    const pipeline_task f = forward_at(o, warmup + i);
    const pipeline_task b = backward_at(o, i);
    if (o.overlap) {
      slots.push_back({{f, b}, true});
    } else {
      slots.push_back({{f}, true});
      slots.push_back({{b}, true});
    }
  }
  for (int k = total - warmup; k < total; ++k) slots.push_back({{backward_at(o, k)}, false});
  return slots;
}

std::vector<pipeline_slot> forward_only(const schedule_options& o, int stage) {
  (void)stage;
  check(o);
  const int total = o.micro_batches * o.vp;
  std::vector<pipeline_slot> slots;
  for (int k = 0; k < total; ++k) {
    const pipeline_task f = forward_at(o, k);
    if (o.overlap && !slots.empty() && slots.back().tasks.size() == 1 &&
        slots.back().tasks.front().chunk == f.chunk) {
      slots.back().tasks.push_back(f);
    } else {
      slots.push_back({{f}, false});
    }
  }
  return slots;
}

}  // namespace moesim::sim::run
