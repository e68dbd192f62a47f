# Runs one scenario twice (1 and 2 threads) and checks determinism and the golden metrics (see
# CMakeLists.txt).
# With MOESIM_UPDATE_GOLDENS=1 in the environment it rewrites the golden file instead.
set(sets "")
if(EXISTS ${GOLDEN_DIR}/${NAME}.set)
  file(STRINGS ${GOLDEN_DIR}/${NAME}.set lines)
  foreach(line IN LISTS lines)
    if(line AND NOT line MATCHES "^#")
      list(APPEND sets --set ${line})
    endif()
  endforeach()
endif()
file(MAKE_DIRECTORY ${OUT_DIR})
# Run a on one thread, run b on two: the outputs may not depend on the thread count.
foreach(run a b)
  if(run STREQUAL "a")
    set(threads 1)
  else()
    set(threads 2)
  endif()
  execute_process(
    COMMAND ${MOESIM} run ${SCENARIO} ${sets} --quiet --threads ${threads}
            --metrics ${OUT_DIR}/${run}.metrics.json --trace ${OUT_DIR}/${run}.trace.json
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "moesim run ${SCENARIO} failed (exit ${rc}):\n${err}")
  endif()
endforeach()
foreach(kind metrics trace)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT_DIR}/a.${kind}.json
                          ${OUT_DIR}/b.${kind}.json RESULT_VARIABLE same)
  if(NOT same EQUAL 0)
    message(FATAL_ERROR
            "${NAME}: two runs of the same scenario and seed (1, 2 threads) wrote different ${kind}")
  endif()
endforeach()
set(golden ${GOLDEN_DIR}/${NAME}.metrics.json)
if("$ENV{MOESIM_UPDATE_GOLDENS}" STREQUAL "1")
  file(COPY_FILE ${OUT_DIR}/a.metrics.json ${golden})
  message(STATUS "updated ${golden}")
  return()
endif()
if(NOT EXISTS ${golden})
  message(FATAL_ERROR "${NAME}: no golden file ${golden} (run tools/update-goldens.sh)")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT_DIR}/a.metrics.json ${golden}
                RESULT_VARIABLE same)
if(NOT same EQUAL 0)
  execute_process(COMMAND diff -u ${golden} ${OUT_DIR}/a.metrics.json OUTPUT_VARIABLE d)
  string(SUBSTRING "${d}" 0 4000 d)
  message(FATAL_ERROR "${NAME}: metrics differ from the golden file:\n${d}")
endif()
