# Runs one sweep scenario under `mpirun -n 2` (MPIEXEC, one compute thread a rank): the CSV and
# JSON must equal the threaded run's golden files tests/golden/<name>.sweep.{csv,json} byte for
# byte (see CMakeLists.txt). With BAD set, runs that file instead: it must exit 2 and print
# exactly one message, the threaded run's, on stderr (mpirun -q prints nothing of its own),
# also when only rank 1 has the bad file.
include(${CMAKE_CURRENT_LIST_DIR}/compare_golden.cmake)
set(ENV{OMPI_ALLOW_RUN_AS_ROOT} 1)  # CI runs as root
set(ENV{OMPI_ALLOW_RUN_AS_ROOT_CONFIRM} 1)
# One machine, shared memory only: no network probing in containers, and no cross-process
# memory copies (CMA), which container seccomp profiles often refuse.
set(mca --mca btl self,vader --mca btl_vader_single_copy_mechanism none)
set(mpirun ${MPIEXEC} -q -n 2 --oversubscribe ${mca})
file(MAKE_DIRECTORY ${OUT_DIR})
if(DEFINED BAD)
  execute_process(COMMAND ${MOESIM} sweep ${BAD} --quiet --out ${OUT_DIR}/bad
                  RESULT_VARIABLE rc ERROR_VARIABLE threaded)
  if(NOT rc EQUAL 2 OR threaded STREQUAL "")
    message(FATAL_ERROR "moesim sweep ${BAD}: expected exit 2 and a message, got ${rc}")
  endif()
  # Both ranks fail; then only rank 1 (an MPMD launch: rank 0 runs the good SCENARIO), whose
  # message rank 0 must print.
  foreach(ranks "2 ranks" "rank 1 only")
    if(ranks STREQUAL "2 ranks")
      set(cmd ${mpirun} ${MOESIM} sweep ${BAD} --quiet --out ${OUT_DIR}/bad)
    else()
      set(cmd ${MPIEXEC} -q --oversubscribe ${mca}
              -n 1 ${MOESIM} sweep ${SCENARIO} --quiet --out ${OUT_DIR}/bad :
              -n 1 ${MOESIM} sweep ${BAD} --quiet --out ${OUT_DIR}/bad)
    endif()
    execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                    TIMEOUT 120)
    if(NOT rc EQUAL 2)
      message(FATAL_ERROR "${ranks}: mpirun moesim sweep ${BAD}: expected exit 2, got ${rc}\n"
                          "${out}${err}")
    endif()
    if(NOT err STREQUAL threaded OR NOT out STREQUAL "")
      message(FATAL_ERROR "${ranks}: mpirun moesim sweep ${BAD}: expected exactly the threaded "
                          "run's message\n${threaded}on stderr, got\n${err}and on stdout\n${out}")
    endif()
  endforeach()
  if(EXISTS ${OUT_DIR}/bad.partial.jsonl OR EXISTS ${OUT_DIR}/bad.json)
    message(FATAL_ERROR "a sweep refused as bad input wrote ${OUT_DIR}/bad.*")
  endif()
  return()
endif()
file(REMOVE ${OUT_DIR}/mpi.csv ${OUT_DIR}/mpi.json)
execute_process(
  COMMAND ${mpirun} ${MOESIM} sweep ${SCENARIO} --quiet --jobs 1 --out ${OUT_DIR}/mpi
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 300)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "mpirun -n 2 moesim sweep ${SCENARIO} failed (exit ${rc}):\n${out}${err}")
endif()
if(EXISTS ${OUT_DIR}/mpi.partial.jsonl)
  message(FATAL_ERROR "${NAME}: the sweep journal was not removed at the end")
endif()
foreach(ext csv json)
  moesim_compare_golden(${OUT_DIR}/mpi.${ext} ${GOLDEN_DIR}/${NAME}.sweep.${ext}
                        "${NAME}: the MPI sweep's ${ext} (mpirun -n 2)")
endforeach()
