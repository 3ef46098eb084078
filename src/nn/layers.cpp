// layers.cpp — linear, the gated MLP and soft-capping, composed from ag ops (RMSNorm,
// RoPE and the GeGLU gate are fused nodes: fused.cpp).
#include "xla/nn.hpp"

namespace xla::nn {

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  if (w.ndim() != 2) fail(Status::Shape, "linear: weight must be [out, in], got " + w.shape().str());
  if (x.ndim() == 0 || x.shape().back() != w.shape()[1])
    fail(Status::Shape, "linear: input " + x.shape().str() + " does not end in the weight's in-features " +
                            std::to_string(w.shape()[1]));
  Tensor y = ag::matmul(x, ag::transpose(w, 0, 1));
  if (!b.defined()) return y;
  if (!(b.shape() == Shape{w.shape()[0]}))
    fail(Status::Shape, "linear: bias " + b.shape().str() + " should be [" + std::to_string(w.shape()[0]) + "]");
  return ag::add(y, b);
}

Tensor softcap(const Tensor& x, float cap) {
  return ag::mul(ag::tanh(ag::mul(x, Tensor::scalar(1.f / cap))), Tensor::scalar(cap));
}

Tensor geglu_mlp(const Tensor& x, const Tensor& gate, const Tensor& up, const Tensor& down) {
  return linear(gelu_tanh_mul(linear(x, gate), linear(x, up)), down);
}

}  // namespace xla::nn
