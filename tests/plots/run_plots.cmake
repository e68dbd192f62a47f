# The plots tests (tests/plots/CMakeLists.txt). MODE=figures: moesim outputs -> tools/plot.py ->
# checked images; MODE=errors: plot.py's bad-input errors.

# Debian's python3-matplotlib is for /usr/bin/python3; a python3 earlier on PATH (pyenv, a venv)
# may lack it, so the first interpreter that imports matplotlib is used.
find_program(path_python NAMES python3)
set(python "")
foreach(candidate /usr/bin/python3 ${path_python})
  if(EXISTS ${candidate})
    execute_process(COMMAND ${candidate} -c "import matplotlib" RESULT_VARIABLE rc
                    OUTPUT_QUIET ERROR_QUIET)
    if(rc EQUAL 0)
      set(python ${candidate})
      break()
    endif()
  endif()
endforeach()
if(NOT python)
  message(FATAL_ERROR "no python3 with matplotlib (tried /usr/bin/python3 and '${path_python}'): "
                      "run tools/setup.sh, which installs Debian's python3-matplotlib")
endif()
set(plot ${python} ${SOURCE_DIR}/tools/plot.py)
file(REMOVE_RECURSE ${OUT_DIR})
file(MAKE_DIRECTORY ${OUT_DIR})

# Runs a command in OUT_DIR; fails unless it exits `want`. Sets `out` and `err`.
function(run want)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${OUT_DIR} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE o ERROR_VARIABLE e)
  if(NOT rc EQUAL want)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "${cmd}: exit ${rc}, expected ${want}\nstdout: ${o}\nstderr: ${e}")
  endif()
  set(out "${o}" PARENT_SCOPE)
  set(err "${e}" PARENT_SCOPE)
endfunction()

# plot.py ARGS must exit 2 and print exactly `plot.py: MESSAGE` on stderr.
function(expect_error message)
  run(2 ${plot} ${ARGN})
  if(NOT err STREQUAL "plot.py: ${message}\n")
    message(FATAL_ERROR "plot.py ${ARGN}: stderr differs\nexpected: plot.py: ${message}\n"
                        "actual:   ${err}")
  endif()
endfunction()

if(MODE STREQUAL "errors")
  file(WRITE ${OUT_DIR}/not-json.json "schema: moesim.metrics/1\n")
  file(WRITE ${OUT_DIR}/unknown.json "{\"schema\": \"moesim.metrics/0\"}\n")
  file(WRITE ${OUT_DIR}/no-schema.json "{\"scenario\": \"x\"}\n")
  file(WRITE ${OUT_DIR}/array.json "[1, 2]\n")
  file(WRITE ${OUT_DIR}/malformed.json "{\"schema\": \"moesim.sweep/1\", \"scenario\": \"s\"}\n")
  expect_error("missing.json: no such file" missing.json)
  expect_error("not-json.json:1:1: not JSON (Expecting value)" not-json.json)
  set(known "expected \"moesim.metrics/1\", \"moesim.sweep/1\" or a moesim Perfetto trace")
  expect_error("unknown.json: unknown schema (schema \"moesim.metrics/0\"; ${known})" unknown.json)
  expect_error("no-schema.json: unknown schema (no \"schema\" key; ${known})" no-schema.json)
  expect_error("array.json: not a moesim output (a JSON list, expected an object)" array.json)
  expect_error("malformed.json: malformed: no key \"axes\"" malformed.json)
  # Every input is read before anything is drawn: a bad second file writes no figure.
  expect_error("missing.json: no such file" ${SOURCE_DIR}/tests/golden/quickstart.metrics.json
               missing.json -o figs)
  if(EXISTS ${OUT_DIR}/figs)
    message(FATAL_ERROR "plot.py wrote figures although an input was bad")
  endif()
  string(CONCAT message "nothing to draw: no input has the data for --only speculative (it needs "
                        "metrics of a speculative-decoding scenario)")
  expect_error("${message}" ${SOURCE_DIR}/tests/golden/quickstart.metrics.json --only speculative)
  run(2 ${plot} unknown.json --format gif)  # argparse's own usage error
  run(0 ${plot} --help)
  if(NOT out MATCHES "usage: tools/plot.py" OR NOT out MATCHES "--only KIND")
    message(FATAL_ERROR "plot.py --help does not show the usage:\n${out}")
  endif()
  return()
endif()

# Figures from fresh moesim outputs of shipped scenarios, cut to run in a few seconds.
set(scenarios ${SOURCE_DIR}/scenarios)
run(0 ${MOESIM} run ${scenarios}/quickstart.yaml --quiet --metrics quickstart.json
    --trace quickstart.trace.json --layer-loads)
run(0 ${python} ${SOURCE_DIR}/tests/plots/check_layer_loads.py quickstart.json)
run(0 ${MOESIM} run ${scenarios}/serve-mixtral-h100.yaml --set workload.serve.duration_s=1
    --quiet --metrics serve.json)
run(0 ${MOESIM} run ${scenarios}/spec-decode-mixtral.yaml
    --set "workload.serve.speculative.batch_sizes=[1,16]"
    --set "workload.serve.speculative.draft_lengths=[1,3]" --quiet --metrics spec.json)
# Points 0-8: capacity factors 0, 1.0 and 1.25 (9 of 12), 2 seeds for the CI bars.
run(0 ${MOESIM} sweep ${scenarios}/sweep-capacity.yaml --limit 9 --seeds 2 --jobs 2 --quiet
    --out capacity)
run(0 ${MOESIM} sweep ${SOURCE_DIR}/tests/plots/serve-rate.yaml --jobs 2 --quiet --out rate)
set(inputs quickstart.json quickstart.trace.json serve.json spec.json capacity.json rate.json)
run(0 ${plot} ${inputs} -o png)
set(expected
  png/quickstart-breakdown.png png/quickstart-expert-load.png png/quickstart-expert-heatmap.png
  png/quickstart-links.png
  png/serve-mixtral-h100-breakdown.png png/serve-mixtral-h100-expert-load.png
  png/spec-decode-mixtral-breakdown.png png/spec-decode-mixtral-expert-load.png
  png/spec-decode-mixtral-speculative.png png/sweep-capacity-sweep.png png/serve-rate-sweep.png)
string(REPLACE ";" "\n" want "${expected}\n")
if(NOT out STREQUAL want)
  message(FATAL_ERROR "plot.py printed\n${out}expected\n${want}")
endif()
run(0 ${python} ${SOURCE_DIR}/tests/plots/check_images.py ${expected})

# --only and the other formats; SVG and PDF are byte-identical from run to run.
run(0 ${plot} spec.json --only speculative -o only)
if(NOT out STREQUAL "only/spec-decode-mixtral-speculative.png\n")
  message(FATAL_ERROR "plot.py --only speculative printed\n${out}")
endif()
foreach(format svg pdf)
  foreach(copy a b)
    run(0 ${plot} capacity.json --format ${format} -o ${format}-${copy})
  endforeach()
  foreach(name sweep-capacity-sweep)
    set(a ${OUT_DIR}/${format}-a/${name}.${format})
    execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${a}
                            ${OUT_DIR}/${format}-b/${name}.${format} RESULT_VARIABLE same)
    file(SIZE ${a} size)
    if(NOT same EQUAL 0 OR size LESS 10000)
      message(FATAL_ERROR "${name}.${format}: differs between two runs, or ${size} bytes")
    endif()
  endforeach()
endforeach()
