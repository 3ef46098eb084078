// elementwise_fns.hpp — the arithmetic of the elementwise ops, one definition for the eager
// ops (src/tensor/elementwise.cpp) and the compiler's fused loops (src/compile), so that a
// fused loop gives the same bits as the ops it replaces.
#pragma once
#include <Eigen/Core>
#include <cmath>
#include <optional>

#include "blocked.hpp"
#include "cpu_kernels.hpp"
#include "op_trace.hpp"

namespace xla::detail {

// o = f(a) over one aligned block (a and o are Eigen array maps of the same length).
template <typename A, typename O>
void unary_block(UnaryCode code, const A& a, O& o) {
  switch (code) {
    case UnaryCode::Neg: o = -a; break;
    case UnaryCode::Abs: o = a.abs(); break;
    case UnaryCode::Exp: cpu_kernels().exp_f32(a.data(), o.data(), a.size()); break;
    case UnaryCode::Log: o = a.log(); break;
    // Plain loops, not Eigen's fast-math packets (which turn sqrt(inf) and rsqrt(0) into
    // NaN): with -fno-math-errno these compile to the exact vsqrtps / vdivps.
    case UnaryCode::Sqrt:
      for (Eigen::Index i = 0; i < a.size(); ++i) o[i] = std::sqrt(a[i]);
      break;
    case UnaryCode::Rsqrt:
      for (Eigen::Index i = 0; i < a.size(); ++i) o[i] = 1.f / std::sqrt(a[i]);
      break;
    // The run-time chosen path's vector loops (cpu_kernels.hpp): Eigen's are the baseline's.
    case UnaryCode::Tanh: cpu_kernels().tanh_f32(a.data(), o.data(), a.size()); break;
    case UnaryCode::Sigmoid: o = a.logistic(); break;
    case UnaryCode::Relu: o = a.max(0.f); break;
    case UnaryCode::Silu: o = a * a.logistic(); break;
    case UnaryCode::Gelu:
      for (Eigen::Index i = 0; i < a.size(); ++i) o[i] = 0.5f * a[i] * (1.f + std::erf(a[i] * float(M_SQRT1_2)));
      break;
    case UnaryCode::GeluTanh: cpu_kernels().gelu_tanh_f32(a.data(), o.data(), a.size()); break;
  }
}

// The scalar function of a binary op (comparisons give 1 or 0).
template <BinaryCode C, typename T>
inline auto binary_fn(T x, T y) {
  if constexpr (C == BinaryCode::Add) return x + y;
  else if constexpr (C == BinaryCode::Sub) return x - y;
  else if constexpr (C == BinaryCode::Mul) return x * y;
  else if constexpr (C == BinaryCode::Div) return x / y;
  // NaN propagates from either side, as in NumPy/PyTorch.
  else if constexpr (C == BinaryCode::Maximum) return (x != x || x > y) ? x : y;
  else if constexpr (C == BinaryCode::Minimum) return (x != x || x < y) ? x : y;
  else if constexpr (C == BinaryCode::Pow) return std::pow(x, y);
  else if constexpr (C == BinaryCode::Eq) return x == y;
  else if constexpr (C == BinaryCode::Ne) return x != y;
  else if constexpr (C == BinaryCode::Lt) return x < y;
  else if constexpr (C == BinaryCode::Le) return x <= y;
  else if constexpr (C == BinaryCode::Gt) return x > y;
  else return x >= y;
}

// The kernel table's arithmetic (cpu_kernels.hpp) for + − × ÷, numbered alike; none for
// the other ops.
inline std::optional<Arith> arith_of(BinaryCode code) {
  static_assert(int(BinaryCode::Add) == int(Arith::Add) && int(BinaryCode::Sub) == int(Arith::Sub) &&
                int(BinaryCode::Mul) == int(Arith::Mul) && int(BinaryCode::Div) == int(Arith::Div));
  if (code > BinaryCode::Div) return std::nullopt;
  return Arith(int(code));
}

// Calls fn(std::integral_constant<BinaryCode, code>) — a switch turned into a template
// argument, so that each loop body is compiled (and vectorised) for its one op.
template <typename F>
void with_binary_code(BinaryCode code, F&& fn) {
  switch (code) {
#define XLA_BINARY_CASE(c) \
  case BinaryCode::c: fn(std::integral_constant<BinaryCode, BinaryCode::c>{}); break;
    XLA_BINARY_CASE(Add) XLA_BINARY_CASE(Sub) XLA_BINARY_CASE(Mul) XLA_BINARY_CASE(Div)
    XLA_BINARY_CASE(Maximum) XLA_BINARY_CASE(Minimum) XLA_BINARY_CASE(Pow) XLA_BINARY_CASE(Eq)
    XLA_BINARY_CASE(Ne) XLA_BINARY_CASE(Lt) XLA_BINARY_CASE(Le) XLA_BINARY_CASE(Gt) XLA_BINARY_CASE(Ge)
#undef XLA_BINARY_CASE
  }
}

}  // namespace xla::detail
