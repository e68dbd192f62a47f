#include "sim/run/routing_prefetch.hpp"
#include "sim/run/routing_sampler.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>

namespace moesim::sim::run {

routing_prefetch::routing_prefetch(routing_sampler& sampler, routing_key_space keys, int workers,
                                   std::size_t window)
    : sampler_(sampler),
      keys_(std::move(keys)),
      window_(std::max<std::size_t>(window, 1)),
      chained_(!sampler.independent()) {
  for (std::size_t i = 0; i < keys_.layers.size(); ++i) {
    const auto layer = static_cast<std::size_t>(keys_.layers[i]);
    if (layer >= ordinal_.size()) ordinal_.resize(layer + 1, -1);
    ordinal_[layer] = static_cast<int>(i);
  }
  items_.resize(static_cast<std::size_t>(keys_.replicas) * keys_.steps * keys_.micro_batches *
                keys_.layers.size());
  chain_next_.assign(keys_.layers.size(), 0);
  chain_busy_.assign(keys_.layers.size(), false);
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

std::size_t routing_prefetch::chain_length() const {
  return static_cast<std::size_t>(keys_.steps) * keys_.micro_batches * keys_.replicas;
}

// Item k of layer ordinal `ord`'s chain: (step, micro-batch, replica) in lexicographic order.
std::size_t routing_prefetch::chain_item(std::size_t ord, std::size_t k) const {
  const auto per_step = static_cast<std::size_t>(keys_.micro_batches) * keys_.replicas;
  const std::size_t step = k / per_step;
  return (step * keys_.layers.size() + ord) * per_step + k % per_step;
}

std::size_t routing_prefetch::chain_of(std::size_t i) const {
  const auto per_step = static_cast<std::size_t>(keys_.micro_batches) * keys_.replicas;
  return (i / per_step) % keys_.layers.size();
}

std::optional<std::size_t> routing_prefetch::claim() {
  if (!chained_) {
    while (next_ < items_.size() && items_[next_].st != state::pending) ++next_;
    if (next_ == items_.size()) return std::nullopt;
    items_[next_].st = state::running;
    return next_++;
  }
  // The chain whose next routing comes first; a chain runs one routing at a time, in order.
  std::optional<std::size_t> best;
  std::size_t best_chain = 0;
  for (std::size_t c = 0; c < chain_next_.size(); ++c) {
    if (chain_busy_[c] || chain_next_[c] == chain_length()) continue;
    const std::size_t i = chain_item(c, chain_next_[c]);
    if (!best || i < *best) {
      best = i;
      best_chain = c;
    }
  }
  if (best) claim_chain(best_chain);
  return best;
}

std::size_t routing_prefetch::claim_chain(std::size_t c) {
  const std::size_t i = chain_item(c, chain_next_[c]++);
  chain_busy_[c] = true;
  items_[i].st = state::running;
  return i;
}

void routing_prefetch::finish(std::size_t i) {
  items_[i].st = state::done;
  if (chained_) chain_busy_[chain_of(i)] = false;
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
  for (;;) {
    std::optional<std::size_t> i;
    changed_.wait(lock, [&] {
      if (stop_) return true;
      if (waiting_ + in_flight_ >= window_) return false;
      i = claim();
      return i.has_value() || next_ == items_.size();
    });
    if (stop_ || !i) return;
    ++in_flight_;
    lock.unlock();
    compute(*i, 1);
    lock.lock();
    finish(*i);
    ++waiting_;
    --in_flight_;
    changed_.notify_all();
  }
}

layer_routing routing_prefetch::take(int replica, int pass, int layer) {
  const std::size_t i = index_of(replica, pass, layer);
  std::unique_lock lock(mutex_);
  item& it = items_[i];
  if (it.st == state::taken) throw std::logic_error("routing_prefetch: routing taken twice");
  // The workers keep the other cores busy; without them the sampler's own threads help.
  const int threads = workers_.empty() ? 0 : 1;
  bool mine = false;  // computed here, never counted as waiting
  while (it.st != state::done && !mine) {
    std::optional<std::size_t> j;
    if (it.st == state::pending) {
      if (!chained_) {
        it.st = state::running;
        j = i;
      } else if (!chain_busy_[chain_of(i)]) {
        j = claim_chain(chain_of(i));  // this one, or an earlier one of its chain
      }
    }
    // While a worker computes the one needed (or its chain), compute another routing nobody has
    // started rather than wait: the caller's core does routing maths too.
    if (!j && waiting_ + 1 < window_) j = claim();
    if (!j) {
      changed_.wait(lock);
      continue;
    }
    lock.unlock();
    compute(*j, threads);
    lock.lock();
    finish(*j);
    if (*j == i) {
      mine = true;
    } else {
      ++waiting_;
    }
    changed_.notify_all();
  }
  if (!mine) --waiting_;
  it.st = state::taken;
  changed_.notify_all();
  if (it.error) std::rethrow_exception(it.error);
  layer_routing out = std::move(*it.result);
  it.result.reset();
  return out;
}

}  // namespace moesim::sim::run
