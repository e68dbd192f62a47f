#pragma once
// Continuous-batching scheduler as vLLM v1 runs it (vllm/v1/core/sched/scheduler.py,
// Scheduler.schedule), without the engine: the caller asks for the next iteration's batch,
// runs it for however long its model says, and reports the end time. Pure and deterministic.
//
// Policy modelled (vLLM v1, FCFS policy):
//  - A sequence's work is the tokens between what its KV cache holds and prompt + emitted
//    output tokens (vLLM's num_tokens - num_computed_tokens): the whole uncomputed prompt
//    first, then one token per decode step. There is no separate prefill or decode phase.
//  - Running sequences go first, in admission order, while the token budget
//    (max_num_batched_tokens) lasts; each takes min(its remaining work, chunk_tokens
//    (long_prefill_token_threshold), budget left). Their KV allocation grows to cover the new
//    tokens; when the pool cannot, the most recently admitted running sequence is preempted
//    (running.pop()): its blocks are freed, it goes back to the FRONT of the waiting queue and
//    on readmission recomputes its prompt and every token emitted so far as a prefill
//    (vLLM's recompute preemption, _preempt_request). If the sequence being grown is itself the
//    one preempted, the running pass stops.
//  - Then, only if nothing was preempted in this iteration, waiting requests are admitted in
//    FCFS order while running < max_running, budget > 0 and the pool can hold their first
//    chunk; the first that does not fit stops admission (head-of-line: later ones never jump
//    it). Without chunked prefill a waiting request whose whole remaining prefill exceeds the
//    budget left also stops admission.
//  - A prefix-cache hit (request::cached_prompt_tokens) counts only in whole blocks and at most
//    prompt - 1 tokens, as vLLM's KVCacheManager.get_computed_blocks matches only full blocks
//    and always recomputes the last prompt token to get its logits. The hit applies to the
//    first admission; after a preemption everything is recomputed (the freed blocks may have
//    been evicted). The hit's blocks count in the pool like any other (sharing between
//    sequences is not modelled).
//  - The pass that computes a sequence's last outstanding token samples one output token: a
//    decode, or the chunk that completes a (re)computed prefill. A request finishes when it has
//    emitted output_tokens tokens; its blocks are freed at once.
//  - Speculative decoding (draft_tokens = K > 0, vLLM's num_speculative_tokens): a running
//    sequence that decodes verifies its drafts in the same pass, 1 + d new tokens (its last
//    sampled token and d = min(K, output tokens still to emit - 1, budget left - 1) drafts),
//    its KV grown to hold them all (vLLM allocates the lookahead slots); the caller says in
//    complete() how many drafts were accepted (a), and the sequence keeps the KV of 1 + a
//    tokens (the rejected drafts' slots are freed) and emits a + 1 tokens at once (the
//    accepted drafts and the target's own next token). Prefill chunks carry no drafts.
// Not modelled: vLLM's priority policy, KV connectors, watermark (vLLM's
// default is 0), and SGLang's alternative admission rule (python/sglang/srt/managers/
// schedule_policy.py, PrefillAdder: admit a prefill only if the free KV minus the running
// requests' remaining output tokens times new_token_ratio still holds it, and retract decodes
// when that estimate was too optimistic).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "sim/engine/time.hpp"
#include "sim/serve/kv_cache.hpp"
#include "sim/serve/request.hpp"

