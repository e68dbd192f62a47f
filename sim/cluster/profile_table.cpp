#include "sim/cluster/profile_table.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <system_error>
#include <tuple>

#include "sim/engine/csv_text.hpp"

namespace moesim::sim::cluster {

namespace detail {

constexpr std::string_view backward_suffix = "_backward";
constexpr std::array<std::string_view, 5> header_fields{"op", "dtype", "tokens", "context",
                                                        "time_us"};
// Counts up to 2^53 convert to double exactly, so distinct rows never collapse into one point.
constexpr std::uint64_t max_count = std::uint64_t{1} << 53;
// The clock's range (ps_from_seconds refuses 9.2e6 s and beyond), in microseconds.
constexpr double max_time_us = 9.2e12;

/// Index of `op` as laid out in profile_table::series_, or nothing if unknown.
std::optional<std::size_t> op_index(std::string_view op) {
  std::size_t offset = 0;
  if (op.ends_with(backward_suffix)) {
    op.remove_suffix(backward_suffix.size());
    offset = profile_ops.size();
  }
  for (std::size_t i = 0; i < profile_ops.size(); ++i) {
    if (profile_ops[i] == op) return offset + i;
  }
  return std::nullopt;
}

bool depends_on_context(std::size_t op) {
  return op % profile_ops.size() == 0;  // attention and attention_backward
}

std::optional<std::size_t> dtype_index(std::string_view dtype) {
  for (std::size_t i = 0; i < profile_dtypes.size(); ++i) {
    if (profile_dtypes[i] == dtype) return i;
  }
  return std::nullopt;
}

std::string op_name(std::size_t op) {
  std::string s(profile_ops[op % profile_ops.size()]);
  if (op >= profile_ops.size()) s += backward_suffix;
  return s;
}

// Optimal string alignment distance (a swap of neighbours is one edit), as the loader's
// did-you-mean uses; kept here because this layer cannot include sim/io. O(|a|·|b|).
std::size_t edits(std::string_view a, std::string_view b) {
  std::vector<std::size_t> before(b.size() + 1);
  std::vector<std::size_t> prev(b.size() + 1);
  std::vector<std::size_t> cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitute});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], before[j - 2] + 1);
      }
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

/// The known op nearest to `op` within 2 edits (ties: the first in series order), or empty.
std::string nearest_op(std::string_view op) {
  std::string best;
  std::size_t best_edits = 3;
  for (std::size_t i = 0; i < 2 * profile_ops.size(); ++i) {
    const std::string name = op_name(i);
    const std::size_t d = edits(op, name);
    if (d < best_edits) {
      best_edits = d;
      best = name;
    }
  }
  return best;
}

/// Throws "<origin>:<line>:<column>: <expected>, got '<got>'<tail>".
[[noreturn]] void fail(const std::string& origin, int line, int column, const std::string& expected,
                       std::string_view got, const std::string& tail = {}) {
  throw std::invalid_argument(origin + ":" + std::to_string(line) + ":" + std::to_string(column) +
                              ": " + expected + ", got '" + std::string(got) + "'" + tail);
}

/// An integer in [min, max_count], or nothing.
std::optional<std::uint64_t> parse_count(std::string_view s, std::uint64_t min) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < min || v > max_count) {
    return std::nullopt;
  }
  return v;
}

std::optional<double> parse_time_us(std::string_view s) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(v) || !(v > 0) ||
      !(v < max_time_us)) {
    return std::nullopt;
  }
  return v;
}

/// The shortest text that reads back as `v` ("-1", "0.5", "nan").
std::string shortest(double v) {
  std::array<char, 32> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return ec == std::errc{} ? std::string(buf.data(), end) : std::string("?");
}

struct row {
  std::size_t series = 0;
  std::uint64_t tokens = 0;
  std::uint64_t context = 0;
  double time_us = 0;
};

}  // namespace detail

