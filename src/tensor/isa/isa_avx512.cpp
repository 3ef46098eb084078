// isa_avx512.cpp — the kernels for AVX-512 F/BW/DQ/VL (Skylake-SP, Zen 4 and later).
// Compiled with this set's flags (CMakeLists.txt); chosen at run time by cpu_dispatch.cpp.
#define XLA_ISA isa_avx512
#define XLA_ISA_NAME "avx512"
#include "isa_kernels.inc"
