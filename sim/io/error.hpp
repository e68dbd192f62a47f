#pragma once
// Bad input: the one exception type for everything a user can get wrong (scenario files,
// presets, --set overrides, command-line values). The message is complete and ready to print:
//   scenarios/x.yaml:12:5: model.lyaers: unknown key; did you mean 'layers'?
// The CLI maps it to exit code 2. Internal errors are other exception types (exit code 1).
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace moesim::io {

/// Where a value came from: a file position (1-based line and column) or a named origin such
/// as "--set model.layers=4" (line 0 = no position).
struct source_loc {
  std::shared_ptr<const std::string> origin;
  int line = 0;
  int column = 0;

  [[nodiscard]] std::string str() const;
};

class input_error : public std::runtime_error {
 public:
  explicit input_error(const std::string& message) : std::runtime_error(message) {}
  /// "<loc>: <path>: <what>", omitting empty parts.
  input_error(const source_loc& where, std::string_view path, std::string_view what);
  /// "<loc>: <context>: <path>: <what>": the context names what the key belongs to, e.g.
  /// "strategy 'ep4'" for a key of one `strategies:` item.
  input_error(const source_loc& where, std::string_view context, std::string_view path,
              std::string_view what);

  /// The parts of a located error (so a caller can re-anchor or name it); a bare-message
  /// error is not located and has only what().
  [[nodiscard]] bool located() const noexcept { return located_; }
  [[nodiscard]] const source_loc& where() const noexcept { return where_; }
  [[nodiscard]] const std::string& context() const noexcept { return context_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] const std::string& detail() const noexcept { return detail_; }

 private:
  bool located_ = false;
  source_loc where_;
  std::string context_;
  std::string path_;
  std::string detail_;
};

/// The candidate closest to `word` by edit distance if it is close enough to be a plausible
/// typo (distance <= max(1, |word| / 3)), else empty. Ties go to the first candidate.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

/// Levenshtein distance; O(|a|·|b|).
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace moesim::io
