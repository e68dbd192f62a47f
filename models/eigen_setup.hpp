#pragma once
// Eigen's matrix-product blocking (the panel sizes mc/kc/nc of its GEMM) is derived from the
// CPU cache sizes it detects at run time. The blocking decides the order in which a dot product
// is summed, so two machines with different caches would compute different float results, and
// golden files (compared byte for byte on any x86-64 machine) would break. fix_eigen_blocking()
// pins the cache sizes Eigen plans with to fixed values (32 KiB L1, 1 MiB L2, 8 MiB L3), once per
// process.
//
// Every function in models/ that runs an Eigen product calls it on entry; the call is cheap
// after the first (a std::call_once flag). Thread-safe.

namespace moesim::models {
namespace detail {
void fix_eigen_blocking();
}  // namespace detail
using detail::fix_eigen_blocking;
}  // namespace moesim::models
