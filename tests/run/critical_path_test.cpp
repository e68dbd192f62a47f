// The critical path by hand: categories, idle gaps and the pipeline bubble.
#include "sim/run/critical_path.hpp"

#include <catch2/catch.hpp>

using namespace moesim::sim;
using namespace moesim::sim::run;

namespace {
double get(const breakdown& b, const std::string& k) {
  for (const auto& [name, v] : b) {
    if (name == k) return v;
  }
  return -1;
}
}  // namespace

TEST_CASE("a wait for another stage is pipeline bubble, the walk stays on the last stage") {
  op_log log;
  const time_ps us = ps_per_us;
  // Stage 0: attention [0, 10). Stage 1: experts [10, 30) after it. Stage 0 resumes with
  // a dispatch at [35, 40) after stage 1's work (foreign) and its own attention (own).
  const op_log::op_id a = log.add(category::attention, 0, 10 * us, {}, 0);
  const op_log::op_id deps_b[] = {a};
  const op_log::op_id b = log.add(category::expert_compute, 10 * us, 30 * us, deps_b, 1);
  const op_log::op_id deps_c[] = {a, b};
  log.add(category::dispatch, 35 * us, 40 * us, deps_c, 0);
  const breakdown br = log.critical_path();
  // dispatch 5 us; the wait from a's end (10) to 35 is bubble (25 us); attention 10 us.
  CHECK(get(br, "dispatch") == Approx(5e-6));
  CHECK(get(br, "pipeline_bubble") == Approx(25e-6));
  CHECK(get(br, "attention") == Approx(10e-6));
  CHECK(get(br, "expert_compute") == 0);
  double sum = 0;
  for (const auto& [k, v] : br) sum += v;
  CHECK(sum == Approx(40e-6));
}

TEST_CASE("gaps after an own dependency are idle") {
  op_log log;
  const op_log::op_id a = log.add(category::router, 0, 4, {}, 0);
  const op_log::op_id deps[] = {a};
  log.add(category::combine, 10, 12, deps, 0);
  const breakdown br = log.critical_path();
  CHECK(get(br, "idle") == Approx(seconds(6)));
  CHECK(get(br, "pipeline_bubble") == 0);
}
