#pragma once
// The expert exchange's kinds, on their own so that a serving role (sim/serve/request_spec.hpp)
// can name the exchange its instances run without the rest of the run's configuration.
#include <cstdint>

namespace moesim::sim::run {

/// What the expert exchange (dispatch to the experts, combine back) carries per token.
enum class exchange_kind : std::uint8_t {
  /// One copy per (token, expert) each way: all-to-all dispatchers (Megatron-Core's alltoall
  /// token dispatcher, GShard, Tutel).
  per_copy,
  /// One copy per (token, EP rank hosting at least one of its experts); the rank sums its
  /// experts' weighted outputs and sends one vector back: DeepEP's normal kernels (Megatron-
  /// Core's flex dispatcher) inside one node; across nodes a token still travels once per
  /// destination rank.
  per_rank,
  /// per_rank inside a node; to another node once over the scale-out network (to the rank at
  /// the same position there), which forwards it over NVLink once per rank that needs it, and
  /// the reverse for the combine (DeepEP's normal kernels across nodes, DeepSeek-V3 s3.2.2).
  /// Both stages run at once, as DeepEP pipelines them in chunks. GPU clusters only.
  hierarchical
};

}  // namespace moesim::sim::run
