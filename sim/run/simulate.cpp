#include "sim/run/simulate.hpp"

#include "sim/run/step.hpp"

namespace moesim::sim::run {

run_result simulate(const scenario& s, trace_recorder& trace) {
  return simulate_steps(s, trace);
}

}  // namespace moesim::sim::run
