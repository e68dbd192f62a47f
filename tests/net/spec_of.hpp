#pragma once
// Shared by the collective tests: a collective_spec in one call, the torus link bandwidth of the
// scaling book's worked examples, and a collective's time in seconds.
#include "sim/engine/time.hpp"
#include "sim/net/collectives.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::net::test {

inline collective_spec spec_of(collective_op op, double bytes,
                               collective_algorithm a = collective_algorithm::automatic) {
  collective_spec s;
  s.op = op;
  s.bytes = bytes;
  s.algorithm = a;
  return s;
}

constexpr double GiB = 1024.0 * 1024 * 1024;
constexpr double w_one_way = 45e9;   // per link, per direction
constexpr double W = 2 * w_one_way;  // the scaling book's W: bidirectional per-link bandwidth

/// The planned and timed collective's length in seconds (simple protocol).
inline double run_s(const topo::topology& t, const collective_spec& spec,
                    timing_model model = timing_model::flow, const collective_params& p = {}) {
  const auto plan = plan_collective(t, p, spec);
  return sim::seconds(time_collective(t, p, plan, model, protocol::simple).elapsed_ps);
}

}  // namespace moesim::sim::net::test
