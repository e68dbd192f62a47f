#include "sim/serve/scheduler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <limits>
#include <stdexcept>
#include <utility>

namespace moesim::serve {

std::int64_t iteration::tokens() const {
  std::int64_t n = 0;
  for (const auto& w : seqs) n += w.new_tokens;
  return n;
}

std::int64_t iteration::prefill_tokens() const {
  std::int64_t n = 0;
  for (const auto& w : seqs) n += w.prefill ? w.new_tokens : 0;
  return n;
}

std::int64_t iteration::decode_tokens() const {
  return tokens() - prefill_tokens();
}

namespace {

const scheduler_limits& checked(const scheduler_limits& l) {
  if (l.max_running < 1 || l.token_budget < 1) {
    throw std::invalid_argument(
        fmt::format("scheduler needs max_running >= 1 and token_budget >= 1, got {} and {}",
                    l.max_running, l.token_budget));
  }
  if (l.token_budget < static_cast<std::int64_t>(l.max_running)) {
    // Otherwise a full batch of decodes could not all run in one iteration (vLLM refuses it
    // too: vllm/config/scheduler.py, SchedulerConfig._verify_args).
    throw std::invalid_argument(fmt::format(
        "scheduler needs token_budget >= max_running, got {} < {}", l.token_budget, l.max_running));
  }
  if (l.kv_blocks < 1 || l.block_tokens < 1) {
    throw std::invalid_argument(
        fmt::format("scheduler needs a KV pool of at least one block of at least one token, got "
                    "{} blocks of {} tokens",
                    l.kv_blocks, l.block_tokens));
  }
  if (l.chunk_tokens < 0 || (l.chunk_tokens > 0 && !l.chunked_prefill)) {
    throw std::invalid_argument(fmt::format(
        "chunk_tokens must be >= 0 and needs chunked_prefill, got {} with chunked_prefill {}",
        l.chunk_tokens, l.chunked_prefill));
  }
  return l;
}

}  // namespace

scheduler::scheduler(const scheduler_limits& limits)
    : limits_(checked(limits)), kv_(limits.kv_blocks, limits.block_tokens) {}

std::int64_t scheduler::max_sequence_tokens() const {
  const std::int64_t kv_tokens = kv_.capacity_tokens();
  return limits_.chunked_prefill ? kv_tokens : std::min(kv_tokens, limits_.token_budget);
}

void scheduler::check(const request& r) const {
  if (r.prompt_tokens < 1 || r.output_tokens < 1 || r.cached_prompt_tokens < 0 ||
      r.cached_prompt_tokens > r.prompt_tokens) {
    throw std::invalid_argument(
        fmt::format("request {}: expected prompt >= 1, output >= 1 and 0 <= cached <= prompt "
                    "tokens, got prompt {}, output {}, cached {}",
                    r.id, r.prompt_tokens, r.output_tokens, r.cached_prompt_tokens));
  }
  const std::int64_t longest = r.prompt_tokens + r.output_tokens - 1;
  if (longest > kv_.capacity_tokens()) {
    throw std::invalid_argument(fmt::format(
        "request {} can never run: prompt {} + output {} - 1 = {} tokens of KV cache, but the "
        "pool holds {} ({} blocks of {} tokens)",
        r.id, r.prompt_tokens, r.output_tokens, longest, kv_.capacity_tokens(), kv_.total_blocks(),
        kv_.block_tokens()));
  }
  if (!limits_.chunked_prefill && longest > limits_.token_budget) {
    throw std::invalid_argument(fmt::format(
        "request {} can never run without chunked prefill: prompt {} + output {} - 1 = {} tokens "
        "may have to be computed in one iteration (after a preemption), but the token budget is "
        "{}",
        r.id, r.prompt_tokens, r.output_tokens, longest, limits_.token_budget));
  }
}

void scheduler::add(const request& r) {
  check(r);
  detail::sequence s;
  s.req = r;
  // Whole cached blocks only, and never the last prompt token (see the header).
  const std::int64_t usable = std::min(r.cached_prompt_tokens, r.prompt_tokens - 1);
  const auto bt = static_cast<std::int64_t>(limits_.block_tokens);
  s.computed = usable / bt * bt;
  waiting_.push_back(std::move(s));
}

void scheduler::add_with_kv(const request& r, std::int64_t computed) {
  check(r);
  if (computed < 0 || computed >= r.prompt_tokens) {
    throw std::invalid_argument(
        fmt::format("request {}: expected 0 <= tokens with KV < prompt {}, got {}", r.id,
                    r.prompt_tokens, computed));
  }
  detail::sequence s;
  s.req = r;
  s.computed = computed;
  s.prefilling = computed + 1 < r.prompt_tokens;  // only the last prompt token left: a decode
  waiting_.push_back(std::move(s));
}

std::int64_t scheduler::prefill_cap(std::int64_t remaining, std::int64_t budget) const {
  std::int64_t n = std::min(remaining, budget);
  if (limits_.chunk_tokens > 0) n = std::min(n, limits_.chunk_tokens);
  return n;
}

void scheduler::preempt_last() {
  assert(!running_.empty());
  detail::sequence s = std::move(running_.back());
  running_.pop_back();
  kv_.release(s.kv);
  s.computed = 0;
  s.prefilling = true;
  ++s.preemptions;
  ++preemptions_;
  waiting_.push_front(std::move(s));
}

std::vector<detail::sequence> scheduler::evict_all() {
  if (!pending_.empty()) throw std::logic_error("scheduler: evict_all with an iteration pending");
  std::vector<detail::sequence> out;
  out.reserve(running_.size() + waiting_.size());
  for (detail::sequence& s : running_) out.push_back(std::move(s));
  for (detail::sequence& s : waiting_) out.push_back(std::move(s));
  running_.clear();
  waiting_.clear();
  for (detail::sequence& s : out) kv_.release(s.kv);
  return out;
}

void scheduler::adopt(detail::sequence s) {
  check(s.req);
  s.kv = kv_sequence{};
  s.computed = 0;
  s.prefilling = true;
  ++s.preemptions;
  ++preemptions_;
  waiting_.push_front(std::move(s));
}

void scheduler::schedule_running(iteration& it, std::int64_t& budget, bool& preempted) {
  std::size_t i = 0;
  while (i < running_.size() && budget > 0) {
    detail::sequence& s = running_[i];
    const std::int64_t remaining = s.target() - s.computed;
    // Without chunked prefill a running sequence's prompt was computed whole at admission, so
    // only decodes remain.
    assert(remaining >= 1 && (limits_.chunked_prefill || remaining == 1));
    std::int64_t n = prefill_cap(remaining, budget);
    // A decode verifies its drafts too, never past the request's last output token.
    std::int64_t drafts = 0;
    if (!s.prefilling && remaining == 1 && limits_.draft_tokens > 0) {
      drafts = std::min({static_cast<std::int64_t>(limits_.draft_tokens),
                         s.req.output_tokens - s.emitted - 1, budget - 1});
      drafts = std::max<std::int64_t>(drafts, 0);
      n += drafts;
    }
    bool self_preempted = false;
    while (!kv_.grow(s.kv, s.computed + n)) {
      // Indices below i are unaffected: only the back of running_ goes.
      self_preempted = running_.size() - 1 == i;
      preempt_last();
      preempted = true;
      if (self_preempted) break;
    }
    if (self_preempted) break;
    it.seqs.push_back(
        {s.req.id, n, s.computed, s.prefilling, s.computed + n - drafts == s.target(), drafts});
    scheduled_.push_back(i);
    budget -= n;
    ++i;
  }
}

void scheduler::admit_waiting(iteration& it, std::int64_t& budget) {
  while (!waiting_.empty() && budget > 0 && running_.size() < limits_.max_running) {
    detail::sequence& s = waiting_.front();
    const std::int64_t remaining = s.target() - s.computed;
    std::int64_t n = remaining;
    if (limits_.chunked_prefill) {
      n = prefill_cap(remaining, budget);
    } else if (remaining > budget) {
      break;
    }
    if (!kv_.grow(s.kv, s.computed + n)) break;
    // Waiting sequences prefill, except one whose prompt's KV came from a prefill instance.
    it.seqs.push_back({s.req.id, n, s.computed, s.prefilling, s.computed + n == s.target()});
    scheduled_.push_back(running_.size());
    budget -= n;
    running_.push_back(std::move(s));
    waiting_.pop_front();
  }
}

iteration scheduler::next() {
  if (!pending_.empty()) {
    throw std::logic_error("scheduler::next called before the previous iteration was completed");
  }
  iteration it;
  scheduled_.clear();
  std::int64_t budget = limits_.token_budget;
  bool preempted = false;
  schedule_running(it, budget, preempted);
  // vLLM admits nothing in an iteration that had to preempt: memory is already short.
  if (!preempted) admit_waiting(it, budget);
  pending_ = it.seqs;
  return it;
}

void scheduler::withdraw_drafts(iteration& it, std::span<const std::int64_t> drafts) {
  if (drafts.size() != it.seqs.size() || it.seqs.size() != pending_.size()) {
    throw std::invalid_argument(
        fmt::format("scheduler::withdraw_drafts: {} draft counts for {} sequences ({} pending)",
                    drafts.size(), it.seqs.size(), pending_.size()));
  }
  for (std::size_t k = 0; k < drafts.size(); ++k) {
    seq_work& w = it.seqs[k];
    if (w.request != pending_[k].request || w.new_tokens != pending_[k].new_tokens) {
      throw std::logic_error(
          "scheduler::withdraw_drafts: not the iteration last returned by next()");
    }
    if (drafts[k] < 0 || drafts[k] > w.drafts) {
      throw std::invalid_argument(
          fmt::format("scheduler::withdraw_drafts: {} drafts for request {}, which has {}",
                      drafts[k], w.request, w.drafts));
    }
  }
  for (std::size_t k = 0; k < drafts.size(); ++k) {
    seq_work& w = it.seqs[k];
    const std::int64_t cut = w.drafts - drafts[k];
    if (cut == 0) continue;
    w.drafts -= cut;
    w.new_tokens -= cut;
    pending_[k] = w;
    detail::sequence& s = running_[scheduled_[k]];
    kv_.truncate(s.kv, s.computed + w.new_tokens);
  }
}

std::vector<finished_request> scheduler::complete(const iteration& it, sim::time_ps end) {
  return complete(it, end, {});
}

std::vector<finished_request> scheduler::complete(const iteration& it, sim::time_ps end,
                                                  std::span<const int> accepted) {
  std::vector<finished_request> done;
  if (!accepted.empty() && accepted.size() != it.seqs.size()) {
    throw std::invalid_argument(
        fmt::format("scheduler::complete: {} accepted counts for {} sequences", accepted.size(),
                    it.seqs.size()));
  }
  for (std::size_t k = 0; k < accepted.size(); ++k) {
    if (accepted[k] < 0 || accepted[k] > it.seqs[k].drafts) {
      throw std::invalid_argument(
          fmt::format("scheduler::complete: {} drafts of request {} accepted, of {}", accepted[k],
                      it.seqs[k].request, it.seqs[k].drafts));
    }
  }
  if (it.seqs.empty() && pending_.empty()) return done;
  const bool same = it.seqs.size() == pending_.size() &&
                    std::equal(it.seqs.begin(), it.seqs.end(), pending_.begin(),
                               [](const seq_work& a, const seq_work& b) {
                                 return a.request == b.request && a.new_tokens == b.new_tokens;
                               });
  if (!same) {
    throw std::logic_error("scheduler::complete: not the iteration last returned by next()");
  }
  if (end < last_end_) {
    throw std::logic_error(
        fmt::format("scheduler::complete: iteration ends at {} ps, before the previous end {} ps",
                    end, last_end_));
  }
  last_end_ = end;
  bool any_finished = false;
  for (std::size_t k = 0; k < pending_.size(); ++k) {
    detail::sequence& s = running_[scheduled_[k]];
    const seq_work& w = pending_[k];
    // Verification keeps the KV of the last sampled token and the accepted drafts.
    const std::int64_t kept = accepted.empty() ? 0 : accepted[k];
    s.computed += w.new_tokens - w.drafts + kept;
    if (w.drafts > 0) kv_.truncate(s.kv, s.computed);
    assert(s.computed == s.kv.tokens());
    if (!w.emits_token) continue;
    s.prefilling = false;
    // The accepted drafts and the target's own token arrive together.
    for (std::int64_t t = 0; t <= kept; ++t) {
      ++s.emitted;
      if (s.emitted == 1) {
        s.first_token = end;
      } else {
        s.gaps.push_back(end - s.last_token);
      }
      s.last_token = end;
    }
    any_finished = any_finished || s.emitted == s.req.output_tokens;
  }
  pending_.clear();
  scheduled_.clear();
  if (!any_finished) return done;
  for (auto& s : running_) {
    if (s.emitted < s.req.output_tokens) continue;
    kv_.release(s.kv);
    done.push_back({s.req, s.first_token, s.last_token, std::move(s.gaps), s.preemptions});
  }
  std::erase_if(running_,
                [](const detail::sequence& s) { return s.emitted == s.req.output_tokens; });
  return done;
}

}  // namespace moesim::serve
