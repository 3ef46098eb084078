// grad_elementwise.cpp — differentiable unary, binary and ternary elementwise ops.
// Each op: compute with the tensor layer, then record a node whose backward sits beside it.
// Binary gradients are reduced back to each input's shape (sum_to) to undo broadcasting.
#include <cmath>

#include "map.hpp"
#include "node.hpp"
#include "row_transforms.hpp"  // src/tensor/kernels

namespace xla::ag {

using autograd::map2;
using autograd::map3;
using autograd::BinaryShapes;
using autograd::OpNode;
using autograd::record_op;

// ---- unary: backward from the saved input x (or output y) ----
#define XLA_UNARY_GRAD(op, saves_output, formula)                                                  \
  Tensor op(const Tensor& x) {                                                                     \
    Tensor y = xla::op(x);                                                                         \
    if (auto* n = record_op(y, #op, [](auto& n, const Tensor& g, Tensor* gi) {                     \
          gi[0] = map2(g, n.saved(0), [](float g, [[maybe_unused]] float v) { return formula; });  \
        }, {&x}))                                                                                  \
      n->save(saves_output ? y : x);                                                               \
    return y;                                                                                      \
  }

// v is the saved value: x (input) or y (output) as the second macro argument says.
XLA_UNARY_GRAD(neg, false, -g)
XLA_UNARY_GRAD(abs, false, v > 0 ? g : (v < 0 ? -g : 0.f))
XLA_UNARY_GRAD(exp, true, g * v)                         // d e^x = e^x
XLA_UNARY_GRAD(log, false, g / v)                        // d ln x = 1/x
XLA_UNARY_GRAD(sqrt, true, g * 0.5f / v)                 // d √x = 1 / (2√x)
XLA_UNARY_GRAD(rsqrt, true, g * -0.5f * v * v * v)       // d x^-½ = -½ x^-3/2 = -½ y³
XLA_UNARY_GRAD(tanh, true, g * (1.f - v * v))            // d tanh = 1 - tanh²
XLA_UNARY_GRAD(sigmoid, true, g * v * (1.f - v))         // d σ = σ (1 - σ)
XLA_UNARY_GRAD(relu, false, v > 0 ? g : 0.f)
// d [x Φ(x)] = Φ(x) + x φ(x)
XLA_UNARY_GRAD(gelu, false,
               g * (0.5f * (1.f + std::erf(v * float(M_SQRT1_2))) + v * 0.3989422804014327f * std::exp(-0.5f * v * v)))
// d [x σ(x)] = σ(x) (1 + x (1 - σ(x)))
XLA_UNARY_GRAD(silu, false, [&] {
  float s = 1.f / (1.f + std::exp(-v));
  return g * s * (1.f + v * (1.f - s));
}())
#undef XLA_UNARY_GRAD

// dx = g · gelu_tanh'(x) for a block, the slope through the path's vector tanh
static void gelu_tanh_grad_block(const float* g, const float* x, float* dx, int64_t n) {
  detail::gelu_tanh_slope(x, dx, n);
  for (int64_t i = 0; i < n; ++i) dx[i] = g[i] * dx[i];
}

Tensor gelu_tanh(const Tensor& x) {
  Tensor y = xla::gelu_tanh(x);
  auto backward = [](auto& n, const Tensor& g, Tensor* gi) {
    gi[0] = autograd::map2_blocks(g, n.saved(0), gelu_tanh_grad_block);
  };
  if (auto* n = record_op(y, "gelu_tanh", backward, {&x})) n->save(x);
  return y;
}

// ---- binary ----

using BinaryNode = OpNode<BinaryShapes>;

