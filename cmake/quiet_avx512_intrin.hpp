// quiet_avx512_intrin.hpp — pre-included (-include) by the layers that run SIMD kernels under
// GCC. GCC 12's AVX-512 intrinsic headers warn that their own _mm512_undefined_*() values
// "may be used uninitialized" (GCC bug 105593): hundreds of lines on an AVX-512 machine, in
// which a real warning would drown. Including <immintrin.h> first, with exactly that warning
// off, silences it inside those headers only: our code keeps -Wmaybe-uninitialized.
#pragma once
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
