# moesim_compare_golden(FILE GOLDEN WHAT): stops the test with the start of a unified diff when
# FILE differs from GOLDEN byte for byte; WHAT names FILE in the message.
function(moesim_compare_golden file golden what)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${file} ${golden}
                  RESULT_VARIABLE same)
  if(NOT same EQUAL 0)
    execute_process(COMMAND diff -u ${golden} ${file} OUTPUT_VARIABLE d)
    string(SUBSTRING "${d}" 0 4000 d)
    message(FATAL_ERROR "${what} differs from ${golden}:\n${d}")
  endif()
endfunction()
