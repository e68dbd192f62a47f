// Fixed-batch inference: the scenario's batch, split into micro-batches, goes forward through
// the pipeline stages; in decode each step generates one token per sequence and a micro-batch's
// next step starts when its previous one has left the last stage (pipeline_run.hpp).
// `workload.overlap` runs two micro-batches of a stage at once, so one's all-to-all hides under
// the other's compute (DeepSeek's two-batch overlap).
#include "sim/run/batch.hpp"
#include "sim/run/drivers.hpp"
#include "sim/run/pipeline_run.hpp"

namespace moesim::sim::run {

run_result simulate_fixed_batch(const scenario& s, trace_recorder& trace, const run_options& opt) {
  check_batch(s);
  pipeline_run run(s, trace, opt, /*training=*/false);
  return run.run(forward_only);
}

}  // namespace moesim::sim::run
