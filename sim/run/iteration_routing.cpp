#include "sim/run/iteration_routing.hpp"

#include <algorithm>
#include <numeric>
#include <utility>

namespace moesim::sim::run {

iteration_routing::iteration_routing(const scenario& s, std::int64_t max_tokens_per_source,
                                     const ep_nodes& nodes, routing_tally& tally, int threads,
                                     std::vector<int> moe_layers,
                                     std::vector<std::vector<int>> expert_ranks)
    : tally_(tally),
      sampler_(s, s.parallelism.ep, max_tokens_per_source, 1, nodes.node,
               std::move(expert_ranks)),
      ahead_(threads > 1 && sampler_.independent() && !moe_layers.empty()),
      layers_(std::move(moe_layers)) {
  const int top = layers_.empty() ? 0 : *std::max_element(layers_.begin(), layers_.end());
  index_of_.assign(static_cast<std::size_t>(top) + 1, -1);
  for (std::size_t i = 0; i < layers_.size(); ++i)
    index_of_[static_cast<std::size_t>(layers_[i])] = static_cast<int>(i);
  if (ahead_) worker_ = std::thread([this] { work(); });
}

iteration_routing::~iteration_routing() {
  if (!worker_.joinable()) return;
  {
    const std::scoped_lock lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void iteration_routing::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    job_kind kind = job_kind::count;
    std::size_t index = 0;
    changed_.wait(lock, [&] { return stop_ || claim(kind, index); });
    if (stop_) return;
    run(lock, kind, index);
  }
}

bool iteration_routing::claim(job_kind& kind, std::size_t& index) {
  // The next iteration's decisions first (its pass waits for all of them), then this one's
  // counts from the last layer down: the pass counts from the first layer up what is still
  // free when it gets there, so the two meet once per iteration at most.
  for (std::size_t i = 0; i < next_.layers.size(); ++i) {
    layer_job& j = next_.layers[i];
    if (j.decide == job_state::free) {
      j.decide = job_state::claimed;
      kind = job_kind::decide;
      index = i;
      return true;
    }
  }
  for (std::size_t i = current_.layers.size(); i-- > 0;) {
    layer_job& j = current_.layers[i];
    if (j.count == job_state::free) {
      j.count = job_state::claimed;
      kind = job_kind::count;
      index = i;
      return true;
    }
  }
  return false;
}

void iteration_routing::run(std::unique_lock<std::mutex>& lock, job_kind kind, std::size_t index) {
  // The job's inputs stay put while it is claimed: an iteration's jobs are replaced only when
  // none of them is.
  iteration_jobs& it = kind == job_kind::count ? current_ : next_;
  layer_job& j = it.layers[index];
  const int layer = layers_[index];
  lock.unlock();
  std::shared_ptr<const layer_routing> counted;
  sampled_decisions decided;
  std::exception_ptr failure;
  try {
    if (kind == job_kind::count) {
      counted =
          std::make_shared<const layer_routing>(sampler_.count(j.decisions, it.per_source, 1));
    } else {
      decided = sampler_.decide(0, it.pass, layer, it.sample, 1);
    }
  } catch (...) {
    failure = std::current_exception();
  }
  lock.lock();
  j.failure = failure;
  if (kind == job_kind::count) {
    j.counted = std::move(counted);
    j.count = job_state::done;
  } else {
    j.decisions = std::move(decided);
    j.decide = job_state::done;
  }
  changed_.notify_all();
}

void iteration_routing::wait_unclaimed(std::unique_lock<std::mutex>& lock) {
  const auto claimed = [](const iteration_jobs& it) {
    return std::any_of(it.layers.begin(), it.layers.end(), [](const layer_job& j) {
      return j.decide == job_state::claimed || j.count == job_state::claimed;
    });
  };
  changed_.wait(lock, [&] { return !claimed(current_) && !claimed(next_); });
}

void iteration_routing::decide_all(std::unique_lock<std::mutex>& lock) {
  for (std::size_t i = 0; i < next_.layers.size(); ++i) {
    if (next_.layers[i].decide != job_state::free) continue;
    next_.layers[i].decide = job_state::claimed;
    run(lock, job_kind::decide, i);
  }
  changed_.wait(lock, [&] {
    return std::all_of(next_.layers.begin(), next_.layers.end(),
                       [](const layer_job& j) { return j.decide == job_state::done; });
  });
  for (const layer_job& j : next_.layers) {
    if (j.failure) std::rethrow_exception(j.failure);
  }
}

void iteration_routing::begin_iteration(int pass, std::vector<std::int64_t> tokens_per_source) {
  sampler_.check_counts(tokens_per_source);
  const int sample = sampler_.sample_for(
      std::accumulate(tokens_per_source.begin(), tokens_per_source.end(), std::int64_t{0}));
  const auto fresh = [&](int p) {
    iteration_jobs it;
    it.pass = p;
    it.sample = sample;
    it.layers.resize(layers_.size());
    return it;
  };
  if (!ahead_) {
    current_ = fresh(pass);
    current_.per_source = std::move(tokens_per_source);
    peeked_.assign(layers_.size(), nullptr);
    return;
  }
  std::unique_lock lock(mutex_);
  // 1. This iteration's decisions: the worker's if it guessed the sample, made now where not.
  wait_unclaimed(lock);
  if (next_.pass != pass || next_.sample != sample) next_ = fresh(pass);
  // (Until next_ is current_, the worker finds no counts to claim.)
  current_.layers.clear();
  decide_all(lock);
  // 2. Its counts and the next iteration's decisions are the worker's to start.
  current_ = std::move(next_);
  current_.per_source = std::move(tokens_per_source);
  next_ = fresh(pass + 1);
  lock.unlock();
  changed_.notify_all();
}

std::shared_ptr<const layer_routing> iteration_routing::routing(int, int pass, int layer, bool) {
  std::shared_ptr<const layer_routing> lr = peek(pass, layer);
  tally_.record(layer, *lr);
  return lr;
}

std::shared_ptr<const layer_routing> iteration_routing::peek(int pass, int layer) {
  const int index = static_cast<std::size_t>(layer) < index_of_.size()
                        ? index_of_[static_cast<std::size_t>(layer)]
                        : -1;
  std::shared_ptr<const layer_routing> lr;
  if (!ahead_ && pass == current_.pass && index >= 0 &&
      static_cast<std::size_t>(index) < peeked_.size()) {
    // Made once per iteration and layer: routing() after peek() takes the same.
    auto& slot = peeked_[static_cast<std::size_t>(index)];
    if (!slot) {
      slot = std::make_shared<const layer_routing>(sampler_.count(
          sampler_.decide(0, pass, layer, current_.sample, 1), current_.per_source, 1));
    }
    lr = slot;
  } else if (!ahead_ || pass != current_.pass || index < 0) {
    lr = std::make_shared<const layer_routing>(sampler_.count(
        sampler_.decide(0, pass, layer, current_.sample, 1), current_.per_source, 1));
  } else {
    const auto at = static_cast<std::size_t>(index);
    std::unique_lock lock(mutex_);
    layer_job& j = current_.layers[at];
    if (j.count == job_state::free) {
      j.count = job_state::claimed;
      run(lock, job_kind::count, at);
    }
    changed_.wait(lock, [&] { return j.count == job_state::done; });
    if (j.failure) std::rethrow_exception(j.failure);
    lr = j.counted;
  }
  return lr;
}

}  // namespace moesim::sim::run
