// moesim command line: see cli.hpp.
#include "tools/moesim/cli.hpp"

int main(int argc, char** argv) { return moesim::cli::main(argc, argv); }
