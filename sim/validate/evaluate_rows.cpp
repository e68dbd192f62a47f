// The validation rows simulated on a pool of threads (calibration.hpp, evaluate_rows).
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sim/validate/calibration.hpp"

namespace moesim::validate {

std::vector<calibration_result> evaluate_rows(const std::vector<const calibration_row*>& rows,
                                              int jobs) {
  if (jobs < 1) {
    throw std::invalid_argument("evaluate_rows: jobs must be at least 1, got " +
                                std::to_string(jobs));
  }
  // Each slot is written by the one thread that took its row, and read after every join.
  std::vector<std::optional<calibration_result>> done(rows.size());
  std::vector<std::exception_ptr> errors(rows.size());
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    for (std::size_t i = next++; i < rows.size(); i = next++) {
      try {
        done[i] = evaluate(*rows[i]);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  const auto threads = std::min(static_cast<std::size_t>(jobs), rows.size());
  if (threads <= 1) {
    work();
  } else {
    std::vector<std::jthread> pool;
    pool.reserve(threads);
    for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(work);
  }  // the jthreads join here
  std::vector<calibration_result> results;
  results.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (errors[i]) std::rethrow_exception(errors[i]);
    results.push_back(*done[i]);
  }
  return results;
}

}  // namespace moesim::validate
