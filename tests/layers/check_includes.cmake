# check_includes.cmake — the layers keep to their own headers (ctest layers.includes).
# Each layer's private headers are on its target's PRIVATE include path only, so a layer
# above cannot name them; this closes the one way around that, a relative path into another
# folder (`#include "../autograd/node.hpp"`). Run: cmake -DROOT=<checkout> -P check_includes.cmake
file(GLOB_RECURSE sources ${ROOT}/src/*.cpp ${ROOT}/src/*.hpp ${ROOT}/capi/*.cpp ${ROOT}/capi/*.hpp
     ${ROOT}/tools/*.cpp ${ROOT}/tools/*.hpp)
set(bad "")
foreach(f ${sources})
  file(STRINGS ${f} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"\\.\\./")
  foreach(l ${lines})
    file(RELATIVE_PATH rel ${ROOT} ${f})
    string(STRIP "${l}" l)
    list(APPEND bad "${rel}: ${l}")
  endforeach()
endforeach()
if(bad)
  list(JOIN bad "\n  " text)
  message(FATAL_ERROR "includes that reach into another layer's folder (use the layer's public header, "
                      "or src/tensor/kernels for the tensor kernels):\n  ${text}")
endif()
list(LENGTH sources n)
message(STATUS "${n} files: no include reaches into another layer's folder")
