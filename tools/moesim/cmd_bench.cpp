#include <iostream>
#include <map>
#include <string>

#include "tools/bench/bench.hpp"
#include "tools/bench/record.hpp"
#include "tools/moesim/commands.hpp"
#include "tools/moesim/options.hpp"

namespace moesim::cli {

void add_bench_command(CLI::App& app, commands& cmds) {
  auto* sub = app.add_subcommand("bench", "Measure moesim's own speed on this machine");
  struct state {
    std::string name;
    bench::options opt;
    std::string record;
  };
  auto st = std::make_shared<state>();
  const std::map<std::string, int (*)(const bench::options&, std::ostream&)> benches{
      {"phold", &bench::phold},
      {"moe-math", &bench::moe_math},
      {"router", &bench::router},
      {"alltoall", &bench::alltoall},
      {"alltoall-exact", &bench::alltoall_exact},
      {"ironwood", &bench::ironwood},
      {"steps", &bench::steps},
      {"serve", &bench::serve},
      {"serve-pd", &bench::serve_pd},
      {"rebalance", &bench::rebalance},
      {"spec-grid", &bench::spec_grid},
      {"spec-grid-offload", &bench::spec_grid_offload},
      {"place", &bench::place},
      {"sweep", &bench::sweep}};
  std::vector<std::string> names;
  for (const auto& [n, f] : benches) names.push_back(n);
  sub->add_option("name", st->name, "Benchmark to run")->required()->check(one_of(names));
  sub->add_option("--seed", st->opt.seed, "Random seed")->check(seed_value());
  sub->add_option("--min-time", st->opt.min_time_s, "Seconds per measured loop (at least)")
      ->check(finite_range(0.01, 600.0));
  sub->add_flag("--json", st->opt.json, "Print one JSON object");
  sub->add_option("--record", st->record,
                  "Append this run (JSON, with the date and machine) to a results file, e.g. "
                  "tools/bench/results/NAME.json, the source of the README's Performance table");
  sub->callback([&cmds, st, benches] {
    cmds.run = [st, benches] {
      const auto fn = benches.at(st->name);
      if (!st->record.empty()) return bench::record(st->name, fn, st->opt, st->record, std::cout);
      return fn(st->opt, std::cout);
    };
  });
}

}  // namespace moesim::cli
