#include "sim/run/simulate.hpp"

#include "sim/run/step.hpp"

namespace moesim::sim::run {

run_result simulate(const scenario& s, trace_recorder& trace, const run_options& opt) {
  return simulate_steps(s, trace, opt.threads);
}

}  // namespace moesim::sim::run
