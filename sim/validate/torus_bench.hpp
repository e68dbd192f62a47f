#pragma once
// The torus collectives of the calibration table (calibration.cpp, rows torus-allgather,
// torus-reducescatter, torus-allreduce and torus-alltoall): each builds a TPU preset's slice,
// times one collective alone under the exact flow model (net_bench.hpp) and returns the time of
// one call in microseconds. The cases are those of Austin et al., "How to Scale Your Model",
// sharding.md, which the rows compare against (a measured profile for the all-gather, the
// book's closed forms for the others).
//
// Cost: one plan and one flow-model run of a 32- or 64-chip slice each (milliseconds).
namespace moesim::validate {

/// AllGather over y of a v5e 8x4 mesh (no wraparound on y: v5e wraps only 16-chip axes), 32 MiB
/// gathered per chip: the book's Pop Quiz 2 (E = 2048, F = 8192, bf16), 8 groups of 4 at once.
[[nodiscard]] double torus_allgather_v5e_mesh_us();

/// ReduceScatter of 1 GiB per chip over all three axes of a v5p 4x4x4 cube (wraparound).
[[nodiscard]] double torus_reducescatter_v5p_cube_us();

/// AllReduce of 1 GiB per chip over all three axes of a v5p 4x4x4 cube (wraparound).
[[nodiscard]] double torus_allreduce_v5p_cube_us();

/// AllToAll of 1 GiB per chip on the x rings of a v5p 4x4x4 cube (16 bidirectional rings of 4).
[[nodiscard]] double torus_alltoall_v5p_ring_us();

}  // namespace moesim::validate
