#include "sim/serve/scheduler.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "sim/engine/random.hpp"

using namespace moesim::serve;
using moesim::sim::time_ps;

namespace {

request req(std::uint64_t id, std::int64_t prompt, std::int64_t output, std::int64_t cached = 0) {
  return request{id, 0, prompt, output, cached};
}

scheduler_limits limits(std::uint32_t max_running, std::int64_t budget, std::int64_t kv_blocks,
                        std::uint32_t block_tokens = 16, bool chunked = true) {
  scheduler_limits l;
  l.max_running = max_running;
  l.token_budget = budget;
  l.kv_blocks = kv_blocks;
  l.block_tokens = block_tokens;
  l.chunked_prefill = chunked;
  return l;
}

// (request, new_tokens, context, prefill, emits_token) of every sequence, for whole-batch checks.
using row = std::tuple<std::uint64_t, std::int64_t, std::int64_t, bool, bool>;
std::vector<row> rows(const iteration& it) {
  std::vector<row> r;
  for (const auto& w : it.seqs)
    r.emplace_back(w.request, w.new_tokens, w.context, w.prefill, w.emits_token);
  return r;
}

}  // namespace

TEST_CASE("scheduler: FCFS admission up to max_running, finish after output_tokens") {
  scheduler s(limits(2, 100, 100));
  s.add(req(1, 10, 3));
  s.add(req(2, 10, 3));
  s.add(req(3, 10, 1));
  auto it = s.next();
  CHECK(rows(it) == std::vector<row>{{1, 10, 0, true, true}, {2, 10, 0, true, true}});
  CHECK(s.running() == 2);
  CHECK(s.waiting() == 1);  // request 3 waits for a running slot
  CHECK(s.kv_blocks_used() == 2);
  CHECK(s.complete(it, 10).empty());

  it = s.next();
  CHECK(rows(it) == std::vector<row>{{1, 1, 10, false, true}, {2, 1, 10, false, true}});
  CHECK(it.decode_tokens() == 2);
  CHECK(it.prefill_tokens() == 0);
  CHECK(s.complete(it, 20).empty());

  it = s.next();
  CHECK(rows(it) == std::vector<row>{{1, 1, 11, false, true}, {2, 1, 11, false, true}});
  auto done = s.complete(it, 35);
  REQUIRE(done.size() == 2);  // third output token: both finish, in running order
  CHECK(done[0].req.id == 1);
  CHECK(done[1].req.id == 2);
  CHECK(done[0].first_token == 10);
  CHECK(done[0].finish == 35);
  CHECK(done[0].token_gaps == std::vector<time_ps>{10, 15});
  CHECK(done[0].preemptions == 0);
  CHECK(s.running() == 0);
  CHECK(s.kv_blocks_used() == 0);

  it = s.next();
  CHECK(rows(it) == std::vector<row>{{3, 10, 0, true, true}});
  done = s.complete(it, 50);  // one output token: the prefill's sample finishes it
  REQUIRE(done.size() == 1);
  CHECK(done[0].first_token == 50);
  CHECK(done[0].finish == 50);
  CHECK(done[0].token_gaps.empty());
  CHECK(s.idle());
  CHECK(s.next().empty());
}

TEST_CASE("scheduler: decodes and prefill chunks share the token budget") {
  scheduler s(limits(8, 16, 100));
  s.add(req(1, 4, 5));
  s.add(req(2, 30, 2));
  auto it = s.next();
  // 4 tokens for request 1, the 12 left of the budget for request 2's first chunk.
  CHECK(rows(it) == std::vector<row>{{1, 4, 0, true, true}, {2, 12, 0, true, false}});
  CHECK(it.tokens() == 16);
  s.complete(it, 1);
  it = s.next();
  CHECK(rows(it) == std::vector<row>{{1, 1, 4, false, true}, {2, 15, 12, true, false}});
  s.complete(it, 2);
  it = s.next();
  CHECK(rows(it) == std::vector<row>{{1, 1, 5, false, true}, {2, 3, 27, true, true}});
  CHECK(it.prefill_tokens() == 3);
  CHECK(it.decode_tokens() == 1);
}

