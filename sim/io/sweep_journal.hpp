#pragma once
// The sweep journal: completed points made durable as they finish, so a killed sweep resumes.
//
// `moesim sweep` appends each finished point to PREFIX.partial.jsonl (JSON Lines) in completion
// order, flushed and fdatasync'ed per point, and removes the journal once PREFIX.json and
// PREFIX.csv are written (point order). `--resume` keeps the points of both the final JSON and
// the journal. The first line is the header {"schema", "axes", "seeds"} of the sweep document
// (sim/io/sweep.hpp), each further line one point's JSON (point_json), so header plus lines is a
// sweep document and resumable_points matches it against the sweep as it is now. A last line
// cut short by the kill is ignored; an unreadable line elsewhere is an error.
#include <cstddef>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "sim/io/sweep.hpp"

namespace moesim::io {

/// PREFIX.partial.jsonl.
std::string sweep_journal_path(const std::string& prefix);

/// The journal's points that match `spec` (by index, empty where absent), as resumable_points.
/// Throws input_error for a journal of another sweep or a corrupt line (not the last).
std::vector<json> read_sweep_journal(const std::string& path, const sweep_spec& spec,
                                     std::size_t seeds, std::size_t points);

/// An open journal. Owns the file; not copyable.
class sweep_journal {
 public:
  /// Creates `path` afresh: the header line, then the non-null entries of `kept` (points already
  /// done, e.g. resumed), synced to disk. Throws input_error when the file cannot be written.
  sweep_journal(std::string path, const sweep_spec& spec, std::size_t seeds,
                const std::vector<json>& kept);
  ~sweep_journal();
  sweep_journal(const sweep_journal&) = delete;
  sweep_journal& operator=(const sweep_journal&) = delete;

  /// Appends one point and syncs it (write + fflush + fdatasync: O(point size) plus one disk
  /// sync). Thread-safe. Throws input_error when the write fails.
  void append(const json& point);
  /// Closes and deletes the file (after the final outputs are written).
  void remove();

 private:
  void write(const std::string& lines);  ///< write, flush and sync
  std::string path_;
  std::FILE* file_ = nullptr;
  std::mutex mutex_;
};

}  // namespace moesim::io