profile_table parse_profile_csv(std::string_view text, const std::string& origin) {
  using detail::fail;
  const std::string header_text = "'op,dtype,tokens,context,time_us'";
  std::vector<detail::row> rows;
  // (series, tokens, context) -> line of its first row: repeats are reported in file order.
  std::map<std::tuple<std::size_t, std::uint64_t, std::uint64_t>, int> first_line;
  bool header = false;
  const int lines = sim::csv::for_each_content_line(text, [&](std::string_view line, int line_no) {
    const std::string_view content = sim::csv::trim(line);
    const auto fields = sim::csv::split_fields(line);
    const int end_column = static_cast<int>(line.size()) + 1;

    if (!header) {
      for (std::size_t i = 0; i < detail::header_fields.size(); ++i) {
        if (i >= fields.size()) {
          fail(origin, line_no, end_column, "expected the header " + header_text, content);
        }
        if (fields[i].text != detail::header_fields[i]) {
          fail(origin, line_no, fields[i].column, "expected the header " + header_text, content);
        }
      }
      if (fields.size() > detail::header_fields.size()) {
        fail(origin, line_no, fields[detail::header_fields.size()].column,
             "expected the header " + header_text, content);
      }
      header = true;
      return;
    }

    if (fields.size() != detail::header_fields.size()) {
      const int column = fields.size() < detail::header_fields.size()
                             ? end_column
                             : fields[detail::header_fields.size()].column;
      fail(origin, line_no, column, "expected 5 fields op,dtype,tokens,context,time_us", content);
    }
    const auto op = detail::op_index(fields[0].text);
    if (!op) {
      const std::string guess = detail::nearest_op(fields[0].text);
      fail(origin, line_no, fields[0].column,
           "expected an op (attention, router, experts, dense_ffn, lm_head, norms, activation "
           "or optimizer, optionally with _backward)",
           fields[0].text, guess.empty() ? std::string() : "; did you mean '" + guess + "'?");
    }
    const auto dtype = detail::dtype_index(fields[1].text);
    if (!dtype) {
      fail(origin, line_no, fields[1].column, "expected a dtype (bf16, fp8 or int8)",
           fields[1].text);
    }
    const auto tokens = detail::parse_count(fields[2].text, 1);
    if (!tokens) {
      fail(origin, line_no, fields[2].column, "expected tokens as an integer in [1, 2^53]",
           fields[2].text);
    }
    const auto context = detail::parse_count(fields[3].text, 0);
    if (!context) {
      fail(origin, line_no, fields[3].column, "expected context as an integer in [0, 2^53]",
           fields[3].text);
    }
    if (*context != 0 && !detail::depends_on_context(*op)) {
      fail(
          origin, line_no, fields[3].column,
          "expected context 0 for " + detail::op_name(*op) + " (only attention depends on context)",
          fields[3].text);
    }
    const auto time_us = detail::parse_time_us(fields[4].text);
    if (!time_us) {
      fail(origin, line_no, fields[4].column,
           "expected time_us as a positive number of microseconds below 9.2e12", fields[4].text);
    }
    const std::size_t series = *op * profile_dtypes.size() + *dtype;
    const auto [at, inserted] = first_line.try_emplace({series, *tokens, *context}, line_no);
    if (!inserted) {
      fail(origin, line_no, fields[0].column,
           "expected each (op, dtype, tokens, context) once (first at line " +
               std::to_string(at->second) + ")",
           content);
    }
    rows.push_back({series, *tokens, *context, *time_us});
  });
  if (!header) {
    throw std::invalid_argument(origin + ":" + std::to_string(lines + 1) +
                                ":1: expected the header " + header_text + ", got end of file");
  }
  if (rows.empty()) {
    throw std::invalid_argument(origin + ":" + std::to_string(lines + 1) +
                                ":1: expected at least one row after the header, got end of file");
  }

  std::sort(rows.begin(), rows.end(), [](const detail::row& a, const detail::row& b) {
    return std::tie(a.series, a.context, a.tokens) < std::tie(b.series, b.context, b.tokens);
  });
  profile_table t;
  t.origin_ = origin;
  t.rows_ = rows.size();
  for (const auto& r : rows) {
    auto& curves = t.series_[r.series].curves;
    const auto context = static_cast<double>(r.context);
    if (curves.empty() || curves.back().context != context) curves.push_back({context, {}, {}});
    curves.back().tokens.push_back(static_cast<double>(r.tokens));
    curves.back().time_us.push_back(r.time_us);
  }
  return t;
}

namespace {

/// Time in us at `tokens` along one curve: linear between bracketing rows, proportional to
/// tokens from the nearest row outside them.
template <class Curve>
double along_tokens(const Curve& c, double tokens) {
  const auto hi = std::upper_bound(c.tokens.begin(), c.tokens.end(), tokens);
  if (hi == c.tokens.begin()) return c.time_us.front() * (tokens / c.tokens.front());
  if (hi == c.tokens.end()) return c.time_us.back() * (tokens / c.tokens.back());
  const auto i = static_cast<std::size_t>(hi - c.tokens.begin());
  const double t0 = c.tokens[i - 1];
  const double y0 = c.time_us[i - 1];
  if (tokens == t0) return y0;
  const double w = (tokens - t0) / (c.tokens[i] - t0);
  return y0 + (c.time_us[i] - y0) * w;
}

}  // namespace

std::optional<time_ps> profile_table::lookup(std::string_view op, std::string_view dtype,
                                             double tokens, double context) const {
  const auto o = detail::op_index(op);
  if (!o) throw std::invalid_argument("profile lookup: unknown op '" + std::string(op) + "'");
  const auto d = detail::dtype_index(dtype);
  if (!d) throw std::invalid_argument("profile lookup: unknown dtype '" + std::string(dtype) + "'");
  if (!std::isfinite(tokens) || tokens < 0 || !std::isfinite(context) || context < 0) {
    throw std::invalid_argument(
        "profile lookup: expected tokens and context finite and >= 0, got " +
        detail::shortest(tokens) + " and " + detail::shortest(context));
  }
  const auto& curves = series_[*o * profile_dtypes.size() + *d].curves;
  if (curves.empty()) return std::nullopt;
  double us = 0;
  if (!detail::depends_on_context(*o)) {
    us = along_tokens(curves.front(), tokens);  // the parser admits context 0 only
  } else {
    const auto hi = std::upper_bound(curves.begin(), curves.end(), context,
                                     [](double c, const curve& x) { return c < x.context; });
    if (hi == curves.begin() || hi == curves.end()) {
      const curve& nearest = hi == curves.begin() ? curves.front() : curves.back();
      us = along_tokens(nearest, tokens) * ((context + 1) / (nearest.context + 1));
    } else {
      const curve& lo = *(hi - 1);
      const double y0 = along_tokens(lo, tokens);
      us = context == lo.context ? y0
                                 : y0 + (along_tokens(*hi, tokens) - y0) *
                                            ((context - lo.context) / (hi->context - lo.context));
    }
  }
  return ps_from_seconds(us * 1e-6);
}

}  // namespace moesim::sim::cluster