namespace moesim::serve {

/// vLLM names in parentheses.
struct scheduler_limits {
  std::uint32_t max_running = 256;   ///< sequences running at once (max_num_seqs)
  std::int64_t token_budget = 8192;  ///< tokens computed per iteration (max_num_batched_tokens)
  /// Most prefill tokens one sequence computes per iteration (long_prefill_token_threshold);
  /// 0 = no limit beyond the budget. Only with chunked_prefill.
  std::int64_t chunk_tokens = 0;
  bool chunked_prefill = true;      ///< enable_chunked_prefill
  std::int64_t kv_blocks = 0;       ///< blocks in the KV pool (num_gpu_blocks), >= 1
  std::uint32_t block_tokens = 16;  ///< tokens per KV block (block_size)
  /// Draft tokens a decoding sequence verifies per iteration (num_speculative_tokens); 0 =
  /// plain decoding.
  std::uint32_t draft_tokens = 0;
};

/// One sequence's work in an iteration.
struct seq_work {
  std::uint64_t request = 0;
  std::int64_t new_tokens = 0;  ///< tokens computed this iteration
  std::int64_t context = 0;     ///< tokens already in its KV cache before them
  /// Prompt tokens (first pass or recomputation after preemption), possibly one chunk of them.
  bool prefill = false;
  /// Ends with a sampled output token: a decode, or the chunk that completes the prefill.
  bool emits_token = false;
  /// Speculative decoding: draft tokens verified among new_tokens (new_tokens = 1 + drafts).
  std::int64_t drafts = 0;
};

/// One forward pass: the sequences it computes, running ones first in admission order, then
/// the newly admitted in queue order.
struct iteration {
  std::vector<seq_work> seqs;
  [[nodiscard]] bool empty() const { return seqs.empty(); }
  [[nodiscard]] std::int64_t tokens() const;          ///< all new tokens
  [[nodiscard]] std::int64_t prefill_tokens() const;  ///< new tokens of prefill work
  [[nodiscard]] std::int64_t decode_tokens() const;   ///< new tokens of decode work
};

/// A request that has emitted all its output tokens. Times in picoseconds of the caller's clock.
struct finished_request {
  request req;
  sim::time_ps first_token = 0;  ///< end of the iteration that emitted output token 1
  sim::time_ps finish = 0;       ///< end of the iteration that emitted the last output token
  /// Gaps between consecutive output tokens (output_tokens - 1 of them), in order. A gap spans
  /// any preemption in between, as a streaming client sees it.
  std::vector<sim::time_ps> token_gaps;
  std::uint32_t preemptions = 0;  ///< times this request was preempted
};

namespace detail {
/// A request while the scheduler holds it.
struct sequence {
  request req;
  std::int64_t computed = 0;  ///< tokens whose KV is in the cache (vLLM's num_computed_tokens)
  std::int64_t emitted = 0;   ///< output tokens sampled so far
  bool prefilling = true;     ///< since (re)admission, no token sampled yet
  std::uint32_t preemptions = 0;
  sim::time_ps first_token = 0;
  sim::time_ps last_token = 0;
  std::vector<sim::time_ps> gaps;
  kv_sequence kv;
  /// Tokens that must be computed before the next output token (vLLM's num_tokens).
  [[nodiscard]] std::int64_t target() const { return req.prompt_tokens + emitted; }
};
}  // namespace detail

/// The scheduler. Calls alternate: next() forms a batch, complete() retires it; add() may come
/// at any time. Cost per next()/complete(): O(running + admitted + preempted) plus the batch.
class scheduler {
 public:
  /// Throws std::invalid_argument (naming the numbers) unless max_running >= 1,
  /// token_budget >= max_running (as vLLM requires), kv_blocks >= 1, block_tokens >= 1,
  /// chunk_tokens >= 0, and chunk_tokens == 0 when chunked_prefill is off.
  explicit scheduler(const scheduler_limits& limits);

  /// Throws std::invalid_argument naming the request and the numbers when it could never run:
  /// prompt_tokens < 1, output_tokens < 1, cached_prompt_tokens outside [0, prompt], or its
  /// longest KV footprint prompt + output - 1 (the last output token is never computed) above
  /// max_sequence_tokens(). Does not change the scheduler.
  void check(const request& r) const;

  /// check(r), then queues it at the back of the waiting queue (FCFS).
  void add(const request& r);

  /// As add(r), for a request whose first `computed` prompt tokens already have their KV (sent
  /// by a disaggregated prefill instance): they count as computed exactly, not in whole blocks
  /// as a prefix-cache hit does; on admission the pool must hold them. A preemption drops them
  /// like any computed tokens (recomputed here). Throws std::invalid_argument as check(r) does,
  /// or unless 0 <= computed < prompt_tokens.
  void add_with_kv(const request& r, std::int64_t computed);

  /// Forms the next iteration (see the policy above) and reserves its KV blocks. Empty only
  /// when nothing is waiting or running. Throws std::logic_error if the previous non-empty
  /// iteration has not been completed.
  [[nodiscard]] iteration next();

