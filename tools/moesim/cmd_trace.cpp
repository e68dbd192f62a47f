// `moesim trace convert`: routing traces from SGLang's and vLLM's expert-distribution records
// (models/trace_convert.hpp; README: Routing traces).
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "models/trace_convert.hpp"
#include "sim/io/error.hpp"
#include "sim/io/limits.hpp"
#include "sim/io/spec_loader.hpp"
#include "tools/moesim/commands.hpp"
#include "tools/moesim/options.hpp"

namespace moesim::cli {

void add_trace_command(CLI::App& app, commands& cmds) {
  auto* trace = app.add_subcommand("trace", "Routing traces for sampling.routing_trace");
  trace->require_subcommand(1);
  auto* sub = trace->add_subcommand(
      "convert",
      "Convert an SGLang or vLLM expert-distribution record (its JSON export) to a trace");
  struct state {
    std::string from;
    std::string model;
    std::string in;
    std::string out;
    int tokens = 0;
    std::uint64_t seed = 1;
  };
  auto st = std::make_shared<state>();
  sub->add_option("--from", st->from, "Whose record: sglang or vllm")
      ->required()
      ->check(one_of({"sglang", "vllm"}));
  sub->add_option("--model", st->model, "The model it recorded (preset name or YAML file)")
      ->required();
  sub->add_option("--tokens", st->tokens,
                  "Tokens per layer: synthesised from counts (default: the recorded ones, at "
                  "most 4096) or the first recorded ones (default: all)")
      ->check(CLI::Range(1, 1 << 22));
  sub->add_option("--seed", st->seed, "Seed of the synthesis from counts")->check(seed_value());
  sub->add_option("input", st->in, "The JSON export of the record")->required();
  sub->add_option("output", st->out, "The trace to write: .json or .csv")->required();
  sub->callback([&cmds, st] {
    cmds.run = [st] {
      const std::string ext = std::filesystem::path(st->out).extension().string();
      if (ext != ".json" && ext != ".csv") {
        throw io::input_error("output " + st->out + ": extension must be .json or .csv");
      }
      const auto model = io::load_model(st->model);
      std::istringstream in(io::read_input_file(st->in, "cannot open " + st->in));
      models::trace_conversion opt;
      opt.from = st->from == "vllm" ? models::dump_source::vllm : models::dump_source::sglang;
      opt.origin = st->in;
      opt.tokens = st->tokens;
      opt.seed = st->seed;
      models::routing_trace t;
      try {
        t = models::convert_expert_dump(in, model, opt);
      } catch (const std::invalid_argument& e) {
        throw io::input_error(e.what());
      }
      std::ofstream out(st->out, std::ios::binary);
      if (ext == ".json") {
        models::write_routing_trace_json(t, out);
      } else {
        models::write_routing_trace_csv(t, out);
      }
      out.close();
      if (!out) throw io::input_error("cannot write " + st->out);
      fmt::print(std::cout, "{}: {} MoE layers of {} ({} to {}), {} tokens in the first\n  {}\n",
                 st->out, t.layers.size(), model.name, t.layer_ids.front(), t.layer_ids.back(),
                 t.layers.front().tokens, t.generated_by);
      return 0;
    };
  });
}

}  // namespace moesim::cli
