# `moesim accuracy --json --rows ROWS` at --jobs 1 and at --jobs 2: stdout must be byte-identical
# (the pool keeps row order, rows share no mutable state). -DMOESIM, -DROWS, -DOUT_DIR.
file(MAKE_DIRECTORY ${OUT_DIR})
foreach(jobs 1 2)
  execute_process(COMMAND ${MOESIM} accuracy --json --rows ${ROWS} --jobs ${jobs}
                  OUTPUT_FILE ${OUT_DIR}/j${jobs}.json RESULT_VARIABLE rc ERROR_VARIABLE err)
  # Exit 1 is a failing row (the baseline test reports it); anything else is an error.
  if(NOT rc EQUAL 0 AND NOT rc EQUAL 1)
    message(FATAL_ERROR "moesim accuracy --rows ${ROWS} --jobs ${jobs}: exit ${rc}\n${err}")
  endif()
endforeach()
file(READ ${OUT_DIR}/j1.json one)
if(NOT one MATCHES "\"case\"")
  message(FATAL_ERROR "moesim accuracy --rows ${ROWS}: no rows in the JSON:\n${one}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT_DIR}/j1.json ${OUT_DIR}/j2.json
                RESULT_VARIABLE same)
if(NOT same EQUAL 0)
  message(FATAL_ERROR "moesim accuracy --rows ${ROWS}: --jobs 1 and --jobs 2 print different JSON")
endif()
