# moesim_embed(OUTPUT out.cpp NAMESPACE ns FUNCTION fn BASE dir FILES f1 f2 ...)
# Generates a C++ source that defines `std::span<const moesim::embedded_file> ns::fn()` holding
# the files' contents, so the binary carries its presets and needs no data directory at run time.
# The names stored are paths relative to BASE (e.g. "models/presets/mixtral-8x7b.yaml"), which
# is what error messages show.
function(moesim_embed)
  cmake_parse_arguments(E "" "OUTPUT;NAMESPACE;FUNCTION;BASE" "FILES" ${ARGN})
  add_custom_command(
    OUTPUT ${E_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -DOUTPUT=${E_OUTPUT} -DNAMESPACE=${E_NAMESPACE}
            -DFUNCTION=${E_FUNCTION} -DBASE=${E_BASE} "-DFILES=${E_FILES}"
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    DEPENDS ${E_FILES} ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    COMMENT "Embedding ${E_FUNCTION} (${E_NAMESPACE})"
    VERBATIM)
  # Every generated file names its arrays file_0, file_1, ...: a unity build must not join two.
  set_source_files_properties(${E_OUTPUT} PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
endfunction()
