// grad_shape.cpp — differentiable views (reshape, permute, slice, expand …), cast and
// matmul. A view's backward is the inverse view of the gradient; slicing scatters it into
// zeros of the input's shape.
#include <algorithm>

#include "node.hpp"

namespace xla::ag {

using autograd::BinaryShapes;
using autograd::InputShape;
using autograd::record_op;

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = x.reshape(shape);
  if (auto* n = record_op<InputShape>(y, "reshape", [](auto& n, const Tensor& g, Tensor* gi) { gi[0] = g.reshape(n.p.x); },
                                      {&x}))
    n->p.x = x.shape();
  return y;
}

Tensor permute(const Tensor& x, const Dims& order) {
  Tensor y = x.permute(order);
  struct Order {
    Dims order;  // normalised axes
  };
  if (auto* n = record_op<Order>(y, "permute", [](auto& n, const Tensor& g, Tensor* gi) {
        Dims inverse = Dims::filled(n.p.order.size(), 0);
        for (int i = 0; i < n.p.order.size(); ++i) inverse[int(n.p.order[i])] = i;
        gi[0] = g.permute(inverse);
      }, {&x}))
    for (int i = 0; i < order.size(); ++i) n->p.order.push_back(normalize_axis(int(order[i]), x.ndim(), "permute"));
  return y;
}

Tensor transpose(const Tensor& x, int a, int b) {
  Tensor y = x.transpose(a, b);
  struct Axes {
    int a, b;
  };
  if (auto* n = record_op<Axes>(y, "transpose", [](auto& n, const Tensor& g, Tensor* gi) {
        gi[0] = g.transpose(n.p.a, n.p.b);
      }, {&x}))
    n->p = Axes{a, b};
  return y;
}

// Gradient of a view that picks some elements: zeros of the input's shape, with the same
// view of them receiving g. `pick` re-applies the forward view to the zeros.
template <typename Pick>
static Tensor scatter_into_zeros(const Shape& shape, const Tensor& g, Pick pick) {
  Tensor z = Tensor::zeros(shape, DType::F32);
  Tensor view = pick(z);
  view.copy_(g);
  return z;
}

Tensor slice(const Tensor& x, int axis, int64_t start, int64_t stop, int64_t step) {
  Tensor y = x.slice(axis, start, stop, step);
  struct Slice {
    Shape x;
    int axis;
    int64_t start, stop, step;
  };
  if (auto* n = record_op<Slice>(y, "slice", [](auto& n, const Tensor& g, Tensor* gi) {
        const Slice& p = n.p;
        gi[0] = scatter_into_zeros(p.x, g, [&](const Tensor& z) { return z.slice(p.axis, p.start, p.stop, p.step); });
      }, {&x}))
    n->p = Slice{x.shape(), axis, start, stop, step};
  return y;
}

Tensor select(const Tensor& x, int axis, int64_t index) {
  Tensor y = x.select(axis, index);
  struct Select {
    Shape x;
    int axis;
    int64_t index;
  };
  if (auto* n = record_op<Select>(y, "select", [](auto& n, const Tensor& g, Tensor* gi) {
        const Select& p = n.p;
        gi[0] = scatter_into_zeros(p.x, g, [&](const Tensor& z) { return z.select(p.axis, p.index); });
      }, {&x}))
    n->p = Select{x.shape(), axis, index};
  return y;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  Tensor y = x.expand(shape);
  if (auto* n = record_op<InputShape>(y, "expand", [](auto& n, const Tensor& g, Tensor* gi) { gi[0] = sum_to(g, n.p.x); },
                                      {&x}))
    n->p.x = x.shape();
  return y;
}

Tensor squeeze(const Tensor& x, int axis) {
  Tensor y = x.squeeze(axis);
  if (auto* n = record_op<InputShape>(y, "squeeze", [](auto& n, const Tensor& g, Tensor* gi) { gi[0] = g.reshape(n.p.x); },
                                      {&x}))
    n->p.x = x.shape();
  return y;
}

