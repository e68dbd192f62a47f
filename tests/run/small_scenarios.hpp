#pragma once
// Small scenarios that several sim/run tests build on.
#include <string>

#include "sim/io/scenario_loader.hpp"

namespace moesim::test_scenarios {

/// DeepSeek-V3 decode on two 8xH800 nodes with EP16, 256 sampled tokens at hidden size 32;
/// `extra` YAML is appended (e.g. a moe: block).
inline sim::run::scenario_set deepseek_ep16(const std::string& extra = "") {
  return io::load_scenario_text(R"(
name: t
seed: 5
model: {preset: deepseek-v3}
cluster: {preset: dgx-h800, nodes: 2}
parallelism: {ep: 16}
sampling: {tokens_per_step: 256, math_hidden: 32}
workload: {kind: decode, batch_per_device: 32, context: 512, steps: 2, micro_batches: 2}
)" + extra,
                                "test.yaml");
}

}  // namespace moesim::test_scenarios
