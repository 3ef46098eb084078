// isa_baseline.cpp — the kernels for the x86-64 baseline (SSE2): what runs on any 64-bit x86.
// Compiled with this set's flags (CMakeLists.txt); chosen at run time by cpu_dispatch.cpp.
#define XLA_ISA isa_baseline
#define XLA_ISA_NAME "baseline"
#include "isa_kernels.inc"
