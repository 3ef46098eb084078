# install_quietly.cmake — `cmake --install` of a build into a prefix, printing only on
# failure: the build refreshes the book's install (build/book/prefix) this way every time.
# Run: cmake -DBUILD=<build dir> -DPREFIX=<prefix> -P install_quietly.cmake
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${PREFIX}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "installing into ${PREFIX} failed (${rc}):\n${out}\n${err}")
endif()
