# run_test.cmake — runs one server test, tests/server/<NAME>.test.mjs, with Node.js. Node.js
# and tests/server/node_modules are looked for when the test runs, not when the build was
# configured (`make test` installs them first, maybe after the build folder was made); a test
# missing one fails saying so, it is never skipped.
#
#   cmake -DNAME=client -P tests/server/run_test.cmake   (the XLA_* variables in the environment)
get_filename_component(_here "${CMAKE_CURRENT_LIST_FILE}" DIRECTORY)
set(_fix "install them with `make server-test-deps` (Debian: nodejs, npm; npm ci in tests/server)")

find_program(_node node)
if(NOT _node)
  message(FATAL_ERROR "FAIL server.${NAME}: Node.js (node) is not on the PATH: ${_fix}")
endif()
foreach(_pkg openai @huggingface/jinja)
  if(NOT EXISTS "${_here}/node_modules/${_pkg}/package.json")
    message(FATAL_ERROR "FAIL server.${NAME}: ${_here}/node_modules has no ${_pkg}: ${_fix}")
  endif()
endforeach()
if(NOT EXISTS "${_here}/${NAME}.test.mjs")
  message(FATAL_ERROR "run_test.cmake: no test ${_here}/${NAME}.test.mjs")
endif()

execute_process(COMMAND "${_node}" "${_here}/${NAME}.test.mjs" RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "FAIL server.${NAME}: node ${_here}/${NAME}.test.mjs exited with ${_rc}")
endif()
