// quantize.cpp — f32 → Q8 (int8 blocks of 32 with an f16 scale each), the weight format of
// 8-bit inference: about 1.06 bytes a weight against 4 (f32) and 2 (bf16), and decode reads
// every weight once a token, so it runs up to 4× faster than f32 where memory is the bound.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>

#include "copy.hpp"
#include "parallel.hpp"
#include "xla/ops.hpp"

namespace xla {

Tensor quantize_q8(const Tensor& w) {
  if (!w.defined()) fail(Status::InvalidArg, "quantize_q8", "undefined tensor");
  if (w.dtype() == DType::Q8) return w.clone();
  if (!is_floating(w.dtype()))
    fail(Status::DType, "quantize_q8", std::string("weights must be floating, got ") + dtype_name(w.dtype()));
  if (w.ndim() == 0 || w.shape().back() % 32)
    fail(Status::Shape, "quantize_q8", "the last axis must be a multiple of the 32-element block, got " + w.shape().str());
  const Tensor x = detail::as_f32_contiguous(w);
  Tensor out = Tensor::empty(w.shape(), DType::Q8);
  const float* src = x.data<float>();
  int8_t* q = static_cast<int8_t*>(out.raw_data());
  uint16_t* scales = out.storage()->q8_scales.data();
  // Each range checks its values first (in a loop without an early exit, which vectorises)
  // and quantizes only if all fit; the first bad element is named after the
  // loop, where no other thread is still at work.
  constexpr float kLargest = 127.f * 65504.f;
  const int64_t n = w.numel();
  std::atomic<int64_t> first_bad{n};
  detail::parallel_for(n / 32, 1024, [&](int64_t b0, int64_t b1) {
    uint32_t top = 0;  // the largest |value|'s bits: integers order as the values do, NaN above ∞
    for (int64_t i = b0 * 32; i < b1 * 32; ++i) top = std::max(top, std::bit_cast<uint32_t>(src[i]) & 0x7fffffffu);
    if (!(std::bit_cast<float>(top) <= kLargest)) {
      int64_t i = b0 * 32;
      while (std::fabs(src[i]) <= kLargest) ++i;
      for (int64_t seen = first_bad.load(); i < seen && !first_bad.compare_exchange_weak(seen, i);) {
      }
      return;
    }
    for (int64_t b = b0; b < b1; ++b) {
      const float* v = src + b * 32;
      float amax = 0.f;  // the values are finite: a plain maximum is fmax
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[i]));
      // the scale is stored in f16: divide by the rounded scale, so q·scale is what is read back
      const uint16_t h = f32_to_f16(amax / 127.f);
      const float d = f16_to_f32(h);
      scales[b] = h;
      if (d == 0.f) {
        std::fill(q + b * 32, q + b * 32 + 32, int8_t(0));
        continue;
      }
      for (int i = 0; i < 32; ++i) {
        // to nearest, halves away from zero (std::round), without a call: |x| < 128, so the
        // truncation is exact in an int and x − t is exact
        const float x = v[i] / d;
        const int32_t t = int32_t(x);
        const float rest = x - float(t);
        const int32_t r = t + int32_t(rest >= 0.5f) - int32_t(rest <= -0.5f);
        q[b * 32 + i] = int8_t(r < -127 ? -127 : r > 127 ? 127 : r);
      }
    }
  });
  if (const int64_t i = first_bad.load(); i < n)
    fail(Status::InvalidArg, "quantize_q8",
         "element " + std::to_string(i) + " (" + std::to_string(src[i]) +
             ") is not finite or too large for an f16 block scale");
  return out;
}

}  // namespace xla
