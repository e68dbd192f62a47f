#include "sim/serve/kv_cache.hpp"

#include <fmt/format.h>

#include <cassert>
#include <stdexcept>

namespace moesim::serve {

kv_cache::kv_cache(std::int64_t total_blocks, std::uint32_t block_tokens)
    : total_blocks_(total_blocks), block_tokens_(block_tokens) {
  if (total_blocks < 1 || block_tokens < 1) {
    throw std::invalid_argument(
        fmt::format("KV cache needs at least one block of at least one token, got {} blocks of {} "
                    "tokens",
                    total_blocks, block_tokens));
  }
}

std::int64_t kv_cache::blocks_for(std::int64_t tokens) const {
  assert(tokens >= 0);
  const auto bt = static_cast<std::int64_t>(block_tokens_);
  return (tokens + bt - 1) / bt;
}

std::int64_t kv_cache::extra_blocks(const kv_sequence& seq, std::int64_t tokens) const {
  const std::int64_t need = blocks_for(tokens);
  return need > seq.blocks_ ? need - seq.blocks_ : 0;
}

bool kv_cache::grow(kv_sequence& seq, std::int64_t tokens) {
  if (tokens < seq.tokens_) {
    throw std::invalid_argument(fmt::format(
        "KV sequence cannot shrink from {} to {} tokens; release it instead", seq.tokens_, tokens));
  }
  const std::int64_t extra = extra_blocks(seq, tokens);
  if (extra > free_blocks()) return false;
  used_blocks_ += extra;
  seq.blocks_ += extra;
  seq.tokens_ = tokens;
  return true;
}

void kv_cache::truncate(kv_sequence& seq, std::int64_t tokens) {
  if (tokens < 0 || tokens > seq.tokens_) {
    throw std::invalid_argument(
        fmt::format("KV sequence of {} tokens cannot be cut to {}", seq.tokens_, tokens));
  }
  const std::int64_t keep = blocks_for(tokens);
  used_blocks_ -= seq.blocks_ - keep;
  seq.blocks_ = keep;
  seq.tokens_ = tokens;
}

void kv_cache::release(kv_sequence& seq) {
  used_blocks_ -= seq.blocks_;
  assert(used_blocks_ >= 0);
  seq = kv_sequence{};
}

std::int64_t kv_cache::capacity_tokens() const {
  return total_blocks_ * static_cast<std::int64_t>(block_tokens_);
}

double kv_cache::utilisation() const {
  return static_cast<double>(used_blocks_) / static_cast<double>(total_blocks_);
}

}  // namespace moesim::serve
