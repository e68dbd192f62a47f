#pragma once
// Op times from a measured profile: a table of kernel times a user measured on their own
// hardware, used in place of the roofline (roofline.hpp) for the ops it covers. Pure: parses
// text and interpolates; reading the file and deciding which ops use it is the caller's job.
//
// CSV (UTF-8/ASCII; fields trimmed of spaces and tabs; '\r\n' line ends accepted; lines whose
// first non-blank character is '#' and blank lines are ignored anywhere):
//   op,dtype,tokens,context,time_us            header, exactly these columns in this order
//   experts,bf16,256,0,115.85                  one row per (op, dtype, tokens, context)
//   - op: attention, router, experts, dense_ffn, lm_head, norms, activation, optimizer, each
//     optionally suffixed _backward (experts_backward);
//   - dtype: bf16 | fp8 | int8 (the op's number format);
//   - tokens: integer in [1, 2^53], tokens through the op on one device; for experts (and
//     experts_backward): the routed (token, expert) copies the device received;
//   - context: integer in [0, 2^53], keys each query attends to; must be 0 for every op but
//     attention and attention_backward (the others do not depend on it);
//   - time_us: time of the op on one device in microseconds, positive and below 9.2e12 (the
//     clock's range).
//
// Interpolation, among the rows of one (op, dtype); f(T) below is the time at tokens T from the
// rows of one context value, sorted by tokens t_1 < ... < t_n with times y_1 .. y_n:
//   - t_1 <= T <= t_n: linear between the bracketing rows (exact at a row);
//   - T < t_1: y_1 * T / t_1, and T > t_n: y_n * T / t_n (time proportional to tokens from the
//     nearest measured point; one row alone scales proportionally everywhere).
// attention and attention_backward also vary with context C over the measured context values
// c_1 < ... < c_m (each with its own token rows, which need not match between contexts):
//   - c_j <= C <= c_j+1: linear in C between f_cj(T) and f_cj+1(T) (bilinear on a full grid);
//   - C < c_1 or C > c_m: f at the nearest measured context c times (C + 1) / (c + 1).
// Other ops ignore the context argument. Times are rounded to the nearest picosecond.
//
// Determinism: the table is ordered (no hashing); a lookup is pure arithmetic on its rows.
// Complexity: parsing O(R log R) for R rows; lookup O(log R): the (op, dtype) series is found
// by name among the fixed vocabulary below, then binary searches over its context values and
// the token rows of at most two contexts.
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/engine/time.hpp"

namespace moesim::sim::cluster {

/// Op names a profile may hold, each also valid with the suffix `_backward`.
inline constexpr std::array<std::string_view, 8> profile_ops{
    "attention", "router", "experts", "dense_ffn", "lm_head", "norms", "activation", "optimizer"};
/// Number formats a profile may hold.
inline constexpr std::array<std::string_view, 3> profile_dtypes{"bf16", "fp8", "int8"};

class profile_table;

/// Parses a profile CSV (format in the file comment). `origin` names the text in messages
/// (usually its path). Throws std::invalid_argument
///   "<origin>:<line>:<col>: <what was expected>, got '<text>'"
/// (1-based line, column of the offending field) for a wrong header, a row without exactly 5
/// fields, an unknown op (followed by "; did you mean 'X'?" when a known op is within 2
/// edits), an unknown dtype, tokens or time_us not positive numbers, a context not a
/// non-negative integer (or not 0 outside attention), and a repeated (op, dtype, tokens,
/// context); and "<origin>:<line>:1: expected ..., got end of file" for text without a header
/// or without rows. O(R log R) for R rows.
[[nodiscard]] profile_table parse_profile_csv(std::string_view text, const std::string& origin);

class profile_table {
 public:
  /// An empty table: every lookup returns nothing.
  profile_table() = default;

  /// Time of `op` in `dtype` for `tokens` (>= 0) through it on one device, attending over
  /// `context` (>= 0) keys per query, interpolated as the file comment says. Nothing when the
  /// table has no row for (op, dtype). Throws std::invalid_argument for an op or dtype name not
  /// in profile_ops/profile_dtypes (a caller's typo must not silently fall back), for negative
  /// or non-finite tokens/context, and (ps_from_seconds) for a time beyond the clock's range.
  /// O(log rows).
  [[nodiscard]] std::optional<time_ps> lookup(std::string_view op, std::string_view dtype,
                                              double tokens, double context) const;

  /// Rows parsed.
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  /// Where the table came from (the `origin` given to parse_profile_csv).
  [[nodiscard]] const std::string& origin() const noexcept { return origin_; }

 private:
  friend profile_table parse_profile_csv(std::string_view text, const std::string& origin);

  /// The rows of one context value, sorted by tokens (strictly increasing).
  struct curve {
    double context = 0;
    std::vector<double> tokens;
    std::vector<double> time_us;
  };
  /// The rows of one (op, dtype): curves sorted by context (strictly increasing); empty when
  /// the table has no such row.
  struct series {
    std::vector<curve> curves;
  };

  /// One series per (op, dtype), at op_index * profile_dtypes.size() + dtype_index, where
  /// op_index is i for profile_ops[i] and profile_ops.size() + i for its _backward.
  std::vector<series> series_ = std::vector<series>(2 * profile_ops.size() * profile_dtypes.size());
  std::size_t rows_ = 0;
  std::string origin_;
};

}  // namespace moesim::sim::cluster