Tensor unsqueeze(const Tensor& x, int axis) {
  Tensor y = x.unsqueeze(axis);
  if (auto* n = record_op<InputShape>(y, "unsqueeze",
                                      [](auto& n, const Tensor& g, Tensor* gi) { gi[0] = g.reshape(n.p.x); }, {&x}))
    n->p.x = x.shape();
  return y;
}

Tensor contiguous(const Tensor& x) {
  Tensor y = x.contiguous();
  record_op(y, "contiguous", [](auto&, const Tensor& g, Tensor* gi) { gi[0] = g; }, {&x});
  return y;
}

Tensor cast(const Tensor& x, DType dtype) {
  Tensor y = xla::cast(x, dtype);
  if (is_floating(dtype) && is_floating(x.dtype()))
    record_op(y, "cast", [](auto&, const Tensor& g, Tensor* gi) { gi[0] = g.dtype() == DType::F32 ? g : g.to(DType::F32); },
              {&x});
  return y;
}

// Whether t's last two axes are column-major (a transposed matrix), and not also row-major.
static bool column_major(const Tensor& t) {
  const int n = t.ndim();
  return n >= 2 && t.strides()[n - 2] == 1 && t.shape()[n - 2] > 1 && t.shape()[n - 1] > 1;
}

// matmul of operands with at least 2 dims; 1-D operands are handled by differentiable views.
static Tensor matmul2(const Tensor& a, const Tensor& b) {
  Tensor y = xla::matmul(a, b);
  if (auto* n = record_op<BinaryShapes>(y, "matmul", [](auto& n, const Tensor& g, Tensor* gi) {
        const Tensor &a = n.saved(0), &b = n.saved(1);
        // dA = g @ Bᵀ, dB = Aᵀ @ g, each summed over the batch dims it was broadcast along.
        // A matrix shared by the whole batch (a weight: x [B, T, C] @ W) sums over the batch
        // inside one product, the rows of every entry stacked: Σ_b x_bᵀ g_b = Xᵀ G, instead of
        // B products of W's size and a pass adding them up.
        if (n.needs(0)) gi[0] = sum_to(xla::matmul(g, b.transpose(-1, -2)), n.p.a);
        // dB is made in B's layout: for a column-major B (x·Wᵀ, Wᵀ a view of the weight) as
        // (gᵀ·A)ᵀ, whose transpose back to W is contiguous, so the weight's gradient is
        // not copied again to lay it out.
        if (n.needs(1)) {
          const bool shared = n.p.b.size() == 2 && a.ndim() > 2 && g.ndim() == a.ndim() &&
                              std::equal(a.shape().begin(), a.shape().end() - 2, g.shape().begin());
          const bool b_cols = column_major(b);
          if (shared) {
            const int64_t K = a.shape().back(), N = g.shape().back(), rows = K ? a.numel() / K : 0;
            const Tensor a2 = a.reshape({rows, K}), g2 = g.reshape({rows, N});
            gi[1] = b_cols ? xla::matmul(g2.transpose(0, 1), a2).transpose(0, 1) : xla::matmul(a2.transpose(0, 1), g2);
          } else {
            gi[1] = sum_to(
                b_cols ? xla::matmul(g.transpose(-1, -2), a).transpose(-1, -2) : xla::matmul(a.transpose(-1, -2), g),
                n.p.b);
          }
        }
      }, {&a, &b})) {
    n->p = BinaryShapes{a.shape(), b.shape()};
    n->save(a);
    n->save(b);
  }
  return y;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) fail(Status::InvalidArg, "matmul", "undefined tensor");
  if (a.ndim() == 0 || b.ndim() == 0) return xla::matmul(a, b);  // throws the shape error
  const bool av = a.ndim() == 1, bv = b.ndim() == 1;
  Tensor y = matmul2(av ? ag::unsqueeze(a, 0) : a, bv ? ag::unsqueeze(b, 1) : b);
  if (av && bv) return ag::reshape(y, Shape{});
  if (av) return ag::squeeze(y, -2);
  if (bv) return ag::squeeze(y, -1);
  return y;
}

}  // namespace xla::ag
