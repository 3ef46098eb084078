// grad_reduce.cpp — differentiable reductions, softmax and log_softmax.
// A reduction's gradient is the output gradient broadcast back over the reduced axes
// (unsqueezed first when keepdims was false), times the local derivative.
#include <algorithm>
#include <cmath>

#include "map.hpp"
#include "node.hpp"

namespace xla::ag {

using autograd::record;

namespace {

// Reduced axes of an ndim tensor as a list (empty input list = all), normalised.
std::vector<int> axes_of(const Dims& ints, int ndim) {
  std::vector<int> axes;
  if (ints.empty()) {
    for (int i = 0; i < ndim; ++i) axes.push_back(i);
  } else {
    for (int64_t a : ints) axes.push_back(int(a));
  }
  return axes;
}

Node* record_reduce(Tensor& y, const char* name, autograd::BackwardFn fn, const Tensor& x, const std::vector<int>& axes,
                    bool keepdims) {
  Node* n = record(y, name, fn, {&x});
  if (n) {
    n->shape_a = x.shape();
    for (int a : axes) n->ints.push_back(normalize_axis(a, x.ndim(), name));
    n->flag = keepdims;
  }
  return n;
}

// g (the gradient of a reduction's output) brought back to the input's shape as a view.
Tensor spread(const Node& n, const Tensor& g) {
  Tensor t = g;
  if (!n.flag) {
    std::vector<int> axes = axes_of(n.ints, n.shape_a.size());
    std::sort(axes.begin(), axes.end());
    for (int a : axes) t = t.unsqueeze(a);
  }
  return t.expand(n.shape_a);
}

int64_t reduced_count(const Node& n) {
  int64_t c = 1;
  for (int a : axes_of(n.ints, n.shape_a.size())) c *= n.shape_a[a];
  return c;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  Tensor y = xla::sum(x, axes, keepdims);
  record_reduce(y, "sum", [](Node& n, const Tensor& g, Tensor* gi) { gi[0] = spread(n, g).contiguous(); }, x, axes,
                keepdims);
  return y;
}

Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  Tensor y = xla::mean(x, axes, keepdims);
  record_reduce(y, "mean", [](Node& n, const Tensor& g, Tensor* gi) {
    gi[0] = xla::mul(spread(n, g), Tensor::scalar(1.f / float(reduced_count(n))));
  }, x, axes, keepdims);
  return y;
}

// The gradient goes to the elements equal to the extremum, shared evenly among ties.
static void extremum_backward(Node& n, const Tensor& g, Tensor* gi) {
  const Tensor &x = n.get(0), &y = n.get(1);
  Tensor hit = xla::eq(x, spread(n, y));  // u8 mask of the winners
  Tensor count = xla::sum(hit, axes_of(n.ints, x.ndim()), true);
  gi[0] = xla::div(xla::mul(spread(n, g), hit), count);
}

Tensor max(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  Tensor y = xla::max(x, axes, keepdims);
  if (Node* n = record_reduce(y, "max", extremum_backward, x, axes, keepdims)) {
    n->save(x);
    n->save(y);
  }
  return y;
}

Tensor min(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  Tensor y = xla::min(x, axes, keepdims);
  if (Node* n = record_reduce(y, "min", extremum_backward, x, axes, keepdims)) {
    n->save(x);
    n->save(y);
  }
  return y;
}

Tensor logsumexp(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  Tensor y = xla::logsumexp(x, axes, keepdims);
  if (Node* n = record_reduce(y, "logsumexp", [](Node& n, const Tensor& g, Tensor* gi) {
        // d lse / dx = softmax(x) = exp(x - lse)
        gi[0] = autograd::map3(spread(n, g).contiguous(), n.get(0), spread(n, n.get(1)).contiguous(),
                               [](float g, float x, float l) { return g * std::exp(x - l); });
      }, x, axes, keepdims)) {
    n->save(x);
    n->save(y);
  }
  return y;
}

Tensor var(const Tensor& x, const std::vector<int>& axes, bool keepdims, int correction) {
  Tensor y = xla::var(x, axes, keepdims, correction);
  if (Node* n = record_reduce(y, "var", [](Node& n, const Tensor& g, Tensor* gi) {
        // d var / dx_i = 2 (x_i - mean) / (N - correction)
        const Tensor& x = n.get(0);
        Tensor centered = xla::sub(x, xla::mean(x, axes_of(n.ints, x.ndim()), true));
        float scale = 2.f / float(reduced_count(n) - int64_t(n.scalar));
        gi[0] = xla::mul(xla::mul(spread(n, g), centered), Tensor::scalar(scale));
      }, x, axes, keepdims)) {
    n->save(x);
    n->scalar = correction;
  }
  return y;
}

Tensor argmax(const Tensor& x, int axis, bool keepdims) { return xla::argmax(x, axis, keepdims); }

Tensor softmax(const Tensor& x, int axis) {
  Tensor y = xla::softmax(x, axis);
  if (Node* n = record(y, "softmax", [](Node& n, const Tensor& g, Tensor* gi) {
        // dx = y ⊙ (g - Σ_axis g ⊙ y); a 0-d softmax is the constant 1
        const Tensor& y = n.get(0);
        if (y.ndim() == 0) {
          gi[0] = Tensor::zeros({});
          return;
        }
        int axis = int(n.ints[0]);
        Tensor gy = xla::mul(g, y);
        gi[0] = xla::sub(gy, xla::mul(y, xla::sum(gy, {axis}, true)));
      }, {&x})) {
    n->ints.push_back(x.ndim() ? normalize_axis(axis, x.ndim(), "softmax") : 0);
    n->save(y);
  }
  return y;
}

Tensor log_softmax(const Tensor& x, int axis) {
  Tensor y = xla::log_softmax(x, axis);
  if (Node* n = record(y, "log_softmax", [](Node& n, const Tensor& g, Tensor* gi) {
        // dx = g - exp(y) Σ_axis g; a 0-d log_softmax is the constant 0
        const Tensor& y = n.get(0);
        if (y.ndim() == 0) {
          gi[0] = Tensor::zeros({});
          return;
        }
        Tensor total = xla::sum(g, {int(n.ints[0])}, true);
        gi[0] = xla::sub(g, xla::mul(xla::exp(y), total));
      }, {&x})) {
    n->ints.push_back(x.ndim() ? normalize_axis(axis, x.ndim(), "log_softmax") : 0);
    n->save(y);
  }
  return y;
}

}  // namespace xla::ag
