#pragma once
// The contract every fuzz target checks (issue 16, "bad input never breaks moesim"): a reader
// given any bytes either returns or throws the one exception type its header documents for bad
// input (io::input_error for the scenario loader and --set, std::invalid_argument for the trace
// readers, which the loader turns into input_error with the file's name). Anything else (another
// exception, a crash, a sanitizer report, a hang caught by libFuzzer's -timeout) is a finding:
// fix it and add the input to tests/fuzz/corpus/<target>/ named after the bug.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <typeinfo>

namespace moesim::fuzz {

/// Runs `f`; returns normally when it returns or throws `Allowed`; otherwise prints what escaped
/// and aborts, which libFuzzer (and the replay driver) report as a crash with the input saved.
template <class Allowed, class F>
void expect_only(F&& f) {
  try {
    f();
  } catch (const Allowed&) {
    return;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: escaped %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fuzz: escaped a non-std exception\n");
    std::abort();
  }
}

}  // namespace moesim::fuzz
