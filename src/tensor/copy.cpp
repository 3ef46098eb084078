// copy.cpp — strided, converting copies between every pair of dtypes.
// Float → integer casts truncate toward zero and saturate (NaN → 0): never C++ UB.
#include "copy.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include "into.hpp"
#include "strided.hpp"

namespace xla::detail {
namespace {

struct bf16 { uint16_t bits; };
struct f16 { uint16_t bits; };

template <typename T> inline double load(T v) { return double(v); }
inline double load(bf16 v) { return bf16_to_f32(v.bits); }
inline double load(f16 v) { return f16_to_f32(v.bits); }
inline float loadf(float v) { return v; }
inline float loadf(bf16 v) { return bf16_to_f32(v.bits); }
inline float loadf(f16 v) { return f16_to_f32(v.bits); }

template <typename D> struct Store;
template <> struct Store<float> {
  template <typename S> static float from(S s) {
    if constexpr (std::is_same_v<S, float> || std::is_same_v<S, bf16> || std::is_same_v<S, f16>) return loadf(s);
    else return float(s);
  }
};
template <> struct Store<bf16> {
  template <typename S> static bf16 from(S s) { return {f32_to_bf16(Store<float>::from(s))}; }
};
template <> struct Store<f16> {
  template <typename S> static f16 from(S s) { return {f32_to_f16(Store<float>::from(s))}; }
};
template <typename I> struct StoreInt {
  template <typename S> static I from(S s) {
    if constexpr (std::is_integral_v<S>) {
      return I(s);
    } else {
      double d = load(s);
      if (std::isnan(d)) return 0;
      if (d <= double(std::numeric_limits<I>::min())) return std::numeric_limits<I>::min();
      if (d >= double(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
      return I(d);
    }
  }
};
template <> struct Store<int32_t> : StoreInt<int32_t> {};
template <> struct Store<int64_t> : StoreInt<int64_t> {};
template <> struct Store<uint8_t> : StoreInt<uint8_t> {};

template <typename S, typename D>
void copy_typed(const Tensor& src, D* dst) {
  const S* s = static_cast<const S*>(src.raw_data());
  Walk<2> w(src.shape(), {contiguous_strides(src.shape()), src.strides()});
  w.parallel_runs([&](const int64_t* off, int64_t n) {
    D* o = dst + off[0];
    const S* x = s + off[1];
    int64_t sx = w.inner_stride(1);
    if constexpr (std::is_same_v<S, D>) {
      if (sx == 1) {
        std::memcpy(o, x, size_t(n) * sizeof(D));
        return;
      }
    }
    for (int64_t i = 0; i < n; ++i) o[i] = Store<D>::from(x[i * sx]);
  });
}

template <typename S>
void copy_from(const Tensor& src, void* dst, DType dt) {
  switch (dt) {
    case DType::F32: return copy_typed<S>(src, static_cast<float*>(dst));
    case DType::BF16: return copy_typed<S>(src, static_cast<bf16*>(dst));
    case DType::F16: return copy_typed<S>(src, static_cast<f16*>(dst));
    case DType::I32: return copy_typed<S>(src, static_cast<int32_t*>(dst));
    case DType::I64: return copy_typed<S>(src, static_cast<int64_t*>(dst));
    case DType::U8: return copy_typed<S>(src, static_cast<uint8_t*>(dst));
    case DType::Q8: break;  // refused by copy_strided
  }
}

// Q8 values times their block's scale, then stored as D (the scale of the value at storage
// byte i is scales[i / 32]).
template <typename D>
void copy_q8_typed(const Tensor& src, D* dst) {
  const int8_t* s = static_cast<const int8_t*>(src.raw_data());
  const uint16_t* scales = src.storage()->q8_scales.data();
  const int64_t base = src.offset();
  Walk<2> w(src.shape(), {contiguous_strides(src.shape()), src.strides()});
  w.parallel_runs([&](const int64_t* off, int64_t n) {
    const int64_t sx = w.inner_stride(1);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t at = off[1] + i * sx;
      dst[off[0] + i] = Store<D>::from(float(s[at]) * f16_to_f32(scales[(base + at) / 32]));
    }
  });
}

void copy_from_q8(const Tensor& src, void* dst, DType dt) {
  switch (dt) {
    case DType::F32: return copy_q8_typed(src, static_cast<float*>(dst));
    case DType::BF16: return copy_q8_typed(src, static_cast<bf16*>(dst));
    case DType::F16: return copy_q8_typed(src, static_cast<f16*>(dst));
    case DType::I32: return copy_q8_typed(src, static_cast<int32_t*>(dst));
    case DType::I64: return copy_q8_typed(src, static_cast<int64_t*>(dst));
    case DType::U8: return copy_q8_typed(src, static_cast<uint8_t*>(dst));
    case DType::Q8: break;
  }
}

}  // namespace

void refuse_q8(const Tensor& t, const char* op) {
  if (t.defined() && t.dtype() == DType::Q8)
    fail(Status::DType, op, "q8 (quantized weight) tensors are read only by matmul, embedding and to(); "
                            "convert with to(DType::F32) first");
}

void copy_strided(const Tensor& src, void* dst, DType dt) {
  if (dt == DType::Q8)
    fail(Status::DType, "copy", "q8 tensors are written only by quantize_q8 (to(DType::Q8)), not element by element");
  if (src.numel() == 0) return;
  switch (src.dtype()) {
    case DType::Q8: return copy_from_q8(src, dst, dt);
    case DType::F32: return copy_from<float>(src, dst, dt);
    case DType::BF16: return copy_from<bf16>(src, dst, dt);
    case DType::F16: return copy_from<f16>(src, dst, dt);
    case DType::I32: return copy_from<int32_t>(src, dst, dt);
    case DType::I64: return copy_from<int64_t>(src, dst, dt);
    case DType::U8: return copy_from<uint8_t>(src, dst, dt);
  }
}

void copy_as_i64(const Tensor& t, int64_t* dst) { copy_strided(t, dst, DType::I64); }

Tensor as_f32_contiguous(const Tensor& src) {
  if (src.dtype() == DType::F32 && src.is_contiguous()) return src;
  return src.to(DType::F32);
}

}  // namespace xla::detail
