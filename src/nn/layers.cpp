// layers.cpp — linear (one weight, or several reading one input), the gated MLP and
// soft-capping, composed from ag ops (RMSNorm, RoPE and the GeGLU gate are fused nodes:
// fused.cpp).
#include "into.hpp"      // src/tensor/kernels
#include "op_trace.hpp"  // src/tensor/kernels
#include "xla/autograd.hpp"
#include "xla/nn.hpp"

namespace xla::nn {

static void check_linear(const Tensor& x, const Tensor& w) {
  if (!x.defined() || !w.defined()) fail(Status::InvalidArg, "linear: undefined tensor");
  if (w.ndim() != 2) fail(Status::Shape, "linear: weight must be [out, in], got " + w.shape().str());
  if (x.ndim() == 0 || x.shape().back() != w.shape()[1])
    fail(Status::Shape, "linear: input " + x.shape().str() + " does not end in the weight's in-features " +
                            std::to_string(w.shape()[1]));
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_linear(x, w);
  Tensor y = ag::matmul(x, ag::transpose(w, 0, 1));
  if (!b.defined()) return y;
  if (!(b.shape() == Shape{w.shape()[0]}))
    fail(Status::Shape, "linear: bias " + b.shape().str() + " should be [" + std::to_string(w.shape()[0]) + "]");
  return ag::add(y, b);
}

Tensor softcap(const Tensor& x, float cap) {
  return ag::mul(ag::tanh(ag::mul(x, Tensor::scalar(1.f / cap))), Tensor::scalar(cap));
}

std::vector<Tensor> linears(const Tensor& x, const std::vector<Tensor>& weights) {
  bool differentiable = is_grad_enabled() && requires_grad(x);
  for (const Tensor& w : weights) {
    check_linear(x, w);
    differentiable |= is_grad_enabled() && requires_grad(w);
  }
  if (differentiable || weights.size() < 2) {
    std::vector<Tensor> out;
    for (const Tensor& w : weights) out.push_back(linear(x, w));
    return out;
  }
  std::vector<Tensor> in = {x};
  in.insert(in.end(), weights.begin(), weights.end());
  auto results = [](const std::vector<Tensor>& v) {
    std::vector<Tensor> out;
    for (size_t i = 1; i < v.size(); ++i) {
      Shape s = v[0].shape();
      s[s.size() - 1] = v[i].shape()[0];
      out.push_back(Tensor::empty(s));
    }
    return out;
  };
  auto into = [](const std::vector<Tensor>& v, std::vector<Tensor>& out) {
    detail::linears_into(v[0], std::vector<Tensor>(v.begin() + 1, v.end()), out);
  };
  // a capture replays the products from the inputs of each run (op_trace.hpp)
  return detail::traced_into("linears", in, into, results);
}

Tensor geglu_mlp(const Tensor& x, const Tensor& gate, const Tensor& up, const Tensor& down) {
  std::vector<Tensor> gu = linears(x, {gate, up});
  return linear(gelu_tanh_mul(gu[0], gu[1]), down);
}

}  // namespace xla::nn
