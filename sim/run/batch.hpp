#pragma once
// The batch, defined once for everything that sizes work or memory by it (the step's passes,
// the memory check, the throughput figures).
//
// `workload.batch_per_device` means the same load per device in every layout, so strategies
// compare at equal work per GPU or chip:
//  - decode and prefill: sequences per device. A model replica is one data-parallel rank of
//    attention, the tp x pp devices that together hold one copy of the attention weights (EP
//    ranks are attention replicas of their own). It carries batch_per_device x tp x pp
//    sequences, split evenly into workload.micro_batches passes. Every device of the replica
//    holds, for its pipeline stage's layers, the KV cache of all of them, split over the KV heads
//    by TP (never MLA's shared latent). Under TP8 at batch 256 a replica serves 2048 sequences.
//  - train: Megatron's micro-batch size b of one data-parallel rank; context is the sequence
//    length; a step runs micro_batches of them on each of the ep x dp attention replicas.
#include <cstdint>

#include "sim/run/scenario.hpp"

namespace moesim::sim::run {

struct batch_shape {
  /// Sequences whose state (KV cache, activations) the devices of one replica hold.
  double replica_sequences = 0;
  /// Sequences of one pass (micro-batch) through a replica.
  double pass_sequences = 0;
  /// Tokens of one pass: pass_sequences x (1 in decode, the context in prefill and training).
  double pass_tokens = 0;
  /// Tokens the whole cluster processes per step (generated in decode, prompt tokens in
  /// prefill, trained in training).
  double step_tokens = 0;
};

/// The batch of scenario `s`; O(1). Inference requires micro_batches to divide the replica's
/// sequences (check_batch).
[[nodiscard]] batch_shape batch_of(const scenario& s);

/// Throws std::invalid_argument when an inference scenario's micro_batches does not divide the
/// sequences of a replica.
void check_batch(const scenario& s);

}  // namespace moesim::sim::run
