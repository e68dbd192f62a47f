# Finds every third-party library with find_package. A missing one stops configuration
# with the Debian package that provides it (tools/setup.sh installs them all).

function(moesim_require package debian_package)
  find_package(${package} ${ARGN} QUIET)
  if(NOT ${package}_FOUND)
    message(FATAL_ERROR
      "moesim needs ${package}, which was not found. On Debian 12 install it with:\n"
      "  sudo apt-get install ${debian_package}\n"
      "or run tools/setup.sh, which installs everything moesim needs.")
  endif()
endfunction()

moesim_require(Boost libboost-graph-dev 1.74 CONFIG COMPONENTS graph)
moesim_require(yaml-cpp libyaml-cpp-dev)
moesim_require(fmt libfmt-dev)
moesim_require(nlohmann_json nlohmann-json3-dev)
moesim_require(Catch2 catch2 2)
moesim_require(Eigen3 libeigen3-dev 3.3 NO_MODULE)
moesim_require(CLI11 libcli11-dev CONFIG)
moesim_require(Threads libc6-dev)

# METIS (graph partitioning for the topology_aware expert placement, sim/place) ships no CMake
# package on Debian: find its header and library, and stop with the package name if missing.
find_path(METIS_INCLUDE_DIR metis.h)
find_library(METIS_LIBRARY metis)
if(NOT METIS_INCLUDE_DIR OR NOT METIS_LIBRARY)
  message(FATAL_ERROR
    "moesim needs METIS (metis.h and libmetis), which was not found. On Debian 12 install it with:\n"
    "  sudo apt-get install libmetis-dev\n"
    "or run tools/setup.sh, which installs everything moesim needs.")
endif()
add_library(moesim_metis INTERFACE)
target_include_directories(moesim_metis SYSTEM INTERFACE ${METIS_INCLUDE_DIR})
target_link_libraries(moesim_metis INTERFACE ${METIS_LIBRARY})

# Open MPI is optional for building: without it `moesim sweep` runs on threads only.
find_package(MPI COMPONENTS CXX QUIET)
if(MPI_CXX_FOUND)
  message(STATUS "moesim: Open MPI found, distributed sweeps enabled")
else()
  message(STATUS "moesim: Open MPI not found (apt-get install libopenmpi-dev openmpi-bin): "
                 "sweeps run on threads only")
endif()
