#pragma once
// Shared by the loader tests: the message loading a YAML text (named "s.yaml") fails with, or
// "no error". One definition, so the tests of a target can share a unity-build unit.
#include <string>

#include "sim/io/error.hpp"
#include "sim/io/scenario_loader.hpp"

namespace moesim::test {

inline std::string error_of(const std::string& yaml, const io::load_options& opt = {}) {
  try {
    (void)io::load_scenario_text(yaml, "s.yaml", opt);
  } catch (const io::input_error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace moesim::test
