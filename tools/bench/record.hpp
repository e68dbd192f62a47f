#pragma once
// Stored benchmark results, the one source of the README's Performance section.
//
// `moesim bench NAME --record FILE` runs benchmark NAME with --json and appends one run to FILE
// (tools/bench/results/NAME.json; created when missing):
//   {"benchmark": NAME, "command": "moesim bench NAME --json",
//    "runs": [{"date": UTC ISO 8601, "machine": {"cpu", "cores", "memory_bytes", "os",
//              "load_average"}, "result": <the --json output>}]}
// tools/bench/record.sh re-records a benchmark from scratch. performance_section() renders the
// README's table from those files and the hand-written titles and targets of
// tools/readme/benchmarks.yaml.
#include <iosfwd>
#include <string>

#include "tools/bench/bench.hpp"

namespace moesim::bench {

using bench_fn = int (*)(const options&, std::ostream&);

/// Runs `fn` once with JSON output and appends the run to `file`. Returns fn's exit code.
/// Throws io::input_error when `file` exists and is not a record of `name`.
int record(const std::string& name, bench_fn fn, options opt, const std::string& file,
           std::ostream& log);

/// The Performance section: the machine line and one table row per entry of `notes_path`, from
/// the records in `results_dir`. Throws io::input_error naming a missing record or an entry
/// whose `row` no renderer knows.
[[nodiscard]] std::string performance_section(const std::string& results_dir,
                                              const std::string& notes_path);

}  // namespace moesim::bench
