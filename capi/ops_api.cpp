// ops_api.cpp — C entry points for the tensor ops. Each is one line: a macro names the
// op, and capi::make does the checking, the exception guard and the handle. They call the
// differentiable ops (xla::ag), so everything done through the C API can be backpropagated.
#include <vector>

#include "handles.hpp"
#include "xla/autograd.hpp"

using namespace xla;
using namespace xla::capi;

namespace {

std::vector<int> axes_arg(const int32_t* axes, int32_t n) {
  if (n < 0) invalid("n_axes is negative");
  if (n > 0) require_ptr(axes, "axes");
  return std::vector<int>(axes, axes + n);
}

std::vector<Tensor> tensors_arg(const xla_tensor* const* ts, int32_t n) {
  if (n <= 0) invalid("n must be positive, got " + std::to_string(n));
  require_ptr(ts, "ts");
  std::vector<Tensor> v;
  v.reserve(size_t(n));
  for (int32_t i = 0; i < n; ++i) {
    if (!ts[i]) invalid("ts[" + std::to_string(i) + "] is NULL");
    v.push_back(ts[i]->t);
  }
  return v;
}

}  // namespace

#define XLA_UNARY(op) \
  xla_status xla_##op(const xla_tensor* t, xla_tensor** out) { \
    return make("xla_" #op, out, [&] { return xla::ag::op(tensor_of(t, "t")); }); \
  }
#define XLA_BINARY(op) \
  xla_status xla_##op(const xla_tensor* a, const xla_tensor* b, xla_tensor** out) { \
    return make("xla_" #op, out, [&] { return xla::ag::op(tensor_of(a, "a"), tensor_of(b, "b")); }); \
  }
#define XLA_REDUCE(op) \
  xla_status xla_##op(const xla_tensor* t, const int32_t* axes, int32_t n_axes, int32_t keepdims, xla_tensor** out) { \
    return make("xla_" #op, out, [&] { return xla::ag::op(tensor_of(t, "t"), axes_arg(axes, n_axes), keepdims != 0); }); \
  }

extern "C" {

XLA_UNARY(neg)
XLA_UNARY(abs)
XLA_UNARY(exp)
XLA_UNARY(log)
XLA_UNARY(sqrt)
XLA_UNARY(rsqrt)
XLA_UNARY(tanh)
XLA_UNARY(sigmoid)
XLA_UNARY(relu)
XLA_UNARY(gelu)
XLA_UNARY(gelu_tanh)
XLA_UNARY(silu)

XLA_BINARY(add)
XLA_BINARY(sub)
XLA_BINARY(mul)
XLA_BINARY(div)
XLA_BINARY(maximum)
XLA_BINARY(minimum)
XLA_BINARY(pow)
XLA_BINARY(eq)
XLA_BINARY(ne)
XLA_BINARY(lt)
XLA_BINARY(le)
XLA_BINARY(gt)
XLA_BINARY(ge)
XLA_BINARY(matmul)

XLA_REDUCE(sum)
XLA_REDUCE(mean)
XLA_REDUCE(max)
XLA_REDUCE(min)
XLA_REDUCE(logsumexp)

xla_status xla_where(const xla_tensor* cond, const xla_tensor* a, const xla_tensor* b, xla_tensor** out) {
  return make("xla_where", out, [&] { return ag::where(tensor_of(cond, "cond"), tensor_of(a, "a"), tensor_of(b, "b")); });
}

xla_status xla_var(const xla_tensor* t, const int32_t* axes, int32_t n_axes, int32_t keepdims, int32_t correction,
                   xla_tensor** out) {
  return make("xla_var", out, [&] { return ag::var(tensor_of(t, "t"), axes_arg(axes, n_axes), keepdims != 0, correction); });
}

xla_status xla_argmax(const xla_tensor* t, int32_t axis, int32_t keepdims, xla_tensor** out) {
  return make("xla_argmax", out, [&] { return ag::argmax(tensor_of(t, "t"), axis, keepdims != 0); });
}

xla_status xla_softmax(const xla_tensor* t, int32_t axis, xla_tensor** out) {
  return make("xla_softmax", out, [&] { return ag::softmax(tensor_of(t, "t"), axis); });
}

xla_status xla_log_softmax(const xla_tensor* t, int32_t axis, xla_tensor** out) {
  return make("xla_log_softmax", out, [&] { return ag::log_softmax(tensor_of(t, "t"), axis); });
}

xla_status xla_index_select(const xla_tensor* t, int32_t axis, const xla_tensor* index, xla_tensor** out) {
  return make("xla_index_select", out, [&] { return ag::index_select(tensor_of(t, "t"), axis, tensor_of(index, "index")); });
}

xla_status xla_gather(const xla_tensor* t, int32_t axis, const xla_tensor* index, xla_tensor** out) {
  return make("xla_gather", out, [&] { return ag::gather(tensor_of(t, "t"), axis, tensor_of(index, "index")); });
}

xla_status xla_embedding(const xla_tensor* weight, const xla_tensor* ids, xla_tensor** out) {
  return make("xla_embedding", out, [&] { return ag::embedding(tensor_of(weight, "weight"), tensor_of(ids, "ids")); });
}

xla_status xla_concat(const xla_tensor* const* ts, int32_t n, int32_t axis, xla_tensor** out) {
  return make("xla_concat", out, [&] { return ag::concat(tensors_arg(ts, n), axis); });
}

xla_status xla_stack(const xla_tensor* const* ts, int32_t n, int32_t axis, xla_tensor** out) {
  return make("xla_stack", out, [&] { return ag::stack(tensors_arg(ts, n), axis); });
}

xla_status xla_split(const xla_tensor* t, const int64_t* sizes, int32_t n_sizes, int32_t axis, xla_tensor** outs,
                     size_t cap, size_t* n_out) {
  return guard("xla_split", [&] {
    const Tensor& x = tensor_of(t, "t");
    require_ptr(n_out, "n_out");
    if (n_sizes <= 0) invalid("n_sizes must be positive, got " + std::to_string(n_sizes));
    require_ptr(sizes, "sizes");
    std::vector<Tensor> parts = ag::split(x, std::vector<int64_t>(sizes, sizes + n_sizes), axis);
    if (parts.size() > cap) {
      *n_out = parts.size();
      fail(Status::BufferTooSmall, std::to_string(parts.size()) + " pieces do not fit outs of capacity " + std::to_string(cap));
    }
    require_ptr(outs, "outs");
    std::vector<xla_tensor*> handles;  // all allocated before any is handed out: nothing leaks
    handles.reserve(parts.size());
    try {
      for (Tensor& p : parts) handles.push_back(wrap(std::move(p)));
    } catch (...) {
      for (xla_tensor* h : handles) delete h;
      throw;
    }
    for (size_t i = 0; i < handles.size(); ++i) outs[i] = handles[i];
    *n_out = handles.size();
  });
}

xla_status xla_cross_entropy(const xla_tensor* logits, const xla_tensor* targets, int64_t ignore_index,
                             float label_smoothing, xla_tensor** out) {
  return make("xla_cross_entropy", out, [&] {
    return ag::cross_entropy(tensor_of(logits, "logits"), tensor_of(targets, "targets"), ignore_index, label_smoothing);
  });
}

xla_status xla_tril(const xla_tensor* t, int64_t k, xla_tensor** out) {
  return make("xla_tril", out, [&] { return ag::tril(tensor_of(t, "t"), k); });
}

xla_status xla_triu(const xla_tensor* t, int64_t k, xla_tensor** out) {
  return make("xla_triu", out, [&] { return ag::triu(tensor_of(t, "t"), k); });
}

}  // extern "C"
