#include "tools/moesim/cli.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "sim/io/error.hpp"
#include "tools/moesim/commands.hpp"

namespace moesim::cli {

namespace {
constexpr int exit_bad_input = 2;
constexpr int exit_internal = 1;
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"moesim: discrete-event simulator for Mixture-of-Experts clusters", "moesim"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "moesim 0.1.0");
  commands cmds;
  register_commands(app, cmds);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 uses 0 for --help/--version and its own codes for usage errors: all usage errors
    // are bad input, said in one line like every other error.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "error: " << e.what() << "\n";
    return exit_bad_input;
  }
  try {
    return cmds.run();
  } catch (const io::input_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return exit_bad_input;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << "\n";
    return exit_internal;
  }
}

}  // namespace moesim::cli
