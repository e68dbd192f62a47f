#include "models/eigen_setup.hpp"

#include <Eigen/Core>
#include <mutex>

namespace moesim::models::detail {

void fix_eigen_blocking() {
  // One flag for the process: Eigen keeps the cache sizes in function-local statics, so setting
  // them more than once would race with products running on other threads.
  static std::once_flag once;
  std::call_once(once, [] { Eigen::setCpuCacheSizes(32 * 1024, 1024 * 1024, 8 * 1024 * 1024); });
}

}  // namespace moesim::models::detail