TEST_CASE("scheduler: chunked prefill splits a 5000-token prompt") {
  SECTION("budget 2048, alone: 2048 / 2048 / 904, the last chunk samples") {
    scheduler s(limits(8, 2048, 1000));
    s.add(req(7, 5000, 2));
    std::vector<row> seen;
    for (time_ps t = 1; t <= 3; ++t) {
      auto it = s.next();
      REQUIRE(it.seqs.size() == 1);
      seen.push_back(rows(it)[0]);
      s.complete(it, t);
    }
    CHECK(seen == std::vector<row>{{7, 2048, 0, true, false},
                                   {7, 2048, 2048, true, false},
                                   {7, 904, 4096, true, true}});
    CHECK(s.kv_blocks_used() == 313);  // ceil(5000 / 16)
  }
  SECTION("budget 2048 while two sequences decode: the chunks get what the decodes leave") {
    scheduler s(limits(8, 2048, 1000));
    s.add(req(1, 16, 10));
    s.add(req(2, 16, 10));
    s.complete(s.next(), 1);  // both prefills
    s.add(req(7, 5000, 2));
    std::vector<std::vector<row>> seen;
    for (time_ps t = 2; t <= 4; ++t) {
      auto it = s.next();
      seen.push_back(rows(it));
      s.complete(it, t);
    }
    CHECK(seen[0] == std::vector<row>{{1, 1, 16, false, true},
                                      {2, 1, 16, false, true},
                                      {7, 2046, 0, true, false}});
    CHECK(seen[1] == std::vector<row>{{1, 1, 17, false, true},
                                      {2, 1, 17, false, true},
                                      {7, 2046, 2046, true, false}});
    CHECK(seen[2] == std::vector<row>{{1, 1, 18, false, true},
                                      {2, 1, 18, false, true},
                                      {7, 908, 4092, true, true}});
  }
  SECTION("chunk_tokens 2048 under a larger budget: 2048 / 2048 / 904 while decodes continue") {
    auto l = limits(8, 4096, 1000);
    l.chunk_tokens = 2048;
    scheduler s(l);
    s.add(req(1, 16, 10));
    s.complete(s.next(), 1);
    s.add(req(7, 5000, 2));
    std::vector<std::vector<row>> seen;
    for (time_ps t = 2; t <= 4; ++t) {
      auto it = s.next();
      seen.push_back(rows(it));
      s.complete(it, t);
    }
    CHECK(seen[0] == std::vector<row>{{1, 1, 16, false, true}, {7, 2048, 0, true, false}});
    CHECK(seen[1] == std::vector<row>{{1, 1, 17, false, true}, {7, 2048, 2048, true, false}});
    CHECK(seen[2] == std::vector<row>{{1, 1, 18, false, true}, {7, 904, 4096, true, true}});
  }
}

TEST_CASE("scheduler: without chunked prefill a prompt that does not fit blocks the queue") {
  const auto run_first = [](bool chunked) {
    scheduler s(limits(8, 100, 100, 16, chunked));
    s.add(req(1, 60, 3));
    s.add(req(2, 50, 2));
    s.add(req(3, 10, 2));
    auto first = s.next();
    s.complete(first, 1);
    return std::make_pair(rows(first), rows(s.next()));
  };
  const auto [off1, off2] = run_first(false);
  // Request 2 (50) does not fit the 40 left; request 3 (10) would, but may not jump it.
  CHECK(off1 == std::vector<row>{{1, 60, 0, true, true}});
  CHECK(off2 ==
        std::vector<row>{{1, 1, 60, false, true}, {2, 50, 0, true, true}, {3, 10, 0, true, true}});
  const auto [on1, on2] = run_first(true);
  CHECK(on1 == std::vector<row>{{1, 60, 0, true, true}, {2, 40, 0, true, false}});
  CHECK(on2 ==
        std::vector<row>{{1, 1, 60, false, true}, {2, 10, 40, true, true}, {3, 10, 0, true, true}});
}

