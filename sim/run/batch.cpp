#include "sim/run/batch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace moesim::sim::run {

batch_shape batch_of(const scenario& s) {
  const workload_config& w = s.workload;
  const parallel_config& p = s.parallelism;
  const double context = std::max<std::uint32_t>(w.context, 1);
  const double devices = static_cast<double>(p.tp) * p.ep * p.dp * p.pp;
  batch_shape b;
  if (w.kind == workload_kind::train) {
    b.replica_sequences = w.batch_per_device;
    b.pass_sequences = w.batch_per_device;
    b.pass_tokens = b.pass_sequences * context;
    b.step_tokens = b.pass_tokens * w.micro_batches * p.ep * p.dp;
    return b;
  }
  const double per_token = w.kind == workload_kind::prefill ? context : 1;
  b.replica_sequences = static_cast<double>(w.batch_per_device) * p.tp * p.pp;
  b.pass_sequences = b.replica_sequences / w.micro_batches;
  b.pass_tokens = b.pass_sequences * per_token;
  b.step_tokens = static_cast<double>(w.batch_per_device) * devices * per_token;
  return b;
}

void check_batch(const scenario& s) {
  const workload_config& w = s.workload;
  const parallel_config& p = s.parallelism;
  if (w.kind == workload_kind::train) return;
  const std::uint64_t sequences = std::uint64_t{w.batch_per_device} * p.tp * p.pp;
  if (sequences % w.micro_batches != 0) {
    throw std::invalid_argument(fmt::format(
        "workload.micro_batches: {} must divide the {} sequences of a data-parallel rank "
        "(batch_per_device {} x tp {} x pp {})",
        w.micro_batches, sequences, w.batch_per_device, p.tp, p.pp));
  }
}

}  // namespace moesim::sim::run
