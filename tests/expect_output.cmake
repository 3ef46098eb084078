# expect_output.cmake — ctest helper: runs a program and passes only if it exits with 0 AND
# prints the line EXPECT (ctest's PASS_REGULAR_EXPRESSION alone would ignore the exit code).
# With -DEXPECT_FAILURE=ON it passes only if the program exits with a non-zero status AND its
# output (stdout or stderr) contains EXPECT anywhere: a failure that is reported, not a crash
# that says nothing nor a success (ctest's TIMEOUT catches a hang).
#
#   cmake -DEXPECT="answer: 12 7" -P tests/expect_output.cmake -- PROGRAM [ARGS...]
#   cmake -DEXPECT_FAILURE=ON -DEXPECT="rank 1: bad data" -P tests/expect_output.cmake -- PROGRAM [ARGS...]
set(_cmd "")
set(_after_dashes OFF)
math(EXPR _last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${_last})
  if(_after_dashes)
    string(REPLACE ";" "\\;" _arg "${CMAKE_ARGV${i}}")  # an argument with a ; stays one argument
    list(APPEND _cmd "${_arg}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(_after_dashes ON)
  endif()
endforeach()
if(NOT _cmd)
  message(FATAL_ERROR "expect_output.cmake: no program given after --")
endif()

execute_process(COMMAND ${_cmd} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
message("${_out}${_err}")
if(EXPECT_FAILURE)
  list(JOIN _cmd " " _shown)
  if(_rc EQUAL 0)
    message(FATAL_ERROR "FAIL: ${_shown} succeeded; a failure was expected")
  endif()
  string(FIND "${_out}${_err}" "${EXPECT}" _at)
  if(_at EQUAL -1)
    message(FATAL_ERROR "FAIL: ${_shown} exited with ${_rc} without saying \"${EXPECT}\"")
  endif()
  return()
endif()
if(NOT _rc EQUAL 0)
  list(JOIN _cmd " " _shown)
  message(FATAL_ERROR "FAIL: ${_shown} exited with ${_rc}")
endif()
string(FIND "\n${_out}" "\n${EXPECT}\n" _at)
if(_at EQUAL -1)
  message(FATAL_ERROR "FAIL: the output has no line \"${EXPECT}\"")
endif()
