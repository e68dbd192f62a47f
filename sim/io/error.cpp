#include "sim/io/error.hpp"

#include <algorithm>
#include <vector>

namespace moesim::io {

std::string source_loc::str() const {
  std::string s = origin ? *origin : std::string("<input>");
  if (line > 0) s += ":" + std::to_string(line) + ":" + std::to_string(column);
  return s;
}

namespace {
std::string join_parts(const source_loc& where, std::string_view context, std::string_view path,
                       std::string_view what) {
  std::string s = where.str();
  if (!context.empty()) {
    s += ": ";
    s += context;
  }
  if (!path.empty()) {
    s += ": ";
    s += path;
  }
  s += ": ";
  s += what;
  return s;
}
}  // namespace

input_error::input_error(const source_loc& where, std::string_view path, std::string_view what)
    : input_error(where, {}, path, what) {}

input_error::input_error(const source_loc& where, std::string_view context, std::string_view path,
                         std::string_view what)
    : std::runtime_error(join_parts(where, context, path, what)),
      located_(true),
      where_(where),
      context_(context),
      path_(path),
      detail_(what) {}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment (Damerau-Levenshtein without repeated edits of one substring):
  // a swap of two neighbours ("knid" for "kind") is one edit, the commonest typo.
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  std::vector<std::size_t> d((n + 1) * (m + 1));
  auto at = [&](std::size_t i, std::size_t j) -> std::size_t& { return d[i * (m + 1) + j]; };
  for (std::size_t i = 0; i <= n; ++i) at(i, 0) = i;
  for (std::size_t j = 0; j <= m; ++j) at(0, j) = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
      }
    }
  }
  return at(n, m);
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::size_t limit = std::max<std::size_t>(1, word.size() / 3);
  std::string best;
  std::size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

}  // namespace moesim::io