  /// Retires the iteration last returned by next(), which ended at `end`: advances each
  /// sequence, stamps emitted tokens with `end`, frees and returns the requests that finished
  /// (in running order). Throws std::logic_error if `it` is not that iteration or `end` is
  /// earlier than a previous end. An empty iteration is a no-op.
  std::vector<finished_request> complete(const iteration& it, sim::time_ps end);
  /// As above, with `accepted[k]` (0 to it.seqs[k].drafts) drafts of it.seqs[k] accepted (see
  /// the policy); an empty span accepts none. Throws std::invalid_argument for a span of
  /// another length or a count out of range.
  std::vector<finished_request> complete(const iteration& it, sim::time_ps end,
                                         std::span<const int> accepted);

  /// Draft tokens per decoding sequence from the next next() on (a policy choosing K per
  /// iteration; scheduler_limits::draft_tokens until called). O(1).
  void set_draft_tokens(std::uint32_t k) noexcept { limits_.draft_tokens = k; }
  /// Cuts the drafts of the iteration last returned by next() (`it`, updated in place) to
  /// `drafts[k]` for it.seqs[k] (at most what it had; a policy verifying fewer than it
  /// reserved), freeing the KV reserved for the drafts withdrawn. Throws std::invalid_argument
  /// for a span of another length or a count out of range, std::logic_error if `it` is not the
  /// pending iteration. O(sequences).
  void withdraw_drafts(iteration& it, std::span<const std::int64_t> drafts);

  /// Takes every sequence off this scheduler (running ones in admission order, then the
  /// waiting queue in its order), freeing their KV blocks: a lost device's requests
  /// (sim/run/device_loss.hpp). Throws std::logic_error while an iteration is pending.
  /// O(running + waiting).
  [[nodiscard]] std::vector<detail::sequence> evict_all();
  /// Queues a sequence another scheduler evicted as a preempted one is queued (vLLM's
  /// preemption by recomputation): at the front of the waiting queue, its KV to be recomputed
  /// (computed 0, prefilling again, its preemption count up by one), keeping its emitted
  /// tokens, first token and gaps, so its latency figures span the move. To queue several in
  /// order, adopt them last first. Throws std::invalid_argument as check() does. O(1).
  void adopt(detail::sequence s);

  [[nodiscard]] std::size_t waiting() const { return waiting_.size(); }
  [[nodiscard]] std::size_t running() const { return running_.size(); }
  [[nodiscard]] bool idle() const { return waiting_.empty() && running_.empty(); }
  [[nodiscard]] std::int64_t kv_blocks_used() const { return kv_.used_blocks(); }
  [[nodiscard]] double kv_utilisation() const { return kv_.utilisation(); }
  /// Preemptions so far, over all requests.
  [[nodiscard]] std::uint64_t preemptions() const { return preemptions_; }
  [[nodiscard]] const scheduler_limits& limits() const { return limits_; }

  /// The longest sequence (prompt + output - 1 tokens) that can ever run alone: the KV pool's
  /// capacity, and without chunked prefill also the token budget, because a preempted sequence
  /// recomputes all of it in one pass (vLLM refuses max_num_batched_tokens < max_model_len
  /// without chunked prefill: vllm/config/scheduler.py, SchedulerConfig._verify_args).
  [[nodiscard]] std::int64_t max_sequence_tokens() const;

 private:
  [[nodiscard]] std::int64_t prefill_cap(std::int64_t remaining, std::int64_t budget) const;
  void preempt_last();
  void schedule_running(iteration& it, std::int64_t& budget, bool& preempted);
  void admit_waiting(iteration& it, std::int64_t& budget);

  scheduler_limits limits_;
  kv_cache kv_;
  std::deque<detail::sequence> waiting_;
  std::vector<detail::sequence> running_;  // admission order
  std::vector<std::size_t> scheduled_;     // running_ index of each seq of the pending iteration
  std::vector<seq_work> pending_;          // the iteration next() returned, until complete()
  std::uint64_t preemptions_ = 0;
  sim::time_ps last_end_ = 0;
};

}  // namespace moesim::serve
