#pragma once
// The `moesim` command line. Exit codes: 0 success, 2 bad input (files, values, or the
// command line itself), 1 internal error. Errors go to stderr; results to stdout.
namespace moesim::cli {

int main(int argc, char** argv);

}  // namespace moesim::cli
