# Runs one sweep scenario at --jobs 1 and --jobs 2: the CSV and JSON must be byte-identical
# between the runs and equal tests/golden/<name>.sweep.{csv,json} (see CMakeLists.txt).
# With MOESIM_UPDATE_GOLDENS=1 in the environment it rewrites the golden files instead.
include(${CMAKE_CURRENT_LIST_DIR}/compare_golden.cmake)
# tests/golden/<name>.sweep.args (optional) adds `moesim sweep` arguments, one a line (e.g.
# `--limit` and `8`), that cut a large sweep to a few seconds; the README states which.
set(extra "")
if(EXISTS ${GOLDEN_DIR}/${NAME}.sweep.args)
  file(STRINGS ${GOLDEN_DIR}/${NAME}.sweep.args lines)
  foreach(line IN LISTS lines)
    if(line AND NOT line MATCHES "^#")
      list(APPEND extra ${line})
    endif()
  endforeach()
endif()
file(MAKE_DIRECTORY ${OUT_DIR})
foreach(jobs 1 2)
  execute_process(
    COMMAND ${MOESIM} sweep ${SCENARIO} ${extra} --quiet --jobs ${jobs} --out ${OUT_DIR}/j${jobs}
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "moesim sweep ${SCENARIO} --jobs ${jobs} failed (exit ${rc}):\n${err}")
  endif()
endforeach()
foreach(ext csv json)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT_DIR}/j1.${ext}
                          ${OUT_DIR}/j2.${ext} RESULT_VARIABLE same)
  if(NOT same EQUAL 0)
    message(FATAL_ERROR "${NAME}: --jobs 1 and --jobs 2 wrote different ${ext} files")
  endif()
  set(golden ${GOLDEN_DIR}/${NAME}.sweep.${ext})
  if("$ENV{MOESIM_UPDATE_GOLDENS}" STREQUAL "1")
    file(COPY_FILE ${OUT_DIR}/j1.${ext} ${golden})
    message(STATUS "updated ${golden}")
    continue()
  endif()
  if(NOT EXISTS ${golden})
    message(FATAL_ERROR "${NAME}: no golden file ${golden} (run tools/update-goldens.sh)")
  endif()
  moesim_compare_golden(${OUT_DIR}/j1.${ext} ${golden} "${NAME}: the sweep's ${ext}")
endforeach()
