// elementwise.cpp — unary and broadcasting binary/ternary ops, f32 compute.
// Unary ops run Eigen's vectorised array functions over packed chunks; binary ops walk
// the broadcast shape in runs and specialise the inner loop for the common stride pairs
// (both packed, one side a broadcast scalar) so that the compiler vectorises it.
#include <Eigen/Core>
#include <cmath>
#include <optional>
#include <type_traits>

#include "blocked.hpp"
#include "copy.hpp"
#include "elementwise_fns.hpp"
#include "strided.hpp"
#include "xla/ops.hpp"

namespace xla {
namespace {

using detail::as_f32_contiguous;
using detail::BinaryCode;
using detail::UnaryCode;

void require(const Tensor& t, const char* op) {
  if (!t.defined()) fail(Status::InvalidArg, op, "undefined tensor");
}

// Applies fn(in, out) (Eigen array maps) over packed chunks, in parallel when large.
template <typename F>
Tensor unary(const Tensor& x, const char* op, F fn) {
  require(x, op);
  Tensor in = as_f32_contiguous(x);
  Tensor out = Tensor::empty(x.shape(), DType::F32);
  const float* src = in.data<float>();
  float* dst = out.data<float>();
  detail::parallel_for(in.numel(), detail::kElementwiseGrain, [&](int64_t b, int64_t e) {
    detail::apply_blocked(src + b, dst + b, e - b, fn);
  });
  return out;
}

// Strides of `t` seen through broadcasting to `shape` (0 on broadcast dims).
Dims broadcast_strides(const Tensor& t, const Shape& shape) {
  Dims s = Dims::filled(shape.size(), 0);
  int lead = shape.size() - t.ndim();
  for (int i = 0; i < t.ndim(); ++i)
    if (t.shape()[i] != 1) s[i + lead] = t.strides()[i];
  return s;
}

// out[i] = f(a[i], b[i]) with broadcasting; In is the compute type of the inputs. When f is
// f32 + − × ÷ (`arith`), runs along a row (or one value against one) go through the path's
// vector loops (cpu_kernels.hpp), exactly rounded as f is.
template <typename In, typename Out, typename F>
Tensor binary_typed(const Tensor& a, const Tensor& b, const Shape& shape, F f,
                    std::optional<detail::Arith> arith = std::nullopt) {
  constexpr bool kF32 = std::is_same_v<In, float> && std::is_same_v<Out, float>;
  constexpr DType in_dt = dtype_of<In>();
  Tensor a_conv, b_conv;  // converted copies, only when needed (no refcount traffic otherwise)
  if (a.dtype() != in_dt) a_conv = a.to(in_dt);
  if (b.dtype() != in_dt) b_conv = b.to(in_dt);
  const Tensor& ac = a_conv.defined() ? a_conv : a;
  const Tensor& bc = b_conv.defined() ? b_conv : b;
  Tensor out = Tensor::empty(shape, dtype_of<Out>());
  const int64_t numel = out.numel();
  if (numel == 0) return out;
  const In* pa = ac.template data<In>();
  const In* pb = bc.template data<In>();
  Out* po = out.template data<Out>();
  if (ac.shape() == shape && bc.shape() == shape && ac.is_contiguous() && bc.is_contiguous()) {
    // same shape, both packed: one flat loop, no walk to set up
    detail::parallel_for(numel, detail::kElementwiseGrain, [&](int64_t s, int64_t e) {
      if constexpr (kF32)
        if (arith) return detail::cpu_kernels().arith_f32(*arith, pa + s, false, pb + s, false, po + s, e - s);
      for (int64_t i = s; i < e; ++i) po[i] = f(pa[i], pb[i]);
    });
    return out;
  }
  detail::Walk<3> w(shape, {contiguous_strides(shape), broadcast_strides(ac, shape), broadcast_strides(bc, shape)});
  const int64_t sa = w.inner_stride(1), sb = w.inner_stride(2);
  w.parallel_runs([&](const int64_t* off, int64_t n) {
    Out* o = po + off[0];
    const In* x = pa + off[1];
    const In* y = pb + off[2];
    if constexpr (kF32)
      if (arith && (sa == 0 || sa == 1) && (sb == 0 || sb == 1))
        return detail::cpu_kernels().arith_f32(*arith, x, sa == 0, y, sb == 0, o, n);
    if (sa == 1 && sb == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (sa == 1 && sb == 0) {
      const In yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (sa == 0 && sb == 1) {
      const In xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i * sa], y[i * sb]);
    }
  });
  return out;
}

template <typename F>
Tensor binary(const Tensor& a, const Tensor& b, const char* op, F f, BinaryCode code) {
  require(a, op);
  require(b, op);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  return binary_typed<float, float>(a, b, shape, f, detail::arith_of(code));
}

bool is_integer(DType t) { return t == DType::I32 || t == DType::I64 || t == DType::U8; }

// Comparisons run on int64 when both sides are integers (ids above 2^24 stay exact).
template <typename F>
Tensor compare(const Tensor& a, const Tensor& b, const char* op, F f, BinaryCode) {
  require(a, op);
  require(b, op);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  if (is_integer(a.dtype()) && is_integer(b.dtype()))
    return binary_typed<int64_t, uint8_t>(a, b, shape, [f](int64_t x, int64_t y) { return uint8_t(f(x, y)); });
  return binary_typed<float, uint8_t>(a, b, shape, [f](float x, float y) { return uint8_t(f(x, y)); });
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  int n = std::max(a.size(), b.size());
  Shape s = Dims::filled(n, 1);
  for (int i = 0; i < n; ++i) {
    int ia = i - (n - a.size()), ib = i - (n - b.size());
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      fail(Status::Shape, op, "shapes " + a.str() + " and " + b.str() + " cannot be broadcast together");
    s[i] = da == 1 ? db : da;
  }
  return s;
}

// Each op reports itself to a capture (op_trace.hpp); its arithmetic is elementwise_fns.hpp's.
#define XLA_UNARY_OP(fn, Code)                                                                              \
  Tensor fn(const Tensor& x) {                                                                             \
    return detail::traced(                                                                                 \
        {&x}, [] { return detail::unary_event(UnaryCode::Code, #fn, &fn); },                               \
        [&] { return unary(x, #fn, [](auto a, auto o) { detail::unary_block(UnaryCode::Code, a, o); }); }); \
  }
XLA_UNARY_OP(neg, Neg)
XLA_UNARY_OP(abs, Abs)
XLA_UNARY_OP(exp, Exp)
XLA_UNARY_OP(log, Log)
XLA_UNARY_OP(sqrt, Sqrt)
XLA_UNARY_OP(rsqrt, Rsqrt)
XLA_UNARY_OP(tanh, Tanh)
XLA_UNARY_OP(sigmoid, Sigmoid)
XLA_UNARY_OP(relu, Relu)
XLA_UNARY_OP(gelu, Gelu)
XLA_UNARY_OP(gelu_tanh, GeluTanh)
XLA_UNARY_OP(silu, Silu)
#undef XLA_UNARY_OP

#define XLA_BINARY_OP(fn, Code, impl)                                                                                 \
  Tensor fn(const Tensor& a, const Tensor& b) {                                                                       \
    return detail::traced(                                                                                            \
        {&a, &b}, [] { return detail::binary_event(BinaryCode::Code, #fn, &fn); },                                    \
        [&] {                                                                                                         \
          return impl(                                                                                                \
              a, b, #fn, [](auto x, auto y) { return detail::binary_fn<BinaryCode::Code>(x, y); }, BinaryCode::Code); \
        });                                                                                                           \
  }
XLA_BINARY_OP(add, Add, binary)
XLA_BINARY_OP(sub, Sub, binary)
XLA_BINARY_OP(mul, Mul, binary)
XLA_BINARY_OP(div, Div, binary)
XLA_BINARY_OP(maximum, Maximum, binary)
XLA_BINARY_OP(minimum, Minimum, binary)
XLA_BINARY_OP(pow, Pow, binary)
XLA_BINARY_OP(eq, Eq, compare)
XLA_BINARY_OP(ne, Ne, compare)
XLA_BINARY_OP(lt, Lt, compare)
XLA_BINARY_OP(le, Le, compare)
XLA_BINARY_OP(gt, Gt, compare)
XLA_BINARY_OP(ge, Ge, compare)
#undef XLA_BINARY_OP

static Tensor where_impl(const Tensor& cond, const Tensor& a, const Tensor& b) {
  require(cond, "where");
  require(a, "where");
  require(b, "where");
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor c = cond.dtype() == DType::U8 ? cond : ne(cond, Tensor::zeros({}, cond.dtype()));
  Tensor ac = as_f32_contiguous(a), bc = as_f32_contiguous(b);
  Tensor out = Tensor::empty(shape, DType::F32);
  if (out.numel() == 0) return out;
  const uint8_t* pc = c.data<uint8_t>();
  const float* pa = ac.data<float>();
  const float* pb = bc.data<float>();
  float* po = out.data<float>();
  detail::Walk<4> w(shape, {contiguous_strides(shape), broadcast_strides(c, shape), broadcast_strides(ac, shape),
                            broadcast_strides(bc, shape)});
  const int64_t sc = w.inner_stride(1), sa = w.inner_stride(2), sb = w.inner_stride(3);
  w.parallel_runs([&](const int64_t* off, int64_t n) {
    float* o = po + off[0];
    const uint8_t* m = pc + off[1];
    const float* x = pa + off[2];
    const float* y = pb + off[3];
    for (int64_t i = 0; i < n; ++i) o[i] = m[i * sc] ? x[i * sa] : y[i * sb];
  });
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  return detail::traced(
      {&cond, &a, &b},
      [] {
        return detail::OpEvent{detail::OpKind::Where, 0, "where", {}, false, 0,
                               [](const std::vector<Tensor>& v) { return where(v[0], v[1], v[2]); }};
      },
      [&] { return where_impl(cond, a, b); });
}

}  // namespace xla
