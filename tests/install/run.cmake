# run.cmake — installs the build into a scratch prefix, then builds and runs the consumer
# two ways: CMake's find_package(xla) and pkg-config with plain cc.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
macro(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endmacro()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# 1. CMake package
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/consumer -B ${WORK_DIR}/cmake-build -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_RPATH=${prefix}/lib)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/cmake-build)
run(${WORK_DIR}/cmake-build/consumer)
if(NOT out MATCHES "sum = 10")
  message(FATAL_ERROR "CMake consumer printed: ${out}")
endif()

# 2. pkg-config + cc
find_program(PKG_CONFIG pkg-config REQUIRED)
find_program(CC NAMES cc gcc REQUIRED)
file(GLOB pcdirs ${prefix}/lib*/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "${pcdirs}")
run(${PKG_CONFIG} --cflags --libs xla)
string(STRIP "${out}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
run(${PKG_CONFIG} --variable=libdir xla)
string(STRIP "${out}" libdir)
run(${CC} -std=c99 -pedantic -Werror ${SOURCE_DIR}/consumer/main.c ${flags} -Wl,-rpath,${libdir} -o ${WORK_DIR}/consumer_pc)
run(${WORK_DIR}/consumer_pc)
if(NOT out MATCHES "sum = 10")
  message(FATAL_ERROR "pkg-config consumer printed: ${out}")
endif()
message(STATUS "installed libxla consumed through find_package and pkg-config")
