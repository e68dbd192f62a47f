#include "sim/run/kv_transfer.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <utility>

#include "models/model_params.hpp"

namespace moesim::sim::run {

namespace {

/// How many slices a TP group of `tp` ranks holds the KV in.
int kv_slices(const models::model_spec& m, int tp) {
  if (m.attention.kind == models::attention_kind::mla) return 1;
  return std::max(1, std::min(tp, static_cast<int>(m.attention.kv_heads)));
}

}  // namespace

double kv_transfer_bytes(const models::model_spec& m, models::weight_dtype kv,
                         std::int64_t tokens) {
  return models::kv_cache_bytes_per_token(m, kv) * static_cast<double>(tokens);
}

std::vector<net::flow_request> kv_transfer_flows(const models::model_spec& m, const machine& from,
                                                 int from_rank, const machine& to, int to_rank,
                                                 double bytes, std::uint64_t tag) {
  const int tp_from = from.layout().config().tp;
  const int tp_to = to.layout().config().tp;
  const int k_from = kv_slices(m, tp_from);
  const int k_to = kv_slices(m, tp_to);
  const int pieces = std::lcm(k_from, k_to);
  const double piece_bytes = bytes / pieces;
  std::vector<net::flow_request> out;
  for (int t = 0; t < tp_to; ++t) {
    // As Megatron shards KV heads: rank t holds slice t / (tp / k), replicated on tp / k
    // adjacent ranks. Destination rank t needs pieces [slice * pieces / k_to, + pieces / k_to).
    const int slice = t / (tp_to / k_to);
    const int replicas = tp_from / k_from;
    std::map<int, double> by_source;  // source TP rank -> bytes, in rank order
    for (int j = slice * (pieces / k_to); j < (slice + 1) * (pieces / k_to); ++j) {
      const int source_slice = j / (pieces / k_from);
      const int source = source_slice * replicas + t % replicas;
      by_source[source] += piece_bytes;
    }
    for (const auto& [source, b] : by_source) {
      out.push_back({from.device(0, 0, from_rank, source), to.device(0, 0, to_rank, t), b, tag});
    }
  }
  return out;
}

}  // namespace moesim::sim::run
