// isa_avx2.cpp — the kernels for AVX2 + FMA + F16C (Haswell, Zen 1 and later).
// Compiled with this set's flags (CMakeLists.txt); chosen at run time by cpu_dispatch.cpp.
#define XLA_ISA isa_avx2
#define XLA_ISA_NAME "avx2"
#include "isa_kernels.inc"
