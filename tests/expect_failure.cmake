# expect_failure.cmake — ctest helper: runs a program and passes only if it exits with a
# non-zero status AND its output (stdout or stderr) contains EXPECT: a failure that is
# reported, not a crash that says nothing nor a success. ctest's TIMEOUT catches a hang.
#
#   cmake -DEXPECT="rank 1: bad data" -P tests/expect_failure.cmake -- PROGRAM [ARGS...]
set(_cmd "")
set(_after_dashes OFF)
math(EXPR _last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${_last})
  if(_after_dashes)
    list(APPEND _cmd "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(_after_dashes ON)
  endif()
endforeach()
if(NOT _cmd)
  message(FATAL_ERROR "expect_failure.cmake: no program given after --")
endif()

execute_process(COMMAND ${_cmd} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
message("${_out}${_err}")
list(JOIN _cmd " " _shown)
if(_rc EQUAL 0)
  message(FATAL_ERROR "FAIL: ${_shown} succeeded; a failure was expected")
endif()
string(FIND "${_out}${_err}" "${EXPECT}" _at)
if(_at EQUAL -1)
  message(FATAL_ERROR "FAIL: ${_shown} exited with ${_rc} without saying \"${EXPECT}\"")
endif()
message("ok: ${_shown} failed as expected (${_rc})")
