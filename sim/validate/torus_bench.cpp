#include "sim/validate/torus_bench.hpp"

#include <string>
#include <vector>

#include "sim/validate/net_bench.hpp"

namespace moesim::validate {

namespace {

using sim::net::collective_op;

constexpr double GiB = 1024.0 * 1024 * 1024;

double time_us(const std::string& preset, const std::string& shape, collective_op op, double bytes,
               std::vector<int> axes) {
  const auto c = load_bench_cluster(preset, 0, shape);
  sim::net::collective_spec spec;
  spec.op = op;
  spec.bytes = bytes;
  spec.axes = std::move(axes);
  return bench_collective(c, spec, sim::net::timing_model::flow).time_s * 1e6;
}

}  // namespace

double torus_allgather_v5e_mesh_us() {
  return time_us("tpu-v5e", "8x4", collective_op::all_gather, 2048.0 * 8192 * 2, {1});
}

double torus_reducescatter_v5p_cube_us() {
  return time_us("tpu-v5p", "4x4x4", collective_op::reduce_scatter, GiB, {});
}

double torus_allreduce_v5p_cube_us() {
  return time_us("tpu-v5p", "4x4x4", collective_op::all_reduce, GiB, {});
}

double torus_alltoall_v5p_ring_us() {
  return time_us("tpu-v5p", "4x4x4", collective_op::all_to_all, GiB, {0});
}

}  // namespace moesim::validate