TEST_CASE("scheduler: preemption frees the newest sequence, requeues it first, recomputes") {
  // 6 blocks of 4 tokens. A, B, C: prompt 4, 8 output tokens; D: prompt 4, 1 output token,
  // queued behind them (max_running 3).
  scheduler s(limits(3, 100, 6, 4));
  for (std::uint64_t id : {1, 2, 3}) s.add(req(id, 4, 8));
  s.add(req(4, 4, 1));
  // t=1: three prefills (1 block each); t=2: the decodes at context 4 take a second block
  // each (6 used); t=3..5: decodes inside the second block.
  for (time_ps t = 1; t <= 5; ++t) CHECK(s.complete(s.next(), t).empty());
  CHECK(s.kv_blocks_used() == 6);
  CHECK(s.preemptions() == 0);

  // t=6: context 8 needs a third block. A's growth preempts C, the newest; B then fits too.
  auto it = s.next();
  CHECK(rows(it) == std::vector<row>{{1, 1, 8, false, true}, {2, 1, 8, false, true}});
  CHECK(s.preemptions() == 1);
  CHECK(s.running() == 2);
  CHECK(s.waiting() == 2);  // C back at the front, D behind it; nothing admitted this iteration
  CHECK(s.kv_blocks_used() == 6);
  s.complete(it, 6);
  // t=7: C must recompute 4 + 5 = 9 tokens (3 blocks) but none are free; D (1 block) may not
  // jump it.
  it = s.next();
  CHECK(rows(it) == std::vector<row>{{1, 1, 9, false, true}, {2, 1, 9, false, true}});
  s.complete(it, 7);
  it = s.next();
  auto done = s.complete(it, 8);  // A and B emit their 8th token
  REQUIRE(done.size() == 2);
  CHECK(done[0].token_gaps == std::vector<time_ps>{1, 1, 1, 1, 1, 1, 1});
  CHECK(s.kv_blocks_used() == 0);

  // t=9: C readmitted first, recomputing prompt and its 5 tokens as a prefill, then D.
  it = s.next();
  CHECK(rows(it) == std::vector<row>{{3, 9, 0, true, true}, {4, 4, 0, true, true}});
  done = s.complete(it, 9);
  REQUIRE(done.size() == 1);
  CHECK(done[0].req.id == 4);
  s.complete(s.next(), 10);
  it = s.next();
  CHECK(rows(it) == std::vector<row>{{3, 1, 10, false, true}});
  done = s.complete(it, 11);
  REQUIRE(done.size() == 1);
  CHECK(done[0].req.id == 3);
  CHECK(done[0].preemptions == 1);
  CHECK(done[0].first_token == 1);
  CHECK(done[0].finish == 11);
  // Tokens at t = 1, 2, 3, 4, 5, then 9 (after the recompute), 10, 11.
  CHECK(done[0].token_gaps == std::vector<time_ps>{1, 1, 1, 1, 4, 1, 1});
  CHECK(s.idle());
}

