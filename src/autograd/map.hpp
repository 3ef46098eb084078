// map.hpp — elementwise loops for backward formulas: out[i] = f(g[i], x[i] …) over tensors
// of one shape, packed to f32 first. One pass, in parallel when large; this keeps a
// gradient like gelu's from costing five separate tensor ops. Each loop reports itself to
// a capture (src/compile) as a kernel that writes into a planned buffer.
#pragma once
#include "xla/ops.hpp"
#include "op_trace.hpp"  // src/tensor/kernels
#include "parallel.hpp"

namespace xla::autograd {

inline Tensor packed_f32(const Tensor& t) { return t.dtype() == DType::F32 && t.is_contiguous() ? t : t.to(DType::F32); }

// out = f(g, x) for a formula that runs on blocks: f(g, x, out, n) writes out[0..n) from
// g[0..n) and x[0..n), so that it can call the kernel table's vector functions. `out` is
// contiguous f32 of g's shape.
template <typename F>
void map2_blocks_into(const Tensor& g, const Tensor& x, F f, Tensor& out) {
  Tensor a = packed_f32(g), b = packed_f32(x);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  detail::parallel_for(out.numel(), detail::kElementwiseGrain, [&](int64_t s, int64_t e) {
    constexpr int64_t kBlock = 512;  // one block of each operand stays in L1 between passes
    for (int64_t i = s; i < e; i += kBlock) f(pa + i, pb + i, po + i, std::min(kBlock, e - i));
  });
}

template <typename F>
void map3_into(const Tensor& g, const Tensor& x, const Tensor& y, F f, Tensor& out) {
  Tensor a = packed_f32(g), b = packed_f32(x), c = packed_f32(y);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const float* pc = c.data<float>();
  float* po = out.data<float>();
  detail::parallel_for(out.numel(), detail::kElementwiseGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) po[i] = f(pa[i], pb[i], pc[i]);
  });
}

// Reported to a capture with its kernel into a planned result: a replay makes no tensor.
template <typename F>
Tensor map2_blocks(const Tensor& g, const Tensor& x, F f) {
  auto into = [f](const std::vector<Tensor>& v, std::vector<Tensor>& out) {
    if (Tensor* o = detail::wanted(out, 0)) map2_blocks_into(v[0], v[1], f, *o);
  };
  return detail::traced_into("grad", {g, x}, into, detail::one_like_first)[0];
}

template <typename F>
Tensor map2(const Tensor& g, const Tensor& x, F f) {
  return map2_blocks(g, x, [f](const float* pg, const float* px, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = f(pg[i], px[i]);
  });
}

template <typename F>
Tensor map3(const Tensor& g, const Tensor& x, const Tensor& y, F f) {
  auto into = [f](const std::vector<Tensor>& v, std::vector<Tensor>& out) {
    if (Tensor* o = detail::wanted(out, 0)) map3_into(v[0], v[1], v[2], f, *o);
  };
  return detail::traced_into("grad", {g, x, y}, into, detail::one_like_first)[0];
}

}  // namespace xla::autograd
