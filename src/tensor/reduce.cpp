// reduce.cpp — reductions over any set of axes, argmax, softmax and log_softmax.
// Every reduction is brought to one shape, [outer, inner] with the reduced axes packed
// last (a permuted view, copied only when it is not already packed), then each row is
// reduced by Eigen. Sums over leading axes of a packed tensor skip the copy instead.
#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <vector>

#include "blocked.hpp"
#include "copy.hpp"
#include "op_trace.hpp"
#include "parallel.hpp"
#include "rows.hpp"
#include "xla/ops.hpp"

namespace xla {
namespace {

using Row = Eigen::Map<const Eigen::ArrayXf>;
using RowOut = Eigen::Map<Eigen::ArrayXf>;

struct Rows {
  Tensor data;       // f32, packed [outer, inner]
  int64_t outer = 0, inner = 0;
  Shape out_shape;
};

// Which axes are reduced (empty list = all), as a mask.
uint32_t axis_mask(const Tensor& x, const std::vector<int>& axes, const char* op) {
  if (!x.defined()) fail(Status::InvalidArg, op, "undefined tensor");
  if (axes.empty()) return (1u << x.ndim()) - 1;
  uint32_t mask = 0;
  for (int a : axes) {
    int n = normalize_axis(a, x.ndim(), op);
    if (mask & (1u << n)) fail(Status::InvalidArg, op, "axis " + std::to_string(a) + " repeated");
    mask |= 1u << n;
  }
  return mask;
}

Shape reduced_shape(const Shape& s, uint32_t mask, bool keepdims) {
  Shape out;
  for (int i = 0; i < s.size(); ++i) {
    if (!(mask & (1u << i))) out.push_back(s[i]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

Rows to_rows(const Tensor& x, uint32_t mask, bool keepdims) {
  Dims order;
  Rows r;
  r.outer = r.inner = 1;
  for (int i = 0; i < x.ndim(); ++i)
    if (!(mask & (1u << i))) { order.push_back(i); r.outer *= x.shape()[i]; }
  for (int i = 0; i < x.ndim(); ++i)
    if (mask & (1u << i)) { order.push_back(i); r.inner *= x.shape()[i]; }
  r.data = detail::as_f32_contiguous(x.permute(order));
  r.out_shape = reduced_shape(x.shape(), mask, keepdims);
  return r;
}

// fn(Row row) -> float, for each of the outer rows.
template <typename F>
Tensor reduce_rows(const Tensor& x, const std::vector<int>& axes, bool keepdims, const char* op, F fn) {
  uint32_t mask = axis_mask(x, axes, op);
  Rows r = to_rows(x, mask, keepdims);
  Tensor out = Tensor::empty(r.out_shape, DType::F32);
  const float* src = r.data.data<float>();
  float* dst = out.data<float>();
  const int64_t inner = r.inner;
  detail::parallel_for(r.outer, std::max<int64_t>(1, detail::kElementwiseGrain / std::max<int64_t>(inner, 1)),
                       [&](int64_t b, int64_t e) {
                         for (int64_t i = b; i < e; ++i) dst[i] = fn(Row(src + i * inner, inner));
                       });
  return out;
}

template <typename R>
float row_sum(const R& r) {
  return detail::lane_sum(r.data(), r.size());
}

// True when the reduced axes are exactly the leading ones of a packed tensor.
bool leading_reduction(const Tensor& x, uint32_t mask) {
  if (!x.is_contiguous() || x.dtype() != DType::F32 || mask == 0) return false;
  int n = 0;
  while (n < x.ndim() && (mask & (1u << n))) ++n;
  return mask == (1u << n) - 1 && n < x.ndim();
}

}  // namespace

static Tensor sum_impl(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  uint32_t mask = axis_mask(x, axes, "sum");
  if (leading_reduction(x, mask)) {  // out[c] = Σ_r x[r, c], streaming over rows
    Shape out_shape = reduced_shape(x.shape(), mask, keepdims);
    int64_t cols = out_shape.numel(), rows = cols ? x.numel() / cols : 0;
    Tensor out = Tensor::zeros(out_shape, DType::F32);
    const float* src = x.data<float>();
    float* dst = out.data<float>();
    detail::parallel_for(cols, 4096, [&](int64_t b, int64_t e) {
      Eigen::ArrayXd acc = Eigen::ArrayXd::Zero(e - b);  // f64 accumulators: no drift over many rows
      for (int64_t r = 0; r < rows; ++r) acc += Row(src + r * cols + b, e - b).cast<double>();
      RowOut(dst + b, e - b) = acc.cast<float>();
    });
    return out;
  }
  return reduce_rows(x, axes, keepdims, "sum", [](Row r) { return row_sum(r); });
}

static Tensor sum_to_impl(const Tensor& x, const Shape& shape) {
  if (!x.defined()) fail(Status::InvalidArg, "sum_to: undefined tensor");
  if (x.shape() == shape) return x;
  const int lead = x.ndim() - shape.size();
  if (lead < 0) fail(Status::Shape, "sum_to: cannot sum " + x.shape().str() + " to the larger " + shape.str());
  std::vector<int> axes;
  for (int i = 0; i < x.ndim(); ++i) {
    if (i < lead) {
      axes.push_back(i);
    } else if (shape[i - lead] == 1 && x.shape()[i] != 1) {
      axes.push_back(i);
    } else if (shape[i - lead] != x.shape()[i]) {
      fail(Status::Shape, "sum_to: " + shape.str() + " does not broadcast to " + x.shape().str());
    }
  }
  if (axes.empty()) return x.reshape(shape);
  return sum(x, axes, true).reshape(shape);
}

static Tensor mean_impl(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  uint32_t mask = axis_mask(x, axes, "mean");
  int64_t count = 1;
  for (int i = 0; i < x.ndim(); ++i)
    if (mask & (1u << i)) count *= x.shape()[i];
  Tensor s = sum(x, axes, keepdims);
  float* p = s.data<float>();
  float inv = count ? 1.f / float(count) : std::numeric_limits<float>::quiet_NaN();
  for (int64_t i = 0; i < s.numel(); ++i) p[i] = count ? p[i] * inv : inv;
  return s;
}

static void require_nonempty(const Tensor& x, const std::vector<int>& axes, const char* op) {
  uint32_t mask = axis_mask(x, axes, op);
  for (int i = 0; i < x.ndim(); ++i)
    if ((mask & (1u << i)) && x.shape()[i] == 0)
      fail(Status::Shape, op, "cannot reduce over an empty axis of " + x.shape().str());
}

static Tensor max_impl(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  require_nonempty(x, axes, "max");
  return reduce_rows(x, axes, keepdims, "max", detail::row_max);
}

static Tensor min_impl(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  require_nonempty(x, axes, "min");
  return reduce_rows(x, axes, keepdims, "min", detail::row_min);
}

static Tensor logsumexp_impl(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  return reduce_rows(x, axes, keepdims, "logsumexp", detail::row_logsumexp);
}

static Tensor var_impl(const Tensor& x, const std::vector<int>& axes, bool keepdims, int correction) {
  if (correction < 0) fail(Status::InvalidArg, "var", "correction must be >= 0");
  return reduce_rows(x, axes, keepdims, "var", [correction](Row r) {
    int64_t dof = r.size() - correction;
    if (dof <= 0) return NAN;
    // two passes in double, in index order: no cancellation for large means, same bits anywhere
    double m = 0, ss = 0;
    for (Eigen::Index i = 0; i < r.size(); ++i) m += r[i];
    m /= double(r.size());
    for (Eigen::Index i = 0; i < r.size(); ++i) ss += (r[i] - m) * (r[i] - m);
    return float(ss / double(dof));
  });
}

static Tensor argmax_impl(const Tensor& x, int axis, bool keepdims) {
  if (!x.defined()) fail(Status::InvalidArg, "argmax", "undefined tensor");
  Tensor src = x.ndim() == 0 ? x.reshape({1}) : x;
  int a = normalize_axis(axis, src.ndim(), "argmax");
  if (src.shape()[a] == 0) fail(Status::Shape, "argmax", "cannot reduce over an empty axis of " + x.shape().str());
  Rows r = to_rows(src, 1u << a, keepdims);
  if (x.ndim() == 0) r.out_shape = Shape{};
  Tensor out = Tensor::empty(r.out_shape, DType::I64);
  const float* p = r.data.data<float>();
  int64_t* dst = out.data<int64_t>();
  for (int64_t i = 0; i < r.outer; ++i) {
    const float* row = p + i * r.inner;
    int64_t best = 0;
    for (int64_t j = 1; j < r.inner && row[best] == row[best]; ++j)  // the first NaN wins
      if (row[j] > row[best] || row[j] != row[j]) best = j;
    dst[i] = best;
  }
  return out;
}

// ---- softmax family: rows along `axis`, moved last when needed ----

// rows_fn(in, out, outer, inner) over x's rows along `axis`, into a new tensor.
template <typename F>
static Tensor along_axis(const Tensor& x, int axis, const char* op, F rows_fn) {
  if (!x.defined()) fail(Status::InvalidArg, op, "undefined tensor");
  if (x.ndim() == 0) return along_axis(x.reshape({1}), 0, op, rows_fn).reshape({});
  int a = normalize_axis(axis, x.ndim(), op);
  Tensor moved = x.transpose(a, x.ndim() - 1);
  Tensor in = detail::as_f32_contiguous(moved);
  Tensor out = Tensor::empty(in.shape(), DType::F32);
  const int64_t inner = in.shape().back(), outer = inner ? in.numel() / inner : 0;
  rows_fn(in.data<float>(), out.data<float>(), outer, inner);
  if (a == x.ndim() - 1) return out;
  return out.transpose(a, x.ndim() - 1).contiguous();
}

static Tensor softmax_impl(const Tensor& x, int axis) { return along_axis(x, axis, "softmax", detail::softmax_rows); }
static Tensor log_softmax_impl(const Tensor& x, int axis) {
  return along_axis(x, axis, "log_softmax", [](const float* in, float* out, int64_t outer, int64_t inner) {
    detail::for_each_row(in, out, outer, inner, detail::log_softmax_row);
  });
}

// ---- the public ops: each reports itself to a capture (op_trace.hpp) ----

namespace {
detail::OpEvent reduce_event(detail::ReduceCode code, const char* name, const Tensor& x, const std::vector<int>& axes,
                             bool keepdims, Tensor (*fn)(const Tensor&, const std::vector<int>&, bool)) {
  uint32_t mask = axis_mask(x, axes, name);
  detail::OpEvent e{detail::OpKind::Reduce, int(code), name, {}, keepdims, 0, {}};
  for (int i = 0; i < x.ndim(); ++i)
    if (mask & (1u << i)) e.axes.push_back(i);
  e.eager = [fn, axes = e.axes, keepdims](const std::vector<Tensor>& v) { return fn(v[0], axes, keepdims); };
  return e;
}
}  // namespace

#define XLA_REDUCE_OP(fn, Code)                                                                           \
  Tensor fn(const Tensor& x, const std::vector<int>& axes, bool keepdims) {                               \
    return detail::traced(                                                                                \
        {&x}, [&] { return reduce_event(detail::ReduceCode::Code, #fn, x, axes, keepdims, &fn##_impl); }, \
        [&] { return fn##_impl(x, axes, keepdims); });                                                    \
  }
XLA_REDUCE_OP(sum, Sum)
XLA_REDUCE_OP(mean, Mean)
XLA_REDUCE_OP(max, Max)
XLA_REDUCE_OP(min, Min)
#undef XLA_REDUCE_OP

Tensor logsumexp(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  return detail::traced(
      {&x},
      [&] {
        return detail::other_event("logsumexp", [axes, keepdims](const std::vector<Tensor>& v) {
          return logsumexp_impl(v[0], axes, keepdims);
        });
      },
      [&] { return logsumexp_impl(x, axes, keepdims); });
}

Tensor var(const Tensor& x, const std::vector<int>& axes, bool keepdims, int correction) {
  return detail::traced(
      {&x},
      [&] {
        return detail::other_event("var", [axes, keepdims, correction](const std::vector<Tensor>& v) {
          return var_impl(v[0], axes, keepdims, correction);
        });
      },
      [&] { return var_impl(x, axes, keepdims, correction); });
}

Tensor argmax(const Tensor& x, int axis, bool keepdims) {
  return detail::traced(
      {&x},
      [&] {
        return detail::other_event(
            "argmax", [axis, keepdims](const std::vector<Tensor>& v) { return argmax_impl(v[0], axis, keepdims); });
      },
      [&] { return argmax_impl(x, axis, keepdims); });
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  return detail::traced(
      {&x},
      [&] {
        return detail::other_event("sum_to",
                                   [shape](const std::vector<Tensor>& v) { return sum_to_impl(v[0], shape); });
      },
      [&] { return sum_to_impl(x, shape); });
}

#define XLA_SOFTMAX_OP(fn, Kind)                                            \
  Tensor fn(const Tensor& x, int axis) {                                    \
    return detail::traced(                                                  \
        {&x},                                                               \
        [&] {                                                               \
          const int a = x.ndim() ? normalize_axis(axis, x.ndim(), #fn) : 0; \
          return detail::OpEvent{detail::OpKind::Kind,                      \
                                 0,                                         \
                                 #fn,                                       \
                                 {},                                        \
                                 false,                                     \
                                 a,                                         \
                                 [a](const std::vector<Tensor>& v) { return fn##_impl(v[0], a); }};    \
        },                                                                  \
        [&] { return fn##_impl(x, axis); });                                \
  }
XLA_SOFTMAX_OP(softmax, Softmax)
XLA_SOFTMAX_OP(log_softmax, LogSoftmax)
#undef XLA_SOFTMAX_OP

}  // namespace xla
