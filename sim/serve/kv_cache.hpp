#pragma once
// A paged KV cache pool as vLLM manages it (vllm/v1/core/kv_cache_manager.py, KVCacheManager
// with its BlockPool): the cache is cut into blocks of `block_tokens` tokens, a sequence holding
// n tokens occupies ceil(n / block_tokens) whole blocks, and a growth that needs more blocks than
// are free fails without allocating any (allocate_slots returns None). Only counts are modelled:
// which physical block holds what, prefix sharing between sequences and eviction of cached
// blocks are not.
#include <cstdint>

namespace moesim::serve {

class kv_cache;

/// One sequence's share of a kv_cache: the tokens it holds and the blocks they occupy. Owned by
/// the caller (typically inside its sequence record); changed only through the pool that grew it.
class kv_sequence {
 public:
  [[nodiscard]] std::int64_t tokens() const { return tokens_; }
  [[nodiscard]] std::int64_t blocks() const { return blocks_; }

 private:
  friend class kv_cache;
  std::int64_t tokens_ = 0;
  std::int64_t blocks_ = 0;
};

/// The block pool. Every call is O(1): the pool keeps only the number of blocks in use, each
/// sequence keeps its own counts in its kv_sequence.
class kv_cache {
 public:
  /// Throws std::invalid_argument unless total_blocks >= 1 and block_tokens >= 1.
  kv_cache(std::int64_t total_blocks, std::uint32_t block_tokens);

  /// Blocks needed to hold `tokens` (>= 0) tokens: ceil(tokens / block_tokens).
  [[nodiscard]] std::int64_t blocks_for(std::int64_t tokens) const;

  /// Blocks `seq` would need on top of what it holds to hold `tokens` tokens (0 if it already
  /// has room).
  [[nodiscard]] std::int64_t extra_blocks(const kv_sequence& seq, std::int64_t tokens) const;

  /// Grows `seq` to hold `tokens` tokens. Returns false and changes nothing when the free blocks
  /// cannot cover the growth. Throws std::invalid_argument when `tokens` is below what `seq`
  /// already holds (use truncate or release to shrink).
  [[nodiscard]] bool grow(kv_sequence& seq, std::int64_t tokens);

  /// Cuts `seq` back to `tokens` tokens (at most what it holds), returning the blocks it no
  /// longer needs: rejected draft tokens' slots after a speculative verification (vLLM keeps
  /// num_computed_tokens at the accepted prefix and reuses the rest). Throws
  /// std::invalid_argument when `tokens` is negative or above what `seq` holds.
  void truncate(kv_sequence& seq, std::int64_t tokens);

  /// Returns all of `seq`'s blocks to the pool and empties it.
  void release(kv_sequence& seq);

  [[nodiscard]] std::int64_t total_blocks() const { return total_blocks_; }
  [[nodiscard]] std::int64_t used_blocks() const { return used_blocks_; }
  [[nodiscard]] std::int64_t free_blocks() const { return total_blocks_ - used_blocks_; }
  [[nodiscard]] std::uint32_t block_tokens() const { return block_tokens_; }
  /// Tokens the whole pool can hold: total_blocks * block_tokens.
  [[nodiscard]] std::int64_t capacity_tokens() const;
  /// used_blocks / total_blocks, in [0, 1] (vLLM's BlockPool.get_usage reports the same ratio).
  [[nodiscard]] double utilisation() const;

 private:
  std::int64_t total_blocks_;
  std::uint32_t block_tokens_;
  std::int64_t used_blocks_ = 0;
};

}  // namespace moesim::serve
