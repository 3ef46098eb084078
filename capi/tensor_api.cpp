// tensor_api.cpp — C entry points for creating, inspecting and reading tensors,
// factories, and the view/shape functions.
#include <cstring>
#include <vector>

#include "handles.hpp"
#include "xla/autograd.hpp"

using namespace xla;
using namespace xla::capi;

extern "C" {

xla_status xla_tensor_create(int32_t dtype, int32_t ndim, const int64_t* shape, const void* data, xla_tensor** out) {
  return make("xla_tensor_create", out, [&] {
    DType dt = dtype_arg(dtype);
    Shape s = shape_arg(ndim, shape);
    for (int64_t d : s)
      if (d < 0) fail(Status::Shape, "negative extent in shape " + s.str());
    return data ? Tensor::from_data(data, s, dt) : Tensor::zeros(s, dt);
  });
}

void xla_tensor_free(xla_tensor* t) { delete t; }

xla_status xla_tensor_shape(const xla_tensor* t, int32_t* dtype_out, int32_t* ndim_out, int64_t* shape_out) {
  return guard("xla_tensor_shape", [&] {
    const Tensor& x = tensor_of(t, "t");
    if (dtype_out) *dtype_out = int32_t(x.dtype());
    if (ndim_out) *ndim_out = x.ndim();
    if (shape_out) std::memcpy(shape_out, x.shape().data(), sizeof(int64_t) * size_t(x.ndim()));
  });
}

xla_status xla_tensor_read(const xla_tensor* t, void* dst, size_t nbytes) {
  return guard("xla_tensor_read", [&] {
    const Tensor& x = tensor_of(t, "t");
    if (nbytes != x.nbytes())
      invalid("buffer of " + std::to_string(nbytes) + " bytes for a " + dtype_name(x.dtype()) + " tensor of shape " +
              x.shape().str() + " that needs exactly " + std::to_string(x.nbytes()));
    if (nbytes) {
      require_ptr(dst, "dst");
      x.copy_to(dst);
    }
  });
}

xla_status xla_tensor_numel(const xla_tensor* t, int64_t* numel_out, size_t* nbytes_out) {
  return guard("xla_tensor_numel", [&] {
    const Tensor& x = tensor_of(t, "t");
    if (numel_out) *numel_out = x.numel();
    if (nbytes_out) *nbytes_out = x.nbytes();
  });
}

xla_status xla_tensor_clone(const xla_tensor* t, xla_tensor** out) {
  return make("xla_tensor_clone", out, [&] { return tensor_of(t, "t").clone(); });
}

xla_status xla_tensor_data(const xla_tensor* t, void** data_out, int64_t* strides_out) {
  return guard("xla_tensor_data", [&] {
    const Tensor& x = tensor_of(t, "t");
    if (data_out) *data_out = const_cast<void*>(x.raw_data());
    if (strides_out) std::memcpy(strides_out, x.strides().data(), sizeof(int64_t) * size_t(x.ndim()));
  });
}

xla_status xla_tensor_from_buffer(int32_t dtype, int32_t ndim, const int64_t* shape, void* data,
                                  xla_release_fn release, void* user_data, xla_tensor** out) {
  return guard("xla_tensor_from_buffer", [&] {
    require_ptr(out, "out");
    DType dt = dtype_arg(dtype);
    Shape s = shape_arg(ndim, shape);
    for (int64_t d : s)
      if (d < 0) fail(Status::Shape, "negative extent in shape " + s.str());
    if (s.numel() > 0) require_ptr(data, "data");
    if (reinterpret_cast<uintptr_t>(data) % dtype_size(dt))
      invalid("data is not aligned to the " + std::to_string(dtype_size(dt)) + "-byte elements of " +
              dtype_name(dt));
    // The release callback is attached only once the handle exists: a failure before that
    // leaves the buffer to the caller, as the header promises.
    xla_tensor* h = wrap(Tensor::borrow(data, s, dt, nullptr, nullptr));
    h->t.storage()->release = release;
    h->t.storage()->release_arg = user_data;
    *out = h;
  });
}

// ---- factories ----

xla_status xla_arange(double start, double stop, double step, int32_t dtype, xla_tensor** out) {
  return make("xla_arange", out, [&] { return arange(start, stop, step, dtype_arg(dtype)); });
}

xla_status xla_full(int32_t dtype, int32_t ndim, const int64_t* shape, double value, xla_tensor** out) {
  return make("xla_full", out, [&] { return full(new_shape_arg(ndim, shape), value, dtype_arg(dtype)); });
}

xla_status xla_randn(int32_t ndim, const int64_t* shape, uint64_t seed, float mean, float stddev, xla_tensor** out) {
  return make("xla_randn", out, [&] {
    Generator g(seed);
    return randn(new_shape_arg(ndim, shape), g, mean, stddev);
  });
}

xla_status xla_rand(int32_t ndim, const int64_t* shape, uint64_t seed, float low, float high, xla_tensor** out) {
  return make("xla_rand", out, [&] {
    Generator g(seed);
    return rand(new_shape_arg(ndim, shape), g, low, high);
  });
}

xla_status xla_cast(const xla_tensor* t, int32_t dtype, xla_tensor** out) {
  return make("xla_cast", out, [&] { return ag::cast(tensor_of(t, "t"), dtype_arg(dtype)); });
}

// ---- shape and views ----

xla_status xla_reshape(const xla_tensor* t, int32_t ndim, const int64_t* shape, xla_tensor** out) {
  return make("xla_reshape", out, [&] { return ag::reshape(tensor_of(t, "t"), shape_arg(ndim, shape)); });
}

xla_status xla_permute(const xla_tensor* t, const int32_t* order, int32_t n, xla_tensor** out) {
  return make("xla_permute", out, [&] {
    const Tensor& x = tensor_of(t, "t");
    if (n != x.ndim()) invalid("order has " + std::to_string(n) + " entries for a " + std::to_string(x.ndim()) + "-d tensor");
    if (n > 0) require_ptr(order, "order");
    Dims d;
    for (int32_t i = 0; i < n; ++i) d.push_back(order[i]);
    return ag::permute(x, d);
  });
}

xla_status xla_transpose(const xla_tensor* t, int32_t axis0, int32_t axis1, xla_tensor** out) {
  return make("xla_transpose", out, [&] { return ag::transpose(tensor_of(t, "t"), axis0, axis1); });
}

xla_status xla_slice(const xla_tensor* t, int32_t axis, int64_t start, int64_t stop, int64_t step, xla_tensor** out) {
  return make("xla_slice", out, [&] { return ag::slice(tensor_of(t, "t"), axis, start, stop, step); });
}

xla_status xla_expand(const xla_tensor* t, int32_t ndim, const int64_t* shape, xla_tensor** out) {
  return make("xla_expand", out, [&] { return ag::expand(tensor_of(t, "t"), shape_arg(ndim, shape)); });
}

xla_status xla_squeeze(const xla_tensor* t, int32_t axis, xla_tensor** out) {
  return make("xla_squeeze", out, [&] { return ag::squeeze(tensor_of(t, "t"), axis); });
}

xla_status xla_unsqueeze(const xla_tensor* t, int32_t axis, xla_tensor** out) {
  return make("xla_unsqueeze", out, [&] { return ag::unsqueeze(tensor_of(t, "t"), axis); });
}

xla_status xla_contiguous(const xla_tensor* t, xla_tensor** out) {
  return make("xla_contiguous", out, [&] { return ag::contiguous(tensor_of(t, "t")); });
}

}  // extern "C"
