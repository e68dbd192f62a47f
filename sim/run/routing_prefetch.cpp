#include "sim/run/routing_prefetch.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace moesim::sim::run {

routing_prefetch::routing_prefetch(routing_sampler& sampler, routing_key_space keys, int workers,
                                   std::size_t window)
    : sampler_(sampler), keys_(std::move(keys)), window_(std::max<std::size_t>(window, 1)) {
  for (std::size_t i = 0; i < keys_.layers.size(); ++i) {
    const auto layer = static_cast<std::size_t>(keys_.layers[i]);
    if (layer >= ordinal_.size()) ordinal_.resize(layer + 1, -1);
    ordinal_[layer] = static_cast<int>(i);
  }
  items_.resize(static_cast<std::size_t>(keys_.replicas) * keys_.steps * keys_.micro_batches *
                keys_.layers.size());
  if (!sampler_.independent()) workers = 0;  // bias balancing chains the routings of a layer
  for (int w = 0; w < workers && !items_.empty(); ++w) workers_.emplace_back([this] { work(); });
}

routing_prefetch::~routing_prefetch() {
  {
    const std::scoped_lock lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
}  // the jthreads join here, after their current routing

std::size_t routing_prefetch::index_of(int replica, int pass, int layer) const {
  const int ord = layer >= 0 && static_cast<std::size_t>(layer) < ordinal_.size()
                      ? ordinal_[static_cast<std::size_t>(layer)]
                      : -1;
  const int step = pass / keys_.micro_batches;
  if (ord < 0 || replica < 0 || replica >= keys_.replicas || pass < 0 || step >= keys_.steps) {
    throw std::logic_error("routing_prefetch: no routing (" + std::to_string(replica) + ", " +
                           std::to_string(pass) + ", " + std::to_string(layer) + ") in the run");
  }
  const auto layers = keys_.layers.size();
  return ((static_cast<std::size_t>(step) * layers + static_cast<std::size_t>(ord)) *
              static_cast<std::size_t>(keys_.micro_batches) +
          static_cast<std::size_t>(pass % keys_.micro_batches)) *
             static_cast<std::size_t>(keys_.replicas) +
         static_cast<std::size_t>(replica);
}

void routing_prefetch::compute(std::size_t i, int threads) {
  const auto replicas = static_cast<std::size_t>(keys_.replicas);
  const auto mbs = static_cast<std::size_t>(keys_.micro_batches);
  const auto layers = keys_.layers.size();
  const auto replica = static_cast<int>(i % replicas);
  std::size_t rest = i / replicas;
  const auto micro_batch = static_cast<int>(rest % mbs);
  rest /= mbs;
  const int layer = keys_.layers[rest % layers];
  const auto step = static_cast<int>(rest / layers);
  item& it = items_[i];
  try {
    it.result = std::make_unique<layer_routing>(
        sampler_.route(replica, step * keys_.micro_batches + micro_batch, layer, threads));
  } catch (...) {
    it.error = std::current_exception();
  }
}

void routing_prefetch::work() {
  std::unique_lock lock(mutex_);
  std::size_t in_flight = 0;  // this worker's claim (0 or 1), counted against the window
  for (;;) {
    changed_.wait(lock, [&] { return stop_ || waiting_ + in_flight < window_; });
    while (next_ < items_.size() && items_[next_].st != state::pending) ++next_;
    if (stop_ || next_ == items_.size()) return;
    const std::size_t i = next_++;
    items_[i].st = state::running;
    in_flight = 1;
    lock.unlock();
    compute(i, 1);
    lock.lock();
    items_[i].st = state::done;
    ++waiting_;
    in_flight = 0;
    changed_.notify_all();
  }
}

layer_routing routing_prefetch::take(int replica, int pass, int layer) {
  const std::size_t i = index_of(replica, pass, layer);
  std::unique_lock lock(mutex_);
  item& it = items_[i];
  if (it.st == state::taken) throw std::logic_error("routing_prefetch: routing taken twice");
  // While a worker computes this one, compute the next routing nobody has started rather than
  // wait: the caller's core does routing maths too, and the wait is over by then.
  while (it.st == state::running) {
    while (next_ < items_.size() && items_[next_].st != state::pending) ++next_;
    if (next_ == items_.size() || waiting_ + 1 >= window_) break;
    const std::size_t other = next_++;
    items_[other].st = state::running;
    lock.unlock();
    compute(other, 1);
    lock.lock();
    items_[other].st = state::done;
    ++waiting_;
    changed_.notify_all();
  }
  if (it.st == state::pending) {
    it.st = state::running;
    lock.unlock();
    // The workers keep the other cores busy; without them the sampler's own threads help.
    compute(i, workers_.empty() ? 0 : 1);
    lock.lock();
  } else {
    changed_.wait(lock, [&] { return it.st == state::done; });
    --waiting_;
  }
  it.st = state::taken;
  changed_.notify_all();
  if (it.error) std::rethrow_exception(it.error);
  layer_routing out = std::move(*it.result);
  it.result.reset();
  return out;
}

}  // namespace moesim::sim::run
