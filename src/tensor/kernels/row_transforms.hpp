// row_transforms.hpp — a row's softmax exponentials, its logit soft-cap and the slope of
// the tanh GELU through the kernel table (cpu_kernels.hpp). Kept out of cpu_kernels.hpp,
// which the per-instruction-set sources include: an inline function there could be
// compiled with AVX and picked by the linker for baseline code.
#pragma once
#include <cstdint>

#include "cpu_kernels.hpp"

namespace xla::detail {

// out[i] = e^(x[i] − shift) with results below FLT_MIN flushed to 0 (a masked attention
// score, −∞, must get exactly zero weight): the run-time chosen path's exp, whose bits do
// not depend on alignment, so it needs no aligned blocks. out may be x.
inline void exp_shifted(const float* x, float shift, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] - shift;
  cpu_kernels().exp_f32(out, out, n);
}

// x[i] = cap · tanh(x[i] / cap), the logit soft-cap, with x / cap as x · (1/cap): the bits of
// the model's ops (ag::mul, tanh, ag::mul).
inline void soft_cap(float* x, int64_t n, float cap) {
  const float inv = 1.f / cap;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
  cpu_kernels().tanh_f32(x, x, n);
  for (int64_t i = 0; i < n; ++i) x[i] *= cap;
}

// out[i] = d gelu_tanh / dx at x[i] (the kernel table's; out must not overlap x).
inline void gelu_tanh_slope(const float* x, float* out, int64_t n) { cpu_kernels().gelu_tanh_slope_f32(x, out, n); }

}  // namespace xla::detail
