#include "sim/io/sweep_journal.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace moesim::io {

std::string sweep_journal_path(const std::string& prefix) {
  return prefix + ".partial.jsonl";
}

std::vector<json> read_sweep_journal(const std::string& path, const sweep_spec& spec,
                                     std::size_t seeds, std::size_t points) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path + ": --resume: cannot read the sweep journal");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  // The kill may cut the last line short (no newline, or half a JSON document).
  json doc;
  json parsed = json::array();
  for (std::size_t k = 0; k < lines.size(); ++k) {
    json j;
    try {
      j = json::parse(lines[k]);
    } catch (const json::exception& e) {
      if (k + 1 == lines.size()) break;
      throw input_error(path + ":" + std::to_string(k + 1) + ": --resume: not a JSON line (" +
                        e.what() + "); remove the journal to start over");
    }
    if (k == 0) {
      doc = std::move(j);
    } else {
      parsed.push_back(std::move(j));
    }
  }
  if (!doc.is_object()) {
    return std::vector<json>(points);  // killed before the header was whole: nothing done
  }
  doc["points"] = std::move(parsed);
  return resumable_points(doc, spec, seeds, points, path);
}

sweep_journal::sweep_journal(std::string path, const sweep_spec& spec, std::size_t seeds,
                             const std::vector<json>& kept)
    : path_(std::move(path)), file_(std::fopen(path_.c_str(), "wb")) {
  if (file_ == nullptr) throw input_error(path_ + ": cannot write the sweep journal");
  std::string text =
      json{{"schema", sweep_schema}, {"axes", spec.axis_names()}, {"seeds", seeds}}.dump() + "\n";
  for (const auto& p : kept) {
    if (!p.is_null()) text += p.dump() + "\n";
  }
  write(text);
}

sweep_journal::~sweep_journal() {
  if (file_ != nullptr) std::fclose(file_);
}

void sweep_journal::write(const std::string& line) {
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0 ||
      ::fdatasync(::fileno(file_)) != 0) {
    throw input_error(path_ + ": cannot write the sweep journal");
  }
}

void sweep_journal::append(const json& point) {
  const std::lock_guard lock(mutex_);
  write(point.dump() + "\n");
}

void sweep_journal::remove() {
  const std::lock_guard lock(mutex_);
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  std::error_code ignored;
  std::filesystem::remove(path_, ignored);
}

}  // namespace moesim::io
