// main.cpp — a downstream C++ program over the installed C++ API (libxla_cpp.a): a custom
// autograd node beside the built-in ops, y = Σ scale(x)², with scale(x) = 3x recorded as
// one node. dy/dx = 2·(3x)·3 = 18x: [18, 36, 54, 72] for x = [1, 2, 3, 4].
#include <xla/autograd.hpp>

#include <cstdio>

namespace {

struct ScaleNode final : xla::autograd::Node {
  float k = 1;
  void backward(const xla::Tensor& g, xla::Tensor* gi) override { gi[0] = xla::mul(g, xla::Tensor::scalar(k)); }
};

xla::Tensor scale(const xla::Tensor& x, float k) {
  xla::Tensor y = xla::mul(x, xla::Tensor::scalar(k));
  if (auto* n = xla::autograd::record<ScaleNode>(y, "scale", {&x})) n->k = k;
  return y;
}

}  // namespace

int main() {
  try {
    xla::Tensor x = xla::Tensor::from_vector({1, 2, 3, 4}, {4});
    xla::set_requires_grad(x, true);
    xla::Tensor s = scale(x, 3.f);
    xla::Tensor y = xla::ag::sum(xla::ag::mul(s, s));
    xla::backward(y);
    std::vector<float> g = xla::grad(x).to_vector();
    std::printf("y = %g, grad = %g %g %g %g\n", y.item(), g[0], g[1], g[2], g[3]);
    return y.item() == 270.f && g == std::vector<float>{18, 36, 54, 72} ? 0 : 1;  // 9·(1+4+9+16)
  } catch (const xla::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
