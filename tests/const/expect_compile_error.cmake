# expect_compile_error.cmake — a negative compile test, run with cmake -P:
#   cmake -DCOMPILER=<c++> -DINCLUDE_DIR=<include dir> -DSOURCE=<fail_x.cpp> -P expect_compile_error.cmake
# Passes only if compiling SOURCE fails AND the diagnostic contains the text of SOURCE's
# "// EXPECT-ERROR: <text>" line, so a test cannot pass because of some other error.

foreach(var COMPILER INCLUDE_DIR SOURCE)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "expect_compile_error: pass -D${var}=...")
  endif()
endforeach()
if(NOT EXISTS "${SOURCE}")
  message(FATAL_ERROR "expect_compile_error: ${SOURCE} does not exist")
endif()

# The expected substring, from the first "// EXPECT-ERROR:" line.
file(STRINGS "${SOURCE}" expect_lines REGEX "^// EXPECT-ERROR: ")
list(LENGTH expect_lines n)
if(n EQUAL 0)
  message(FATAL_ERROR "expect_compile_error: ${SOURCE} has no '// EXPECT-ERROR: <text>' line")
endif()
list(GET expect_lines 0 expect_line)
string(REGEX REPLACE "^// EXPECT-ERROR: " "" expected "${expect_line}")
string(STRIP "${expected}" expected)
if(expected STREQUAL "")
  message(FATAL_ERROR "expect_compile_error: the EXPECT-ERROR line of ${SOURCE} is empty")
endif()

# Plain ASCII diagnostics: no locale quotes, no colours.
set(ENV{LC_ALL} C)
set(ENV{LANG} C)
set(ENV{GCC_COLORS} "")
execute_process(
  COMMAND "${COMPILER}" -std=c++20 -fsyntax-only "-I${INCLUDE_DIR}" "${SOURCE}"
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
set(diagnostic "${out}${err}")

if(rc EQUAL 0)
  message(FATAL_ERROR "expect_compile_error: ${SOURCE} compiled, but it must fail with:\n  ${expected}")
endif()
string(FIND "${diagnostic}" "${expected}" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "expect_compile_error: ${SOURCE} failed to compile, but not for the expected reason.\n"
                      "Expected the diagnostic to contain:\n  ${expected}\nCompiler output:\n${diagnostic}")
endif()
message(STATUS "expect_compile_error: ${SOURCE} fails as expected (${expected})")
