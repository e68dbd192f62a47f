#include "sim/run/simulate.hpp"

#include <stdexcept>

#include "sim/run/inference.hpp"

namespace moesim::sim::run {

run_result simulate(const scenario& s, trace_recorder& trace) {
  switch (s.workload.kind) {
    case workload_kind::decode:
    case workload_kind::prefill:
      return simulate_inference(s, trace);
    case workload_kind::train:
      break;
  }
  throw std::invalid_argument(
      "workload: kind 'train' is not simulated yet (issue 5 adds training steps); use decode "
      "or prefill");
}

}  // namespace moesim::sim::run