TEST_CASE("scheduler: an iteration that preempted admits nothing, even a chunk that fits") {
  // 4 blocks of 4 tokens, chunks of 4. A: prompt 4, 13 outputs; B: prompt 8, 2 outputs.
  auto l = limits(8, 100, 4, 4);
  l.chunk_tokens = 4;
  scheduler s(l);
  s.add(req(1, 4, 13));
  s.add(req(2, 8, 2));
  auto it = s.next();
  CHECK(rows(it) == std::vector<row>{{1, 4, 0, true, true}, {2, 4, 0, true, false}});
  s.complete(it, 1);
  it = s.next();
  CHECK(rows(it) == std::vector<row>{{1, 1, 4, false, true}, {2, 4, 4, true, true}});
  s.complete(it, 2);
  CHECK(s.kv_blocks_used() == 4);
  // B's decode needs a third block: B, the newest, preempts itself. Its first recompute chunk
  // (4 tokens, 1 block) would fit the 2 free blocks, but vLLM does not admit after preempting.
  it = s.next();
  CHECK(rows(it) == std::vector<row>{{1, 1, 5, false, true}});
  CHECK(s.preemptions() == 1);
  CHECK(s.kv_blocks_used() == 2);
  s.complete(it, 3);
  it = s.next();
  CHECK(rows(it) == std::vector<row>{{1, 1, 6, false, true}, {2, 4, 0, true, false}});
}

TEST_CASE("scheduler: a prefix-cache hit shortens the first prefill, in whole blocks") {
  scheduler s(limits(8, 1000, 100));
  s.add(req(1, 100, 2, 40));   // 40 cached = 2 whole blocks of 16 = 32 tokens
  s.add(req(2, 100, 2, 100));  // all cached: the last token is recomputed, so 96 (6 blocks)
  s.add(req(3, 100, 2));
  const auto it = s.next();
  CHECK(rows(it) ==
        std::vector<row>{{1, 68, 32, true, true}, {2, 4, 96, true, true}, {3, 100, 0, true, true}});
  CHECK(s.kv_blocks_used() == 3 * 7);  // cached blocks count: ceil(100 / 16) each
}

TEST_CASE("scheduler: impossible limits and requests are refused with their numbers") {
  CHECK_THROWS_WITH(scheduler(limits(8, 100, 0)),
                    "scheduler needs a KV pool of at least one block of at least one token, got "
                    "0 blocks of 16 tokens");
  CHECK_THROWS_AS(scheduler(limits(0, 100, 10)), std::invalid_argument);
  CHECK_THROWS_AS(scheduler(limits(8, 0, 10)), std::invalid_argument);
  CHECK_THROWS_WITH(scheduler(limits(8, 7, 10)),
                    "scheduler needs token_budget >= max_running, got 7 < 8");
  auto l = limits(8, 100, 10, 16, false);
  l.chunk_tokens = 50;
  CHECK_THROWS_AS(scheduler(l), std::invalid_argument);

  scheduler kv(limits(8, 1000, 4));  // 64 tokens of KV
  CHECK_NOTHROW(kv.add(req(1, 60, 5)));
  CHECK_THROWS_WITH(kv.add(req(2, 60, 6)),
                    "request 2 can never run: prompt 60 + output 6 - 1 = 65 tokens of KV cache, "
                    "but the pool holds 64 (4 blocks of 16 tokens)");
  CHECK_THROWS_AS(kv.add(req(3, 10, 0)), std::invalid_argument);
  CHECK_THROWS_AS(kv.add(req(4, 10, 1, 11)), std::invalid_argument);
  CHECK(kv.waiting() == 1);
  CHECK(kv.max_sequence_tokens() == 64);

  scheduler nochunk(limits(8, 100, 100, 16, false));
  CHECK(nochunk.max_sequence_tokens() == 100);
  CHECK_NOTHROW(nochunk.add(req(1, 90, 11)));
  CHECK_THROWS_WITH(nochunk.add(req(2, 101, 1)),
                    "request 2 can never run without chunked prefill: prompt 101 + output 1 - 1 = "
                    "101 tokens may have to be computed in one iteration (after a preemption), "
                    "but the token budget is 100");
  CHECK_THROWS_AS(nochunk.add(req(3, 90, 12)), std::invalid_argument);
}

