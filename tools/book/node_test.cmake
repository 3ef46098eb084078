# node_test.cmake — runs one of the book's Node.js tests (ctest book.render, book.browser),
# looking for Node.js, Chromium and tools/book/node_modules when the test runs, not when the
# build was configured: `make test` installs them (make book-deps) into a machine whose build
# folder may be older, and a test that is missing a tool fails saying so, it is never skipped.
#
#   cmake -DTEST=render|browser -DBOOK=docs/book -DPYTHON=python3 [-DOUT=dir]
#         [-DTOOLCHAIN=build/book/toolchain.json] -P tools/book/node_test.cmake
get_filename_component(_here "${CMAKE_CURRENT_LIST_FILE}" DIRECTORY)
set(_fix "install them with `make book-deps` (Debian: nodejs, npm, chromium; npm ci in tools/book)")

find_program(_node node)
if(NOT _node)
  message(FATAL_ERROR "FAIL book.${TEST}: Node.js (node) is not on the PATH: ${_fix}")
endif()
if(NOT EXISTS "${_here}/node_modules/markdown-it")
  message(FATAL_ERROR "FAIL book.${TEST}: ${_here}/node_modules has no markdown-it: ${_fix}")
endif()

if(TEST STREQUAL "render")
  set(_cmd "${_node}" "${_here}/render.mjs" --book "${BOOK}" --out "${OUT}" --python "${PYTHON}")
elseif(TEST STREQUAL "browser")
  find_program(_chromium NAMES chromium chromium-browser)
  if(NOT _chromium)
    message(FATAL_ERROR "FAIL book.browser: Chromium (chromium) is not on the PATH: ${_fix}")
  endif()
  if(NOT EXISTS "${_here}/node_modules/playwright-core")
    message(FATAL_ERROR "FAIL book.browser: ${_here}/node_modules has no playwright-core: ${_fix}")
  endif()
  set(_cmd "${_node}" "${_here}/browser_test.mjs" --toolchain "${TOOLCHAIN}" --chromium "${_chromium}"
           --python "${PYTHON}" --book "${BOOK}")
else()
  message(FATAL_ERROR "node_test.cmake: TEST must be render or browser, not '${TEST}'")
endif()

execute_process(COMMAND ${_cmd} RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "FAIL book.${TEST}: ${_cmd} exited with ${_rc}")
endif()
