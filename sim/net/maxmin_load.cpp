#include "sim/net/maxmin_load.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace moesim::sim::net {

namespace {

// Time for one link; a link with no bytes takes no time even at capacity 0.
double link_time_s(double bytes, double capacity_bytes_per_s) {
  if (bytes == 0.0) return 0.0;
  if (capacity_bytes_per_s == 0.0) return std::numeric_limits<double>::infinity();
  return bytes / capacity_bytes_per_s;
}

}  // namespace

link_load::link_load(std::span<const double> capacities_bytes_per_s)
    : capacity_(capacities_bytes_per_s.begin(), capacities_bytes_per_s.end()),
      bytes_(capacities_bytes_per_s.size(), 0.0) {
  for (std::size_t l = 0; l < capacity_.size(); ++l) {
    if (!(capacity_[l] >= 0.0 && std::isfinite(capacity_[l]))) {
      throw std::invalid_argument("link_load: capacity of link " + std::to_string(l) +
                                  " must be finite and >= 0, got " + std::to_string(capacity_[l]));
    }
  }
}

void link_load::add(std::span<const link_id> path, double bytes) {
  if (!(bytes >= 0.0 && std::isfinite(bytes))) {
    throw std::invalid_argument("link_load::add: bytes must be finite and >= 0, got " +
                                std::to_string(bytes));
  }
  for (const link_id link : path) {
    const auto l = static_cast<std::size_t>(link);
    if (l >= bytes_.size()) {
      throw std::invalid_argument("link_load::add: link " + std::to_string(l) +
                                  " does not exist (links: " + std::to_string(bytes_.size()) + ")");
    }
    bytes_[l] += bytes;
  }
}

void link_load::merge(const link_load& other) {
  if (other.bytes_.size() != bytes_.size()) {
    throw std::invalid_argument("link_load::merge: " + std::to_string(other.bytes_.size()) +
                                " links merged into a load of " + std::to_string(bytes_.size()));
  }
  for (std::size_t l = 0; l < bytes_.size(); ++l) bytes_[l] += other.bytes_[l];
}

void link_load::clear() noexcept {
  for (double& b : bytes_) b = 0.0;
}

double link_load::bytes(link_id link) const {
  const auto l = static_cast<std::size_t>(link);
  if (l >= bytes_.size()) {
    throw std::invalid_argument("link_load::bytes: link " + std::to_string(l) +
                                " does not exist (links: " + std::to_string(bytes_.size()) + ")");
  }
  return bytes_[l];
}

double link_load::bottleneck_time_s() const {
  return net::bottleneck_time_s(bytes_, capacity_);
}

std::optional<link_id> link_load::bottleneck_link() const {
  std::optional<link_id> best;
  double best_time = 0.0;
  for (std::size_t l = 0; l < bytes_.size(); ++l) {
    const double t = link_time_s(bytes_[l], capacity_[l]);
    if (bytes_[l] > 0.0 && (!best || t > best_time)) {
      best = link_id{static_cast<std::uint32_t>(l)};
      best_time = t;
    }
  }
  return best;
}

double bottleneck_time_s(std::span<const double> link_bytes,
                         std::span<const double> capacities_bytes_per_s) {
  if (link_bytes.size() != capacities_bytes_per_s.size()) {
    throw std::invalid_argument("bottleneck_time_s: " + std::to_string(link_bytes.size()) +
                                " byte totals for " +
                                std::to_string(capacities_bytes_per_s.size()) + " capacities");
  }
  double worst = 0.0;
  for (std::size_t l = 0; l < link_bytes.size(); ++l) {
    const double t = link_time_s(link_bytes[l], capacities_bytes_per_s[l]);
    if (t > worst) worst = t;
  }
  return worst;
}

}  // namespace moesim::sim::net
