// moesim command line: see cli.hpp.
#include <malloc.h>

#include "tools/moesim/cli.hpp"

int main(int argc, char** argv) {
  // The routing maths allocates and frees matrices of tens of MiB per MoE layer (tokens x
  // experts scores). Above glibc's mmap threshold each would be a fresh mapping, faulted in page
  // by page and returned at once; keeping them in the heap makes the next layer reuse the pages.
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return moesim::cli::main(argc, argv);
}
