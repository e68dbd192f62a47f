#pragma once
// A file compiled into the binary (see cmake/Embed.cmake).
#include <span>
#include <string_view>

namespace moesim {

struct embedded_file {
  std::string_view path;     ///< repository-relative, e.g. "models/presets/mixtral-8x7b.yaml"
  std::string_view content;
};

}  // namespace moesim
