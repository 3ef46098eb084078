// inplace.cpp — the few operations that write into an existing tensor (optimizer updates,
// gradient accumulation, zeroing). Each bumps the storage version, which is how autograd
// notices that a tensor it saved for backward has changed underneath it.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "copy.hpp"
#include "strided.hpp"
#include "xla/ops.hpp"

namespace xla {

Tensor& Tensor::copy_(const Tensor& src) {
  if (!defined() || !src.defined()) fail(Status::InvalidArg, "copy_: undefined tensor");
  // a source overlapping this storage is packed first, so no element is read after it is written
  Tensor from = (src.shares_storage(*this) ? src.clone() : src).expand(shape_);
  if (is_contiguous()) {
    detail::copy_strided(from, raw_data(), dtype_);
  } else {
    // bytes from the source's geometry into this view's, converted first when the dtypes differ
    const Tensor same = from.dtype() == dtype_ && dtype_ != DType::Q8 ? from : from.to(dtype_);
    const size_t es = dtype_size(dtype_);
    detail::Walk<2> w(shape_, {strides_, same.strides()});
    char* dst = static_cast<char*>(raw_data());
    const char* s = static_cast<const char*>(same.raw_data());
    const int64_t ds = w.inner_stride(0), ss = w.inner_stride(1);
    w.runs(0, w.numel(), [&](const int64_t* off, int64_t n) {
      if (ds == 1 && ss == 1) {
        std::memcpy(dst + off[0] * int64_t(es), s + off[1] * int64_t(es), size_t(n) * es);
        return;
      }
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(dst + (off[0] + i * ds) * int64_t(es), s + (off[1] + i * ss) * int64_t(es), es);
    });
  }
  bump_version();
  return *this;
}

// Every element set to one value of T, through the view's strides.
template <typename T>
static void fill_with(const Shape& shape, const Dims& strides, void* data, T value) {
  T* dst = static_cast<T*>(data);
  detail::Walk<1> w(shape, {strides});
  const int64_t step = w.inner_stride(0);
  w.parallel_runs([&](const int64_t* off, int64_t n) {
    T* d = dst + off[0];
    if (step == 1)
      std::fill(d, d + n, value);
    else
      for (int64_t i = 0; i < n; ++i) d[i * step] = value;
  });
}

// The value stored as full() stores it (floats through f32, integers rounded to the nearest
// and cast as to() casts an i64), written in place: no tensor made, so that a replayed graph
// whose kernels zero their results allocates nothing.
Tensor& Tensor::fill_(double value) {
  if (!defined()) fail(Status::InvalidArg, "fill_: undefined tensor");
  if (dtype_ == DType::Q8) return copy_(full({}, value, dtype_));  // refused there, naming the dtype
  if (!std::isfinite(value) && !is_floating(dtype_))
    fail(Status::InvalidArg, "fill_", "a non-finite value does not fit an integer dtype");
  const float f = float(value);
  const int64_t i = is_floating(dtype_) ? 0 : int64_t(std::llround(value));
  auto put = [&](auto one) { fill_with(shape_, strides_, raw_data(), one); };
  switch (dtype_) {
    case DType::F32:
      put(f);
      break;
    case DType::BF16:
      put(f32_to_bf16(f));
      break;
    case DType::F16:
      put(f32_to_f16(f));
      break;
    case DType::I32:
      put(int32_t(i));
      break;
    case DType::I64:
      put(i);
      break;
    case DType::U8:
      put(uint8_t(i));
      break;
    case DType::Q8:
      break;
  }
  bump_version();
  return *this;
}

static void require_f32(const Tensor& t, const char* op) {
  if (!t.defined()) fail(Status::InvalidArg, op, "undefined tensor");
  if (t.dtype() != DType::F32) fail(Status::DType, op, std::string("needs an f32 tensor, got ") + dtype_name(t.dtype()));
}

Tensor& Tensor::add_(const Tensor& other, float alpha) {
  require_f32(*this, "add_");
  if (!other.defined()) fail(Status::InvalidArg, "add_: undefined tensor");
  Tensor o = other.dtype() == DType::F32 ? other.expand(shape_) : other.to(DType::F32).expand(shape_);
  float* dst = data<float>();
  const float* src = o.data<float>();
  detail::Walk<2> w(shape_, {strides_, o.strides()});
  const int64_t sd = w.inner_stride(0), ss = w.inner_stride(1);
  w.parallel_runs([&](const int64_t* off, int64_t n) {
    float* d = dst + off[0];
    const float* x = src + off[1];
    if (sd == 1 && ss == 1)
      for (int64_t i = 0; i < n; ++i) d[i] += alpha * x[i];
    else
      for (int64_t i = 0; i < n; ++i) d[i * sd] += alpha * x[i * ss];
  });
  bump_version();
  return *this;
}

Tensor& Tensor::mul_(float factor) {
  require_f32(*this, "mul_");
  float* dst = data<float>();
  detail::Walk<1> w(shape_, {strides_});
  const int64_t sd = w.inner_stride(0);
  w.parallel_runs([&](const int64_t* off, int64_t n) {
    float* d = dst + off[0];
    for (int64_t i = 0; i < n; ++i) d[i * sd] *= factor;
  });
  bump_version();
  return *this;
}

}  // namespace xla
