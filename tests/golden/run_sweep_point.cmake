# A sweep point alone: `moesim run` of the sweep's scenario with the point's values as --set
# overrides must give the numbers the sweep golden
# holds for that point, bit for bit. Run by "determinism: sweep point alone" for the points in
# POINTS (indices into tests/golden/<NAME>.sweep.json), strategy "base".
file(READ ${GOLDEN_DIR}/${NAME}.sweep.json sweep)
file(MAKE_DIRECTORY ${OUT_DIR})
foreach(p IN LISTS POINTS)
  string(JSON values GET "${sweep}" points ${p} values)
  string(JSON row GET "${sweep}" points ${p} rows 0)
  string(JSON feasible GET "${row}" feasible)
  if(NOT feasible)
    message(FATAL_ERROR "${NAME}: point ${p} is infeasible in the golden; choose a feasible one")
  endif()
  string(JSON n LENGTH "${values}")
  math(EXPR last "${n} - 1")
  set(sets "")
  # CMake lists a JSON object's members alphabetically, not in axis order: fine for the points
  # used here, whose only nested pair (moe, moe.capacity_factor) sorts in axis order too.
  foreach(i RANGE ${last})
    string(JSON key MEMBER "${values}" ${i})
    string(JSON value GET "${values}" ${key})
    list(APPEND sets --set "${key}=${value}")
  endforeach()
  execute_process(
    COMMAND ${MOESIM} run ${SCENARIO} ${sets} --quiet --metrics ${OUT_DIR}/point${p}.json
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "moesim run ${SCENARIO} ${sets} failed (exit ${rc}):\n${err}")
  endif()
  file(READ ${OUT_DIR}/point${p}.json alone)
  foreach(pair summary:step_time_s summary:tokens_per_s summary:peak_hbm_bytes
               routing:drop_rate routing:dispatch_bytes_per_step)
    string(REPLACE ":" ";" path ${pair})
    list(GET path 0 section)
    list(GET path 1 field)
    string(JSON got GET "${alone}" ${section} ${field})
    string(JSON want GET "${row}" metrics ${field})
    if(NOT got STREQUAL want)
      message(FATAL_ERROR "${NAME} point ${p}: ${field} alone ${got}, inside the sweep ${want}")
    endif()
  endforeach()
endforeach()
