#pragma once
// A collective_spec in one call, for the collective tests.
#include "sim/net/collectives.hpp"

namespace moesim::sim::net::test {

inline collective_spec spec_of(collective_op op, double bytes,
                               collective_algorithm a = collective_algorithm::automatic) {
  collective_spec s;
  s.op = op;
  s.bytes = bytes;
  s.algorithm = a;
  return s;
}

}  // namespace moesim::sim::net::test