TEST_CASE("scheduler: next and complete must alternate") {
  scheduler s(limits(8, 100, 100));
  s.add(req(1, 10, 2));
  const auto it = s.next();
  CHECK_THROWS_AS(s.next(), std::logic_error);
  iteration other = it;
  other.seqs[0].new_tokens = 3;
  CHECK_THROWS_AS(s.complete(other, 5), std::logic_error);
  CHECK_THROWS_AS(s.complete(iteration{}, 5), std::logic_error);
  s.complete(it, 5);
  CHECK_THROWS_AS(s.complete(s.next(), 4), std::logic_error);  // time going back
}

namespace {

struct run_log {
  std::vector<std::vector<row>> iterations;
  std::vector<std::tuple<std::uint64_t, time_ps, time_ps, std::uint32_t>> finished;
  std::uint64_t preemptions = 0;
};

// A random stream of requests pushed through a small pool, with the invariants checked at every
// iteration. Iterations last 1000 ps + 10 ps per token.
run_log run_random(std::uint64_t seed) {
  moesim::rng g(seed);
  auto l = limits(6, 256, 40, 8);
  l.chunk_tokens = 128;
  scheduler s(l);
  run_log log;
  std::uint64_t next_id = 0;
  time_ps now = 0;
  std::size_t finished = 0;
  while (next_id < 60 || !s.idle()) {
    for (int k = 0; k < 2 && next_id < 60; ++k) {
      const auto prompt = 1 + static_cast<std::int64_t>(g.below(200));
      const auto output = 1 + static_cast<std::int64_t>(g.below(100));
      const auto cached = static_cast<std::int64_t>(g.below(static_cast<std::uint64_t>(prompt)));
      s.add(req(next_id++, prompt, output, cached));
    }
    const auto it = s.next();
    REQUIRE(!it.empty());
    CHECK(it.tokens() <= l.token_budget);
    CHECK(s.running() <= l.max_running);
    CHECK(s.kv_blocks_used() <= l.kv_blocks);
    for (const auto& w : it.seqs) CHECK(w.new_tokens <= l.chunk_tokens);
    now += 1000 + 10 * it.tokens();
    for (auto& f : s.complete(it, now)) {
      CHECK(f.token_gaps.size() == static_cast<std::size_t>(f.req.output_tokens - 1));
      log.finished.emplace_back(f.req.id, f.first_token, f.finish, f.preemptions);
      ++finished;
    }
    log.iterations.push_back(rows(it));
  }
  CHECK(finished == 60);
  log.preemptions = s.preemptions();
  return log;
}

}  // namespace

TEST_CASE("scheduler: deterministic, and every request finishes under KV pressure") {
  const auto a = run_random(11);
  const auto b = run_random(11);
  CHECK(a.iterations == b.iterations);
  CHECK(a.finished == b.finished);
  CHECK(a.preemptions > 0);  // the pool (320 tokens) is small enough to force preemptions
  CHECK(a.preemptions == b.preemptions);
  const auto c = run_random(12);
  CHECK(c.finished != a.finished);
}

TEST_CASE("add_with_kv: a request whose prompt's KV came from elsewhere starts decoding",
          "[scheduler]") {
  scheduler_limits l;
  l.max_running = 4;
  l.token_budget = 64;
  l.kv_blocks = 100;
  l.block_tokens = 16;
  scheduler s(l);
  request r;
  r.id = 9;
  r.prompt_tokens = 101;  // 100 prompt tokens with KV + the first output token
  r.output_tokens = 3;
  s.add_with_kv(r, 100);
  const iteration it = s.next();
  REQUIRE(it.seqs.size() == 1);
  CHECK(it.seqs[0].new_tokens == 1);
  CHECK(it.seqs[0].context == 100);  // exactly, not rounded down to whole blocks
  CHECK(!it.seqs[0].prefill);
  CHECK(it.seqs[0].emits_token);
  CHECK(it.prefill_tokens() == 0);
  CHECK(s.kv_blocks_used() == 7);  // 101 tokens in blocks of 16
  CHECK_THROWS_AS(s.add_with_kv(r, 101), std::invalid_argument);
}
