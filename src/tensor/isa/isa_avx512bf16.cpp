// isa_avx512bf16.cpp — the kernels for AVX-512 with the bf16 dot product (Cooper Lake,
// Sapphire Rapids, Zen 4 and later): bf16 weights meet activations rounded to bf16 on the
// bf16 unit.
// Compiled with this set's flags (CMakeLists.txt); chosen at run time by cpu_dispatch.cpp.
#define XLA_ISA isa_avx512bf16
#define XLA_ISA_NAME "avx512bf16"
#include "isa_kernels.inc"
