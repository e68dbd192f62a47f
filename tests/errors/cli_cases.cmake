# Command-line mistakes: every one exits 2 with a message on stderr; --help exits 0.
function(expect code)
  execute_process(COMMAND ${MOESIM} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL code)
    message(FATAL_ERROR "moesim ${ARGN}: expected exit ${code}, got ${rc}\n${out}\n${err}")
  endif()
  if(code EQUAL 2 AND err STREQUAL "")
    message(FATAL_ERROR "moesim ${ARGN}: exit 2 without a message on stderr")
  endif()
endfunction()
expect(2)                                           # no verb
expect(2 frobnicate)                                # unknown verb
expect(2 run)                                       # missing file
expect(2 run scenarios/quickstart.yaml --seed abc)  # bad number
expect(2 run scenarios/quickstart.yaml --bogus)     # unknown option
expect(2 run does-not-exist.yaml)                   # unreadable file
expect(2 run scenarios/quickstart.yaml --set workload.kind=dance)
expect(2 run scenarios/quickstart.yaml --metrics /nonexistent-dir/m.json --set workload.steps=1)
expect(2 run scenarios/quickstart.yaml --trace-devices 0-3)   # needs --trace
expect(2 run scenarios/quickstart.yaml --trace t.json --trace-window 5ms:1ms)
expect(2 run scenarios/quickstart.yaml --trace t.json --trace-window 5)
expect(2 bench nosuch)
expect(2 collective --cluster dgx-h100 --op all-reduce --bytes 1G --resolve-quantum 0.5)
expect(2 dispatch --cluster dgx-h800 --ranks 8 --mode sideways)
# accuracy: a pool of no threads; a row filter with the baseline (which needs every row).
expect(2 accuracy --jobs 0)
expect(2 accuracy --rows nccl- --baseline tests/accuracy/baseline.json)
# trace convert: an unreadable input, an unknown engine, an output that is not .json/.csv, and
# a dump with more layers than the model (Mixtral cut to 2).
expect(2 trace convert --from sglang --model mixtral-8x7b does-not-exist.json out.json)
expect(2 trace convert --from tensorrt --model mixtral-8x7b tests/errors/sglang-stat-beyond.json out.json)
expect(2 trace convert --from sglang --model mixtral-8x7b tests/errors/sglang-stat-beyond.json out.txt)
expect(2 trace convert --from sglang --model tests/errors/mixtral-2-layers.model
       tests/errors/sglang-stat-beyond.json out.json)
expect(2 trace)
# report: neither files nor a subcommand; files without -o.
expect(2 report)
expect(2 report tests/golden/quickstart.metrics.json)
expect(2 report tests/golden/quickstart.metrics.json -o /nonexistent-dir/report.html)
expect(0 report --help)
expect(0 trace convert --help)
expect(0 --help)
expect(0 run --help)
expect(0 validate --help)
expect(0 schema --help)
expect(0 presets --help)