static BinaryNode* record2(Tensor& y, const char* name, BinaryNode::Fn fn, const Tensor& a, const Tensor& b) {
  BinaryNode* n = record_op<BinaryShapes>(y, name, fn, {&a, &b});
  if (n) n->p = BinaryShapes{a.shape(), b.shape()};
  return n;
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = xla::add(a, b);
  record2(y, "add", [](BinaryNode& n, const Tensor& g, Tensor* gi) {
    if (n.needs(0)) gi[0] = sum_to(g, n.p.a);
    if (n.needs(1)) gi[1] = sum_to(g, n.p.b);
  }, a, b);
  return y;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = xla::sub(a, b);
  record2(y, "sub", [](BinaryNode& n, const Tensor& g, Tensor* gi) {
    if (n.needs(0)) gi[0] = sum_to(g, n.p.a);
    if (n.needs(1)) gi[1] = xla::neg(sum_to(g, n.p.b));
  }, a, b);
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = xla::mul(a, b);
  if (BinaryNode* n = record2(y, "mul", [](BinaryNode& n, const Tensor& g, Tensor* gi) {
        if (n.needs(0)) gi[0] = sum_to(xla::mul(g, n.saved(1)), n.p.a);  // d(ab)/da = b
        if (n.needs(1)) gi[1] = sum_to(xla::mul(g, n.saved(0)), n.p.b);  // d(ab)/db = a
      }, a, b)) {
    n->save(a);
    n->save(b);
  }
  return y;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = xla::div(a, b);
  if (BinaryNode* n = record2(y, "div", [](BinaryNode& n, const Tensor& g, Tensor* gi) {
        const Tensor& b = n.saved(1);
        if (n.needs(0)) gi[0] = sum_to(xla::div(g, b), n.p.a);  // d(a/b)/da = 1/b
        if (n.needs(1))                                              // d(a/b)/db = -a/b² = -y/b
          gi[1] = sum_to(xla::neg(xla::mul(g, xla::div(n.saved(2), b))), n.p.b);
      }, a, b)) {
    n->save(a);
    n->save(b);
    n->save(y);
  }
  return y;
}

// Share of the gradient that goes to a: 1 where a wins, ½ on ties, 0 where b wins.
static Tensor winner_share(const Tensor& a, const Tensor& b, bool max) {
  Tensor wins = max ? xla::gt(a, b) : xla::lt(a, b);
  return xla::add(wins, xla::mul(xla::eq(a, b), Tensor::scalar(0.5f)));
}

template <bool Max>
static void extremum_backward(BinaryNode& n, const Tensor& g, Tensor* gi) {
  Tensor share = winner_share(n.saved(0), n.saved(1), Max);
  if (n.needs(0)) gi[0] = sum_to(xla::mul(g, share), n.p.a);
  if (n.needs(1)) gi[1] = sum_to(xla::mul(g, xla::sub(Tensor::scalar(1.f), share)), n.p.b);
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor y = xla::maximum(a, b);
  if (BinaryNode* n = record2(y, "maximum", extremum_backward<true>, a, b)) {
    n->save(a);
    n->save(b);
  }
  return y;
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor y = xla::minimum(a, b);
  if (BinaryNode* n = record2(y, "minimum", extremum_backward<false>, a, b)) {
    n->save(a);
    n->save(b);
  }
  return y;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor y = xla::pow(a, b);
  if (BinaryNode* n = record2(y, "pow", [](BinaryNode& n, const Tensor& g, Tensor* gi) {
        const Tensor &a = n.saved(0), &b = n.saved(1), &y = n.saved(2);
        Tensor zero = Tensor::scalar(0.f);
        if (n.needs(0)) {  // d a^b / da = b a^(b-1), and 0 where b = 0 (a^0 is constant, even at a = 0)
          Tensor d = xla::mul(b, xla::pow(a, xla::sub(b, Tensor::scalar(1.f))));
          gi[0] = sum_to(xla::mul(g, xla::where(xla::eq(b, zero), zero, d)), n.p.a);
        }
        if (n.needs(1)) {  // d a^b / db = a^b ln a, and 0 at a = 0 with b >= 0 (as PyTorch)
          Tensor d = xla::mul(y, xla::log(a));
          Tensor flat = xla::mul(xla::eq(a, zero), xla::ge(b, zero));
          gi[1] = sum_to(xla::mul(g, xla::where(flat, zero, d)), n.p.b);
        }
      }, a, b)) {
    n->save(a);
    n->save(b);
    n->save(y);
  }
  return y;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor y = xla::where(cond, a, b);
  if (BinaryNode* n = record_op<BinaryShapes>(y, "where", [](BinaryNode& n, const Tensor& g, Tensor* gi) {
        const Tensor& c = n.saved(0);
        Tensor zero = Tensor::scalar(0.f);
        if (n.needs(1)) gi[1] = sum_to(xla::where(c, g, zero), n.p.a);
        if (n.needs(2)) gi[2] = sum_to(xla::where(c, zero, g), n.p.b);
      }, {&cond, &a, &b})) {
    n->p = BinaryShapes{a.shape(), b.shape()};
    n->save(cond);
  }
  return y;
}

// Comparisons: masks, never recorded.
Tensor eq(const Tensor& a, const Tensor& b) { return xla::eq(a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return xla::ne(a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return xla::lt(a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return xla::le(a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return xla::gt(a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return xla::ge(a, b); }

}  // namespace xla::ag
