// grad_reduce.cpp — differentiable reductions, softmax and log_softmax.
// A reduction's gradient is the output gradient broadcast back over the reduced axes
// (unsqueezed first when keepdims was false), times the local derivative.
#include <algorithm>
#include <cmath>

#include "map.hpp"
#include "node.hpp"

namespace xla::ag {

using autograd::OpNode;
using autograd::record_op;

namespace {

// What a reduction's backward needs: the input's shape and how it was reduced.
struct Reduction {
  Shape x;
  std::vector<int> axes;  // normalised; empty: every axis
  bool keepdims = false;
};
struct Variance : Reduction {
  int correction = 1;  // the mean of squares divides by N - correction
};

// The reduced axes as a list.
std::vector<int> axes_of(const Reduction& r) {
  if (!r.axes.empty()) return r.axes;
  std::vector<int> all;
  for (int i = 0; i < r.x.size(); ++i) all.push_back(i);
  return all;
}

template <typename P = Reduction>
OpNode<P>* record_reduce(Tensor& y, const char* name, typename OpNode<P>::Fn fn, const Tensor& x,
                         const std::vector<int>& axes, bool keepdims) {
  OpNode<P>* n = record_op<P>(y, name, fn, {&x});
  if (n) {
    n->p.x = x.shape();
    for (int a : axes) n->p.axes.push_back(normalize_axis(a, x.ndim(), name));
    n->p.keepdims = keepdims;
  }
  return n;
}

// g (the gradient of a reduction's output) brought back to the input's shape as a view.
Tensor spread(const Reduction& r, const Tensor& g) {
  Tensor t = g;
  if (!r.keepdims) {
    std::vector<int> axes = axes_of(r);
    std::sort(axes.begin(), axes.end());
    for (int a : axes) t = t.unsqueeze(a);
  }
  return t.expand(r.x);
}

int64_t reduced_count(const Reduction& r) {
  int64_t c = 1;
  for (int a : axes_of(r)) c *= r.x[a];
  return c;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  Tensor y = xla::sum(x, axes, keepdims);
  record_reduce(y, "sum", [](auto& n, const Tensor& g, Tensor* gi) { gi[0] = spread(n.p, g).contiguous(); }, x, axes,
                keepdims);
  return y;
}

Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  Tensor y = xla::mean(x, axes, keepdims);
  record_reduce(y, "mean", [](auto& n, const Tensor& g, Tensor* gi) {
    gi[0] = xla::mul(spread(n.p, g), Tensor::scalar(1.f / float(reduced_count(n.p))));
  }, x, axes, keepdims);
  return y;
}

// The gradient goes to the elements equal to the extremum, shared evenly among ties.
static void extremum_backward(OpNode<Reduction>& n, const Tensor& g, Tensor* gi) {
  const Tensor &x = n.saved(0), &y = n.saved(1);
  Tensor hit = xla::eq(x, spread(n.p, y));  // u8 mask of the winners
  Tensor count = xla::sum(hit, axes_of(n.p), true);
  gi[0] = xla::div(xla::mul(spread(n.p, g), hit), count);
}

Tensor max(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  Tensor y = xla::max(x, axes, keepdims);
  if (auto* n = record_reduce(y, "max", extremum_backward, x, axes, keepdims)) {
    n->save(x);
    n->save(y);
  }
  return y;
}

Tensor min(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  Tensor y = xla::min(x, axes, keepdims);
  if (auto* n = record_reduce(y, "min", extremum_backward, x, axes, keepdims)) {
    n->save(x);
    n->save(y);
  }
  return y;
}

Tensor logsumexp(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  Tensor y = xla::logsumexp(x, axes, keepdims);
  if (auto* n = record_reduce(y, "logsumexp", [](auto& n, const Tensor& g, Tensor* gi) {
        // d lse / dx = softmax(x) = exp(x - lse)
        gi[0] = autograd::map3(spread(n.p, g).contiguous(), n.saved(0), spread(n.p, n.saved(1)).contiguous(),
                               [](float g, float x, float l) { return g * std::exp(x - l); });
      }, x, axes, keepdims)) {
    n->save(x);
    n->save(y);
  }
  return y;
}

Tensor var(const Tensor& x, const std::vector<int>& axes, bool keepdims, int correction) {
  Tensor y = xla::var(x, axes, keepdims, correction);
  if (auto* n = record_reduce<Variance>(y, "var", [](auto& n, const Tensor& g, Tensor* gi) {
        // d var / dx_i = 2 (x_i - mean) / (N - correction)
        const Tensor& x = n.saved(0);
        Tensor centered = xla::sub(x, xla::mean(x, axes_of(n.p), true));
        float scale = 2.f / float(reduced_count(n.p) - int64_t(n.p.correction));
        gi[0] = xla::mul(xla::mul(spread(n.p, g), centered), Tensor::scalar(scale));
      }, x, axes, keepdims)) {
    n->save(x);
    n->p.correction = correction;
  }
  return y;
}

Tensor argmax(const Tensor& x, int axis, bool keepdims) { return xla::argmax(x, axis, keepdims); }

struct SoftmaxAxis {
  int axis = 0;  // normalised
};

Tensor softmax(const Tensor& x, int axis) {
  Tensor y = xla::softmax(x, axis);
  if (auto* n = record_op<SoftmaxAxis>(y, "softmax", [](auto& n, const Tensor& g, Tensor* gi) {
        // dx = y ⊙ (g - Σ_axis g ⊙ y); a 0-d softmax is the constant 1
        const Tensor& y = n.saved(0);
        if (y.ndim() == 0) {
          gi[0] = Tensor::zeros({});
          return;
        }
        const int axis = n.p.axis;
        Tensor gy = xla::mul(g, y);
        gi[0] = xla::sub(gy, xla::mul(y, xla::sum(gy, {axis}, true)));
      }, {&x})) {
    n->p.axis = x.ndim() ? normalize_axis(axis, x.ndim(), "softmax") : 0;
    n->save(y);
  }
  return y;
}

Tensor log_softmax(const Tensor& x, int axis) {
  Tensor y = xla::log_softmax(x, axis);
  if (auto* n = record_op<SoftmaxAxis>(y, "log_softmax", [](auto& n, const Tensor& g, Tensor* gi) {
        // dx = g - exp(y) Σ_axis g; a 0-d log_softmax is the constant 0
        const Tensor& y = n.saved(0);
        if (y.ndim() == 0) {
          gi[0] = Tensor::zeros({});
          return;
        }
        Tensor total = xla::sum(g, {n.p.axis}, true);
        gi[0] = xla::sub(g, xla::mul(xla::exp(y), total));
      }, {&x})) {
    n->p.axis = x.ndim() ? normalize_axis(axis, x.ndim(), "log_softmax") : 0;
    n->save(y);
  }
  return y;
}

}  // namespace xla::ag
