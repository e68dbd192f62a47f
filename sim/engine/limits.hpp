#pragma once
// moesim's limits, in one place: the numbers, why they are what they are, and the reading of
// input files under them. Header-only so that every reader (models/routing_trace,
// sim/serve/request_trace, sim/io) can use it without a link dependency.
//
// Two kinds:
// - Input files (fixed): only regular files are read (a directory, /dev/zero or a FIFO is
//   refused before reading), at most `input_file_bytes` (`yaml_file_bytes` for YAML, whose
//   parser holds ~40x the text in nodes), and only UTF-8 text.
// - Work (sim/io/limits.hpp estimates it; `--allow-large` on any verb lifts these): refused
//   before anything is allocated, with the estimate and the limit.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace moesim::limits {

// ---- input files -------------------------------------------------------------------------
/// Any data file: routing and request traces, JSON weights, metrics, baselines. 256 MiB: the
/// largest recorded routing trace we ship is 6 MB; nlohmann::json holds ~8x the text, so 256 MiB
/// of JSON is ~2 GiB in memory.
inline constexpr std::uint64_t input_file_bytes = 256ULL << 20;
/// Scenario, model and cluster YAML: 16 MiB (the largest scenario is 9 KB; yaml-cpp holds
/// ~40x the text, and the node count is capped at doc::limits::max_nodes anyway).
inline constexpr std::uint64_t yaml_file_bytes = 16ULL << 20;

// ---- work (overridable with --allow-large) -------------------------------------------------
/// Simulated devices of one cluster. The topology graph costs ~2.2 KB a device (measured:
/// `moesim topo tpu-v5p --shape 128x128x64`, 2^20 devices, 2.35 GB and 48 s; 64x64x64, 2^18
/// devices, 0.57 GB and 9 s): 2^18 devices stays near 0.6 GB, above every deployed cluster we
/// model (a TPU v5p pod is 8960 chips).
inline constexpr double devices = 1 << 18;
/// Flows of one collective or expert exchange (an all-to-all of R ranks has R(R-1)). ~380
/// bytes and ~16 us a flow (measured: `moesim collective --cluster dgx-h100 --nodes 128 --op
/// all-to-all --bytes 1G`, 1024 ranks = 1.05M flows, 0.40 GB and 17 s): 2^22 flows is ~1.5 GiB
/// and about a minute.
inline constexpr double flows = 1 << 22;
/// Requests of one serving run. ~4.5 ms of wall time a request (measured: serve-mixtral-h100
/// at rate 400 x 20 s = 8000 requests, 36 s): 10^6 requests is over an hour.
inline constexpr double serve_requests = 1e6;
/// Tokens (prompt + output) of one serving run: ~3.5 us a token on the same measurement
/// (1280 tokens a request), so 2^30 tokens is about an hour.
inline constexpr double serve_tokens = 1 << 30;
/// Working memory of a verb that holds per-token matrices (route: tokens x hidden activations
/// and tokens x experts scores; dispatch: ranks x tokens x experts gate scores): 4 GiB.
inline constexpr double working_bytes = 4.0 * (1ULL << 30);
/// Gate scores drawn and routed by `moesim dispatch` (ranks x tokens x experts): ~46 ns each
/// (measured: `moesim dispatch --cluster dgx-h800 --ranks 8 --tokens 131072`, 2^28 scores,
/// 12.4 s), so 2^30 (1024 ranks at the default 4096 tokens and 256 experts) is about 50 s.
inline constexpr double gate_scores = 1 << 30;
/// Points of one sweep: 10^5 (tens of MB of JSON results; hours at the typical 0.1 s a point).
inline constexpr std::size_t sweep_points = 100'000;

/// The flag that lifts the work limits, the same on every verb.
inline constexpr const char* allow_large_flag = "--allow-large";

// ---- reading -------------------------------------------------------------------------------
/// The first byte of `text` that is not well-formed UTF-8 (overlong forms, surrogates and code
/// points beyond U+10FFFF included), as a 0-based offset; nullopt when all of it is. O(n).
inline std::optional<std::size_t> invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // beyond U+10FFFF
    } else {
      return i;
    }
    if (i + len > n) return i;
    if (s[i + 1] < lo || s[i + 1] > hi) return i;
    for (std::size_t k = 2; k < len; ++k) {
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return std::nullopt;
}

/// "line:col" (1-based; the column counts characters) of byte `offset` of `text`.
inline std::string line_col(std::string_view text, std::size_t offset) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      col = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

/// `text` with every byte that is not UTF-8 written as \xNN, so a message quoting it is text.
inline std::string escape_non_utf8(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  while (const auto at = invalid_utf8(text)) {
    const auto b = static_cast<unsigned char>(text[*at]);
    out.append(text.substr(0, *at)).append("\\x").push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
    text.remove_prefix(*at + 1);
  }
  return out.append(text);
}

/// Throws std::invalid_argument "ORIGIN:LINE:COL: not UTF-8 text (byte 0xNN)" when `text` is
/// not UTF-8.
inline void check_utf8(std::string_view text, std::string_view origin) {
  if (const auto at = invalid_utf8(text)) {
    static constexpr char hex[] = "0123456789ABCDEF";
    const auto b = static_cast<unsigned char>(text[*at]);
    throw std::invalid_argument(escape_non_utf8(origin) + ":" + line_col(text, *at) +
                                ": not UTF-8 text (byte 0x" + hex[b >> 4] + hex[b & 15] +
                                "); save the file as UTF-8");
  }
}

/// Refuses the input file `path` before it is opened: throws std::invalid_argument naming the
/// path when it exists but is not a regular file (a directory, a device, a FIFO: so /dev/zero
/// cannot hang a reader) or is larger than `max_bytes`. A missing file passes (the caller
/// reports it in its own words). O(1).
inline void check_input_file(const std::filesystem::path& path,
                             std::uint64_t max_bytes = input_file_bytes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return;
  const std::string p = path.string();
  if (!fs::is_regular_file(st)) {
    throw std::invalid_argument(p + ": not a regular file (" +
                                (fs::is_directory(st) ? std::string("a directory")
                                                      : std::string("a device, FIFO or socket")) +
                                "): moesim reads only regular files");
  }
  const std::uintmax_t size = fs::file_size(path, ec);
  if (!ec && size > max_bytes) {
    throw std::invalid_argument(p + ": " + std::to_string(size) + " bytes, more than the " +
                                std::to_string(max_bytes >> 20) +
                                " MiB limit of an input file (sim/engine/limits.hpp)");
  }
}

/// The whole of the input file `path` as text, or nullopt when it cannot be opened (missing,
/// unreadable: the caller says so in its own words). Throws std::invalid_argument as
/// check_input_file does, or when the text is not UTF-8. O(size).
inline std::optional<std::string> read_input_text(const std::filesystem::path& path,
                                                  std::uint64_t max_bytes = input_file_bytes) {
  check_input_file(path, max_bytes);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  std::string out = std::move(text).str();
  check_utf8(out, path.string());
  return out;
}

}  // namespace moesim::limits
