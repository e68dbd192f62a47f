#pragma once
// The KV cache of a finished prefill, sent from the prefill instance's devices to the decode
// instance's devices (prefill/decode disaggregation).
//
// What moves: the prompt's KV over every layer, prompt tokens x models::kv_cache_bytes_per_token
// in the KV precision. Where it sits: the request ran on one attention-DP (EP) rank of the
// prefill instance, whose TP group holds it split by KV heads (k = min(tp, kv_heads) slices,
// rank t holding slice t / (tp / k), as Megatron shards heads) or, for MLA, whole on every TP
// rank (the latent is not split); it
// goes to one EP rank of the decode instance, whose TP group needs it split the same way.
// How it is spread: the KV is cut into lcm(source slices, destination slices) equal pieces; each
// destination TP rank receives the pieces it needs, each from the source rank holding that
// piece (among a piece's tp / k replicas, the one at index t % replicas for destination rank
// t, so replicas share the sending). One flow per (source, destination) pair, its pieces summed:
// with tp 1 on both sides, a single flow of all the bytes; MLA to a decode TP group of t ranks
// sends the whole latent t times (each rank keeps a full copy).
#include <cstdint>
#include <vector>

#include "models/model_spec.hpp"
#include "sim/net/network.hpp"
#include "sim/run/machine.hpp"

namespace moesim::sim::run {

/// Bytes of the KV cache of `tokens` tokens of model m in precision kv (all layers, one copy).
[[nodiscard]] double kv_transfer_bytes(const models::model_spec& m, models::weight_dtype kv,
                                       std::int64_t tokens);

/// The flows that move `bytes` of KV (kv_transfer_bytes) of model m from EP rank `from_rank` of
/// machine `from` to EP rank `to_rank` of machine `to` (replica 0, stage 0 of each), as cluster
/// device ids, in destination then source order; `tag` is their ECMP tag. O(tp of both).
[[nodiscard]] std::vector<net::flow_request> kv_transfer_flows(const models::model_spec& m,
                                                               const machine& from, int from_rank,
                                                               const machine& to, int to_rank,
                                                               double bytes, std::uint64_t tag);

}  // namespace moesim::sim::run
