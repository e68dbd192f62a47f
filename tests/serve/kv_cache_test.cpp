#include "sim/serve/kv_cache.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>

using moesim::serve::kv_cache;
using moesim::serve::kv_sequence;

TEST_CASE("kv_cache: a sequence holds ceil(tokens / block_tokens) blocks") {
  kv_cache pool(10, 16);
  CHECK(pool.blocks_for(0) == 0);
  CHECK(pool.blocks_for(1) == 1);
  CHECK(pool.blocks_for(16) == 1);
  CHECK(pool.blocks_for(17) == 2);
  CHECK(pool.capacity_tokens() == 160);

  kv_sequence s;
  REQUIRE(pool.grow(s, 17));  // 2 blocks
  CHECK(s.tokens() == 17);
  CHECK(s.blocks() == 2);
  CHECK(pool.used_blocks() == 2);
  REQUIRE(pool.grow(s, 32));  // still 2 blocks: the second block had room for 15 more
  CHECK(pool.used_blocks() == 2);
  REQUIRE(pool.grow(s, 33));  // a third
  CHECK(s.blocks() == 3);
  CHECK(pool.used_blocks() == 3);
  CHECK(pool.free_blocks() == 7);
  CHECK(pool.utilisation() == Approx(0.3));
}

TEST_CASE("kv_cache: a growth that does not fit allocates nothing") {
  kv_cache pool(4, 16);
  kv_sequence a;
  kv_sequence b;
  REQUIRE(pool.grow(a, 40));  // 3 blocks, 1 left
  CHECK(pool.extra_blocks(b, 20) == 2);
  CHECK_FALSE(pool.grow(b, 20));  // needs 2
  CHECK(b.tokens() == 0);
  CHECK(b.blocks() == 0);
  CHECK(pool.used_blocks() == 3);
  CHECK(pool.grow(b, 16));  // exactly the last block
  CHECK(pool.free_blocks() == 0);
  CHECK(pool.utilisation() == Approx(1.0));
  CHECK_FALSE(pool.grow(a, 49));  // 4th block of a: none free
  CHECK(a.tokens() == 40);
  CHECK(pool.grow(a, 48));  // fills a's third block without a new one
}

TEST_CASE("kv_cache: release returns every block of the sequence") {
  kv_cache pool(8, 4);
  kv_sequence a;
  kv_sequence b;
  REQUIRE(pool.grow(a, 9));  // 3
  REQUIRE(pool.grow(b, 4));  // 1
  pool.release(a);
  CHECK(a.tokens() == 0);
  CHECK(a.blocks() == 0);
  CHECK(pool.used_blocks() == 1);
  pool.release(a);  // releasing an empty sequence is harmless
  CHECK(pool.used_blocks() == 1);
  REQUIRE(pool.grow(a, 28));  // the freed blocks are reusable: 7 of 7 free
  CHECK(pool.free_blocks() == 0);
}

TEST_CASE("kv_cache: nonsense sizes and shrinking are refused") {
  CHECK_THROWS_AS(kv_cache(0, 16), std::invalid_argument);
  CHECK_THROWS_AS(kv_cache(4, 0), std::invalid_argument);
  kv_cache pool(4, 16);
  kv_sequence s;
  REQUIRE(pool.grow(s, 20));
  CHECK_THROWS_WITH(pool.grow(s, 10),
                    "KV sequence cannot shrink from 20 to 10 tokens; release it instead");
}
