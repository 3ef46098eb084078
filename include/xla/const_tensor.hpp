// const_tensor.hpp — compile-time tensors: xla::ConstTensor<T, Dims...> is a fixed-shape,
// row-major tensor whose shape is part of its type. Every operation is constexpr, so the
// compiler can compute results (reshape, permute, matmul, broadcasting, reductions) and
// shape errors are compile errors with readable static_assert messages.
// The ConstTensor part needs only the standard library; the last section (to_tensor)
// bridges to the runtime xla::Tensor and can be left out with XLA_CONST_TENSOR_NO_RUNTIME.
#pragma once
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

namespace xla {

template <class T, int64_t... D>
class ConstTensor;

// ---------------------------------------------------------------------------------------
// Shape arithmetic on std::array extents. All of it runs in constant expressions.
// ---------------------------------------------------------------------------------------
namespace ct_detail {

template <size_t R>
using Extents = std::array<int64_t, R>;

// Reached only with a bad index. It is deliberately not constexpr: inside a constant
// expression the call itself is the compile error (and its name says why); at run time
// it throws.
[[noreturn]] inline void const_tensor_index_out_of_range() {
  throw std::out_of_range("xla::ConstTensor: index out of range");
}

template <size_t R>
constexpr int64_t numel_of(const Extents<R>& e) {
  int64_t n = 1;
  for (int64_t d : e) n *= d;
  return n;
}

// Row-major strides in elements: shape [2, 3, 4] -> strides [12, 4, 1].
template <size_t R>
constexpr Extents<R> row_major_strides(const Extents<R>& shape) {
  Extents<R> s{};
  int64_t step = 1;
  for (size_t k = R; k-- > 0;) {
    s[k] = step;
    step *= shape[k];
  }
  return s;
}

// Axis in [-rank, rank) -> [0, rank); anything else -> -1.
constexpr int normalize_axis(int axis, int rank) {
  if (axis < -rank || axis >= rank) return -1;
  return axis < 0 ? axis + rank : axis;
}

template <size_t RA, size_t RB>
constexpr bool same_extents(const Extents<RA>& a, const Extents<RB>& b) {
  if (RA != RB) return false;
  for (size_t k = 0; k < RA; ++k)
    if (a[k] != b[k]) return false;
  return true;
}

// NumPy broadcasting on the first na / nb entries of a and b, aligned on the right: each
// pair of extents must be equal or contain a 1.
constexpr bool broadcast_ok(const int64_t* a, size_t na, const int64_t* b, size_t nb) {
  for (size_t i = 0; i < na && i < nb; ++i) {
    const int64_t da = a[na - 1 - i], db = b[nb - 1 - i];
    if (da != db && da != 1 && db != 1) return false;
  }
  return true;
}

template <size_t RA, size_t RB>
constexpr bool broadcastable(const Extents<RA>& a, const Extents<RB>& b) {
  return broadcast_ok(a.data(), RA, b.data(), RB);
}

// Broadcast shape of a and b: [2, 1, 3] with [4, 1] -> [2, 4, 3]. Incompatible pairs take
// the larger extent, so that after a failed static_assert nothing else fails.
template <size_t RA, size_t RB>
constexpr Extents<(RA > RB ? RA : RB)> broadcast_extents(const Extents<RA>& a, const Extents<RB>& b) {
  constexpr size_t RO = RA > RB ? RA : RB;
  Extents<RO> out{};
  for (size_t k = 0; k < RO; ++k) {
    const int64_t da = k < RO - RA ? 1 : a[k - (RO - RA)];
    const int64_t db = k < RO - RB ? 1 : b[k - (RO - RB)];
    out[k] = da == 1 ? db : db == 1 ? da : (da > db ? da : db);
  }
  return out;
}

// Strides that read a tensor of `shape` as if it had the (right-aligned) rank RO of a
// broadcast result: missing axes and size-1 axes get stride 0.
template <size_t RO, size_t R>
constexpr Extents<RO> broadcast_strides(const Extents<R>& shape, const Extents<R>& strides) {
  static_assert(RO >= R);
  Extents<RO> out{};
  for (size_t k = RO - R; k < RO; ++k) {
    const size_t s = k - (RO - R);
    out[k] = shape[s] == 1 ? 0 : strides[s];
  }
  return out;
}

// Element offset of row-major position `flat` of `shape` in a buffer laid out by `strides`.
template <size_t R>
constexpr int64_t offset_of(int64_t flat, const Extents<R>& shape, const Extents<R>& strides) {
  int64_t off = 0;
  for (size_t k = R; k-- > 0;) {
    off += (flat % shape[k]) * strides[k];
    flat /= shape[k];
  }
  return off;
}

template <size_t N, size_t R>
constexpr Extents<N> take_front(const Extents<R>& e) {
  static_assert(N <= R);
  Extents<N> out{};
  for (size_t k = 0; k < N; ++k) out[k] = e[k];
  return out;
}

template <size_t R>
constexpr Extents<R + 2> append2(const Extents<R>& e, int64_t x, int64_t y) {
  Extents<R + 2> out{};
  for (size_t k = 0; k < R; ++k) out[k] = e[k];
  out[R] = x;
  out[R + 1] = y;
  return out;
}

template <size_t R>
constexpr Extents<R - 1> remove_axis(const Extents<R>& e, int axis) {
  Extents<R - 1> out{};
  for (size_t k = 0, j = 0; k < R; ++k)
    if (int(k) != axis) out[j++] = e[k];
  return out;
}

template <size_t R>
constexpr Extents<R + 1> insert_axis(const Extents<R>& e, int axis, int64_t value) {
  Extents<R + 1> out{};
  for (size_t k = 0, j = 0; k <= R; ++k) out[k] = int(k) == axis ? value : e[j++];
  return out;
}

// ---- checks behind the public concepts; each failure has its own static_assert message ----

enum class ReshapeCheck { Ok, TwoInferred, NegativeDim, NumelMismatch };

template <size_t R>
constexpr ReshapeCheck reshape_check(const Extents<R>& req, int64_t numel) {
  int inferred = 0;
  int64_t known = 1;
  for (int64_t d : req) {
    if (d == -1) ++inferred;
    else if (d < 0) return ReshapeCheck::NegativeDim;
    else known *= d;
  }
  if (inferred > 1) return ReshapeCheck::TwoInferred;
  if (inferred == 1) return known != 0 && numel % known == 0 ? ReshapeCheck::Ok : ReshapeCheck::NumelMismatch;
  return known == numel ? ReshapeCheck::Ok : ReshapeCheck::NumelMismatch;
}

// Replaces the one -1 (if any) by the extent that makes the element count match.
template <size_t R>
constexpr Extents<R> reshape_resolve(Extents<R> req, int64_t numel) {
  int64_t known = 1;
  for (int64_t d : req)
    if (d != -1) known *= d;
  for (int64_t& d : req)
    if (d == -1) d = numel / known;
  return req;
}

enum class PermuteCheck { Ok, WrongCount, AxisOutOfRange, RepeatedAxis };

template <size_t N>
constexpr PermuteCheck permute_check(const std::array<int, N>& axes, int rank) {
  if (int(N) != rank) return PermuteCheck::WrongCount;
  std::array<bool, N> seen{};
  for (int a : axes) {
    const int ax = normalize_axis(a, rank);
    if (ax < 0) return PermuteCheck::AxisOutOfRange;
    if (seen[size_t(ax)]) return PermuteCheck::RepeatedAxis;
    seen[size_t(ax)] = true;
  }
  return PermuteCheck::Ok;
}

enum class MatmulCheck { Ok, RankTooLow, InnerMismatch, BatchMismatch };

// NumPy matmul rules: [..., M, K] @ [..., K, N] -> [broadcast(...), M, N]; a 1-D left
// operand acts as [1, K], a 1-D right operand as [K, 1].
template <size_t RA, size_t RB>
constexpr MatmulCheck matmul_check(const Extents<RA>& a, const Extents<RB>& b) {
  if (RA == 0 || RB == 0) return MatmulCheck::RankTooLow;
  const int64_t ka = a[RA - 1];
  const int64_t kb = RB == 1 ? b[0] : b[RB - 2];
  if (ka != kb) return MatmulCheck::InnerMismatch;
  const size_t na = RA >= 2 ? RA - 2 : 0, nb = RB >= 2 ? RB - 2 : 0;
  if (!broadcast_ok(a.data(), na, b.data(), nb)) return MatmulCheck::BatchMismatch;
  return MatmulCheck::Ok;
}

// Source shape broadcasts to target shape without changing the target: [3, 1] -> [2, 3, 4].
template <size_t R, size_t RT>
constexpr bool broadcastable_to(const Extents<R>& shape, const Extents<RT>& target) {
  if (R > RT) return false;
  for (size_t i = 0; i < R; ++i) {
    const int64_t s = shape[R - 1 - i], t = target[RT - 1 - i];
    if (s != t && s != 1) return false;
  }
  return true;
}

// ---- from a constexpr std::array of extents back to a ConstTensor type ----

template <class T, auto E, class Seq = std::make_index_sequence<E.size()>>
struct from_extents;
template <class T, auto E, size_t... I>
struct from_extents<T, E, std::index_sequence<I...>> {
  using type = ConstTensor<T, E[I]...>;
};
template <class T, auto E>
using tensor_t = typename from_extents<T, E>::type;

template <class X>
struct is_const_tensor : std::false_type {};
template <class T, int64_t... D>
struct is_const_tensor<ConstTensor<T, D...>> : std::true_type {};

}  // namespace ct_detail

// ---------------------------------------------------------------------------------------
// Concepts: the shape rules, usable in requires clauses and in static_assert(!...) tests.
// ---------------------------------------------------------------------------------------

template <class X>
concept AnyConstTensor = ct_detail::is_const_tensor<std::remove_cvref_t<X>>::value;

// Elementwise ops: NumPy broadcasting of the two shapes.
template <class A, class B>
concept BroadcastCompatible = AnyConstTensor<A> && AnyConstTensor<B> &&
    ct_detail::broadcastable(std::remove_cvref_t<A>::shape, std::remove_cvref_t<B>::shape);

// A's shape broadcasts to exactly Target... (broadcast_to).
template <class A, int64_t... Target>
concept BroadcastableTo = AnyConstTensor<A> &&
    ct_detail::broadcastable_to(std::remove_cvref_t<A>::shape, ct_detail::Extents<sizeof...(Target)>{Target...});

// matmul: inner dimensions agree and batch dimensions broadcast.
template <class A, class B>
concept MatmulCompatible = AnyConstTensor<A> && AnyConstTensor<B> &&
    ct_detail::matmul_check(std::remove_cvref_t<A>::shape, std::remove_cvref_t<B>::shape) ==
        ct_detail::MatmulCheck::Ok;

// reshape<NewD...>: same element count (one extent may be -1, inferred).
template <class A, int64_t... NewD>
concept ReshapeCompatible = AnyConstTensor<A> &&
    ct_detail::reshape_check(ct_detail::Extents<sizeof...(NewD)>{NewD...}, std::remove_cvref_t<A>::numel) ==
        ct_detail::ReshapeCheck::Ok;

// permute<Axes...>: a permutation of 0 .. rank-1 (negative axes count from the end).
template <class A, int... Axes>
concept ValidPermutation = AnyConstTensor<A> &&
    ct_detail::permute_check(std::array<int, sizeof...(Axes)>{Axes...}, std::remove_cvref_t<A>::rank) ==
        ct_detail::PermuteCheck::Ok;

// ---------------------------------------------------------------------------------------
// ConstTensor<T, D...>: numel = D0 * D1 * ... elements of T, row-major, in a std::array.
// Rank 0 (no D) is a scalar with one element.
// ---------------------------------------------------------------------------------------
template <class T, int64_t... D>
class ConstTensor {
  static constexpr bool kDimsValid = ((D >= 0) && ...);
  static_assert(kDimsValid, "xla::ConstTensor: dimensions must be >= 0");

 public:
  using value_type = T;
  // Floating tensors average to T; integer tensors average to double (as NumPy does).
  using mean_type = std::conditional_t<std::is_floating_point_v<T>, T, double>;

  static constexpr int rank = int(sizeof...(D));
  static constexpr std::array<int64_t, sizeof...(D)> shape{D...};
  static constexpr std::array<int64_t, sizeof...(D)> strides = ct_detail::row_major_strides(shape);
  static constexpr int64_t numel = (int64_t(1) * ... * D);

  // The elements, row-major. Public so that ConstTensor is a structural type: it can be a
  // template argument (template <ConstTensor<float, 2, 2> W> ...).
  std::array<T, kDimsValid ? size_t(numel) : 0> elems{};

  // ---- construction ----
  constexpr ConstTensor() = default;  // all zeros (value-initialised)

  // ConstTensor<float, 2, 3>{1, 2, 3, 4, 5, 6} or (1, 2, 3, 4, 5, 6): exactly numel values.
  // Explicit for a single value, so a scalar never silently converts to a tensor.
  template <class... U>
    requires(sizeof...(U) > 0 && (std::convertible_to<U, T> && ...))
  constexpr explicit(sizeof...(U) == 1) ConstTensor(U... values) {
    static_assert(sizeof...(U) == size_t(numel), "xla::ConstTensor: the number of values must equal numel");
    if constexpr (sizeof...(U) == size_t(numel)) elems = {static_cast<T>(values)...};
  }

  // ConstTensor<float, 2, 3>({1, 2, 3, 4, 5, 6}): a braced list whose length is checked at
  // compile time (N is deduced from the list).
  template <size_t N>
  constexpr ConstTensor(const T (&values)[N]) {
    static_assert(N == size_t(numel), "xla::ConstTensor: the number of values must equal numel");
    if constexpr (N == size_t(numel))
      for (size_t i = 0; i < N; ++i) elems[i] = values[i];
  }

  constexpr explicit ConstTensor(const std::array<T, kDimsValid ? size_t(numel) : 0>& values) : elems(values) {}

  static constexpr ConstTensor fill(T value) {
    ConstTensor t;
    for (T& e : t.elems) e = value;
    return t;
  }
  static constexpr ConstTensor zeros() { return ConstTensor(); }
  static constexpr ConstTensor ones() { return fill(T(1)); }

  // Row-major counting: element i is start + i * step.
  static constexpr ConstTensor iota(T start = T(0), T step = T(1)) {
    ConstTensor t;
    for (size_t i = 0; i < t.elems.size(); ++i) t.elems[i] = T(start + T(i) * step);
    return t;
  }

  // Element (i, j, ...) is f(i, j, ...), indices as int64_t: generate([](int64_t i, int64_t j) {...}).
  template <class F>
  static constexpr ConstTensor generate(F f) {
    ConstTensor t;
    for (int64_t flat = 0; flat < numel; ++flat) {
      std::array<int64_t, sizeof...(D)> idx{};
      int64_t rest = flat;
      for (size_t k = sizeof...(D); k-- > 0;) {
        idx[k] = rest % shape[k];
        rest /= shape[k];
      }
      t.elems[size_t(flat)] = static_cast<T>(std::apply(f, idx));
    }
    return t;
  }

  // ---- element access: one index per dimension, bounds checked (a compile error in a
  //      constant expression, std::out_of_range at run time) ----
  template <std::integral... I>
  constexpr const T& at(I... idx) const { return elems[checked_offset(idx...)]; }
  template <std::integral... I>
  constexpr T& at(I... idx) { return elems[checked_offset(idx...)]; }

  // Row-major flat access.
  constexpr const T& flat(int64_t i) const { return elems[checked_flat(i)]; }
  constexpr T& flat(int64_t i) { return elems[checked_flat(i)]; }

  // The single element of a one-element tensor.
  constexpr T item() const {
    static_assert(numel == 1, "xla::ConstTensor item: the tensor must have exactly one element");
    return elems[0];
  }

  constexpr auto begin() const { return elems.begin(); }
  constexpr auto end() const { return elems.end(); }

  // ---- shape changes ----

  // Same elements, new shape; one extent may be -1: [2, 3].reshape<3, -1>() -> [3, 2].
  template <int64_t... NewD>
  constexpr auto reshape() const {
    constexpr ct_detail::Extents<sizeof...(NewD)> req{NewD...};
    constexpr auto check = ct_detail::reshape_check(req, numel);
    static_assert(check != ct_detail::ReshapeCheck::TwoInferred,
                  "xla::ConstTensor reshape: at most one dimension may be -1");
    static_assert(check != ct_detail::ReshapeCheck::NegativeDim,
                  "xla::ConstTensor reshape: dimensions must be >= 0 (or -1 to infer one)");
    static_assert(check != ct_detail::ReshapeCheck::NumelMismatch,
                  "xla::ConstTensor reshape: element count differs (numel must match)");
    if constexpr (check != ct_detail::ReshapeCheck::Ok) {
      return *this;  // unreachable: a static_assert above has failed
    } else {
      constexpr auto dims = ct_detail::reshape_resolve(req, numel);
      ct_detail::tensor_t<T, dims> out;
      out.elems = elems;
      return out;
    }
  }

  constexpr auto flatten() const { return reshape<numel>(); }

  // Axes reordered: output axis k is input axis Axes[k]. [2, 3, 4].permute<2, 0, 1>() -> [4, 2, 3].
  template <int... Axes>
  constexpr auto permute() const {
    constexpr auto check = ct_detail::permute_check(std::array<int, sizeof...(Axes)>{Axes...}, rank);
    static_assert(check != ct_detail::PermuteCheck::WrongCount,
                  "xla::ConstTensor permute: needs exactly one axis per dimension");
    static_assert(check != ct_detail::PermuteCheck::AxisOutOfRange,
                  "xla::ConstTensor permute: axis out of range");
    static_assert(check != ct_detail::PermuteCheck::RepeatedAxis,
                  "xla::ConstTensor permute: axes must be a permutation (an axis repeats)");
    if constexpr (check != ct_detail::PermuteCheck::Ok) {
      return *this;  // unreachable: a static_assert above has failed
    } else {
      using Out = ConstTensor<T, shape[size_t(ct_detail::normalize_axis(Axes, rank))]...>;
      constexpr ct_detail::Extents<sizeof...(Axes)> src_strides{strides[size_t(ct_detail::normalize_axis(Axes, rank))]...};
      Out out;
      for (int64_t o = 0; o < Out::numel; ++o)
        out.elems[size_t(o)] = elems[size_t(ct_detail::offset_of(o, Out::shape, src_strides))];
      return out;
    }
  }

  // Matrix transpose: [M, N] -> [N, M].
  constexpr auto transpose() const {
    static_assert(rank == 2, "xla::ConstTensor transpose: needs a 2-D tensor (use permute<...>() for other ranks)");
    if constexpr (rank == 2) return permute<1, 0>();
    else return *this;  // unreachable
  }

  // NumPy broadcast_to: [3] -> [2, 3], [2, 1] -> [2, 4].
  template <int64_t... Target>
  constexpr auto broadcast_to() const {
    static_assert(BroadcastableTo<ConstTensor, Target...>,
                  "xla::ConstTensor broadcast_to: the shape cannot be broadcast to the target "
                  "(trailing dimensions must be equal or 1)");
    using Out = ConstTensor<T, Target...>;
    Out out;
    if constexpr (BroadcastableTo<ConstTensor, Target...>) {
      constexpr auto src_strides = ct_detail::broadcast_strides<sizeof...(Target)>(shape, strides);
      for (int64_t o = 0; o < Out::numel; ++o)
        out.elems[size_t(o)] = elems[size_t(ct_detail::offset_of(o, Out::shape, src_strides))];
    }
    return out;
  }

  // Removes a size-1 axis: [2, 1, 3].squeeze<1>() -> [2, 3].
  template <int Axis>
  constexpr auto squeeze() const {
    constexpr int ax = ct_detail::normalize_axis(Axis, rank);
    static_assert(ax >= 0, "xla::ConstTensor squeeze: axis out of range");
    static_assert(ax < 0 || shape[size_t(ax)] == 1, "xla::ConstTensor squeeze: the axis must have size 1");
    if constexpr (ax < 0 || shape[size_t(ax)] != 1) {
      return *this;  // unreachable
    } else {
      ct_detail::tensor_t<T, ct_detail::remove_axis(shape, ax)> out;
      out.elems = elems;
      return out;
    }
  }

  // Inserts a size-1 axis at position Axis of the result: [2, 3].unsqueeze<0>() -> [1, 2, 3].
  template <int Axis>
  constexpr auto unsqueeze() const {
    constexpr int ax = ct_detail::normalize_axis(Axis, rank + 1);
    static_assert(ax >= 0, "xla::ConstTensor unsqueeze: axis out of range");
    if constexpr (ax < 0) {
      return *this;  // unreachable
    } else {
      ct_detail::tensor_t<T, ct_detail::insert_axis(shape, ax, 1)> out;
      out.elems = elems;
      return out;
    }
  }

  // ---- elementwise ----

  // f applied to every element; the element type becomes f's result type.
  template <class F>
  constexpr auto map(F f) const {
    using R = std::remove_cvref_t<std::invoke_result_t<F&, const T&>>;
    ConstTensor<R, D...> out;
    for (size_t i = 0; i < elems.size(); ++i) out.elems[i] = f(elems[i]);
    return out;
  }

  template <class U>
  constexpr ConstTensor<U, D...> cast() const {
    return map([](const T& x) { return static_cast<U>(x); });
  }

  // ---- reductions: over everything (a value) or over one axis (a tensor) ----

  constexpr T sum() const {
    T acc{};
    for (const T& e : elems) acc = T(acc + e);
    return acc;
  }
  constexpr T prod() const {
    T acc = T(1);
    for (const T& e : elems) acc = T(acc * e);
    return acc;
  }
  constexpr T max() const {
    static_assert(numel > 0, "xla::ConstTensor max: the tensor is empty");
    T m = elems[0];
    for (const T& e : elems) m = e > m ? e : m;
    return m;
  }
  constexpr T min() const {
    static_assert(numel > 0, "xla::ConstTensor min: the tensor is empty");
    T m = elems[0];
    for (const T& e : elems) m = e < m ? e : m;
    return m;
  }
  constexpr mean_type mean() const {
    static_assert(numel > 0, "xla::ConstTensor mean: the tensor is empty");
    mean_type acc{};
    for (const T& e : elems) acc += static_cast<mean_type>(e);
    return acc / static_cast<mean_type>(numel);
  }

  // Axis reductions remove the axis ([2, 3].sum<1>() -> [2]) or keep it as 1
  // (sum<1, true>() -> [2, 1]). Negative axes count from the end.
  template <int Axis, bool KeepDims = false>
  constexpr auto sum() const {
    return reduce_axis<Axis, KeepDims, T>(T{}, false, [](T acc, const T& x) { return T(acc + x); });
  }
  template <int Axis, bool KeepDims = false>
  constexpr auto prod() const {
    return reduce_axis<Axis, KeepDims, T>(T(1), false, [](T acc, const T& x) { return T(acc * x); });
  }
  template <int Axis, bool KeepDims = false>
  constexpr auto max() const {
    static_assert(reduced_extent<Axis>() != 0, "xla::ConstTensor max: the reduced axis is empty");
    return reduce_axis<Axis, KeepDims, T>(T{}, true, [](T acc, const T& x) { return x > acc ? x : acc; });
  }
  template <int Axis, bool KeepDims = false>
  constexpr auto min() const {
    static_assert(reduced_extent<Axis>() != 0, "xla::ConstTensor min: the reduced axis is empty");
    return reduce_axis<Axis, KeepDims, T>(T{}, true, [](T acc, const T& x) { return x < acc ? x : acc; });
  }
  template <int Axis, bool KeepDims = false>
  constexpr auto mean() const {
    constexpr int64_t n = reduced_extent<Axis>();
    static_assert(n != 0, "xla::ConstTensor mean: the reduced axis is empty");
    auto s = reduce_axis<Axis, KeepDims, mean_type>(mean_type{}, false,
                                                    [](mean_type acc, const T& x) { return acc + static_cast<mean_type>(x); });
    for (auto& e : s.elems) e /= static_cast<mean_type>(n > 0 ? n : 1);
    return s;
  }

  // Same shape and same elements (exact ==; see allclose for floating tolerance).
  friend constexpr bool operator==(const ConstTensor&, const ConstTensor&) = default;

 private:
  template <class... I>
  static constexpr size_t checked_offset(I... idx) {
    static_assert(sizeof...(I) == sizeof...(D), "xla::ConstTensor at: needs exactly one index per dimension");
    if constexpr (sizeof...(I) != sizeof...(D)) {
      return 0;
    } else {
      const std::array<int64_t, sizeof...(I)> ix{static_cast<int64_t>(idx)...};
      int64_t off = 0;
      for (size_t k = 0; k < sizeof...(I); ++k) {
        if (ix[k] < 0 || ix[k] >= shape[k]) ct_detail::const_tensor_index_out_of_range();
        off += ix[k] * strides[k];
      }
      return size_t(off);
    }
  }
  static constexpr size_t checked_flat(int64_t i) {
    if (i < 0 || i >= numel) ct_detail::const_tensor_index_out_of_range();
    return size_t(i);
  }

  // Extent of the axis a reduction runs over (-1 when Axis is out of range).
  template <int Axis>
  static constexpr int64_t reduced_extent() {
    const int ax = ct_detail::normalize_axis(Axis, rank);
    return ax < 0 ? -1 : shape[size_t(ax)];
  }

  // View the tensor as [outer, n, inner] with n the reduced axis; acc starts at `init`, or
  // at the first element along the axis when seed_with_first.
  template <int Axis, bool KeepDims, class R, class F>
  constexpr auto reduce_axis(R init, bool seed_with_first, F f) const {
    constexpr int ax = ct_detail::normalize_axis(Axis, rank);
    static_assert(ax >= 0, "xla::ConstTensor reduction: axis out of range");
    if constexpr (ax < 0) {
      return *this;  // unreachable
    } else {
      constexpr auto out_shape = [] {
        if constexpr (KeepDims) {
          auto s = shape;
          s[size_t(ax)] = 1;
          return s;
        } else {
          return ct_detail::remove_axis(shape, ax);
        }
      }();
      constexpr int64_t n = shape[size_t(ax)];
      constexpr int64_t inner = strides[size_t(ax)];
      constexpr int64_t outer = ct_detail::numel_of(ct_detail::take_front<size_t(ax)>(shape));
      ct_detail::tensor_t<R, out_shape> out;
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t base = o * n * inner + i;
          R acc = seed_with_first ? static_cast<R>(elems[size_t(base)]) : init;
          for (int64_t j = seed_with_first ? 1 : 0; j < n; ++j) acc = f(acc, elems[size_t(base + j * inner)]);
          out.elems[size_t(o * inner + i)] = acc;
        }
      }
      return out;
    }
  }
};

// ---------------------------------------------------------------------------------------
// Broadcasting binary ops
// ---------------------------------------------------------------------------------------

// out[...] = f(a[...], b[...]) over the NumPy broadcast of the two shapes:
// [2, 3] with [3] -> [2, 3]; [2, 1] with [1, 4] -> [2, 4].
template <class TA, int64_t... A, class TB, int64_t... B, class F>
constexpr auto zip_with(const ConstTensor<TA, A...>& a, const ConstTensor<TB, B...>& b, F f) {
  using SA = ConstTensor<TA, A...>;
  using SB = ConstTensor<TB, B...>;
  static_assert(BroadcastCompatible<SA, SB>,
                "xla::ConstTensor broadcast: shapes are not broadcast-compatible "
                "(trailing dimensions must be equal or 1)");
  if constexpr (!BroadcastCompatible<SA, SB>) {
    return a;  // unreachable: the static_assert above has failed
  } else {
    using R = std::remove_cvref_t<std::invoke_result_t<F&, const TA&, const TB&>>;
    constexpr auto out_shape = ct_detail::broadcast_extents(SA::shape, SB::shape);
    using Out = ct_detail::tensor_t<R, out_shape>;
    Out out;
    if constexpr (ct_detail::same_extents(SA::shape, SB::shape)) {
      for (size_t i = 0; i < out.elems.size(); ++i) out.elems[i] = f(a.elems[i], b.elems[i]);
    } else {
      constexpr size_t RO = out_shape.size();
      constexpr auto sa = ct_detail::broadcast_strides<RO>(SA::shape, SA::strides);
      constexpr auto sb = ct_detail::broadcast_strides<RO>(SB::shape, SB::strides);
      for (int64_t o = 0; o < Out::numel; ++o)
        out.elems[size_t(o)] = f(a.elems[size_t(ct_detail::offset_of(o, out_shape, sa))],
                                 b.elems[size_t(ct_detail::offset_of(o, out_shape, sb))]);
    }
    return out;
  }
}

namespace ct_detail {
template <class TA, class TB>
constexpr void check_same_element_type() {
  static_assert(std::is_same_v<TA, TB>,
                "xla::ConstTensor arithmetic: element types differ (convert one operand with cast<U>())");
}
}  // namespace ct_detail

// Tensor (op) tensor with broadcasting, tensor (op) scalar and scalar (op) tensor. The
// element type stays T (int32 + int32 is int32, not int).
#define XLA_CONST_TENSOR_BINARY_OP(OP)                                                          \
  template <class TA, int64_t... A, class TB, int64_t... B>                                     \
  constexpr auto operator OP(const ConstTensor<TA, A...>& a, const ConstTensor<TB, B...>& b) {  \
    ct_detail::check_same_element_type<TA, TB>();                                               \
    return zip_with(a, b, [](const TA& x, const TB& y) { return TA(x OP y); });                 \
  }                                                                                             \
  template <class T, int64_t... D>                                                              \
  constexpr auto operator OP(const ConstTensor<T, D...>& a, std::type_identity_t<T> s) {       \
    return a.map([s](const T& x) { return T(x OP s); });                                        \
  }                                                                                             \
  template <class T, int64_t... D>                                                              \
  constexpr auto operator OP(std::type_identity_t<T> s, const ConstTensor<T, D...>& a) {       \
    return a.map([s](const T& x) { return T(s OP x); });                                        \
  }
XLA_CONST_TENSOR_BINARY_OP(+)
XLA_CONST_TENSOR_BINARY_OP(-)
XLA_CONST_TENSOR_BINARY_OP(*)
XLA_CONST_TENSOR_BINARY_OP(/)
#undef XLA_CONST_TENSOR_BINARY_OP

template <class T, int64_t... D>
constexpr auto operator-(const ConstTensor<T, D...>& a) {
  return a.map([](const T& x) { return T(-x); });
}

template <class TA, int64_t... A, class TB, int64_t... B>
constexpr auto maximum(const ConstTensor<TA, A...>& a, const ConstTensor<TB, B...>& b) {
  ct_detail::check_same_element_type<TA, TB>();
  return zip_with(a, b, [](const TA& x, const TB& y) { return x > y ? x : TA(y); });
}
template <class T, int64_t... D>
constexpr auto maximum(const ConstTensor<T, D...>& a, std::type_identity_t<T> s) {
  return a.map([s](const T& x) { return x > s ? x : s; });  // maximum(a, 0.f) is relu
}
template <class TA, int64_t... A, class TB, int64_t... B>
constexpr auto minimum(const ConstTensor<TA, A...>& a, const ConstTensor<TB, B...>& b) {
  ct_detail::check_same_element_type<TA, TB>();
  return zip_with(a, b, [](const TA& x, const TB& y) { return x < y ? x : TA(y); });
}
template <class T, int64_t... D>
constexpr auto minimum(const ConstTensor<T, D...>& a, std::type_identity_t<T> s) {
  return a.map([s](const T& x) { return x < s ? x : s; });
}

// |a - b| <= atol + rtol * |b| for every element (NumPy's allclose), same shape.
template <class T, int64_t... D>
constexpr bool allclose(const ConstTensor<T, D...>& a, const ConstTensor<T, D...>& b, double rtol = 1e-5,
                        double atol = 1e-8) {
  for (size_t i = 0; i < a.elems.size(); ++i) {
    const double x = double(a.elems[i]), y = double(b.elems[i]);
    const double diff = x > y ? x - y : y - x;
    const double mag = y < 0 ? -y : y;
    if (!(diff <= atol + rtol * mag)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// matmul (NumPy semantics): [..., M, K] @ [..., K, N] -> [broadcast(...), M, N].
// A 1-D left operand [K] acts as [1, K] and a 1-D right operand [K] as [K, 1]; the added
// axis is removed again, so [K] @ [K] is a rank-0 tensor (a dot product).
// ---------------------------------------------------------------------------------------

namespace ct_detail {

// Both operands at least 2-D and compatible (checked by the caller).
template <class T, int64_t... A, int64_t... B>
constexpr auto matmul_nd(const ConstTensor<T, A...>& a, const ConstTensor<T, B...>& b) {
  using SA = ConstTensor<T, A...>;
  using SB = ConstTensor<T, B...>;
  constexpr size_t RA = sizeof...(A), RB = sizeof...(B);
  constexpr int64_t M = SA::shape[RA - 2], K = SA::shape[RA - 1], N = SB::shape[RB - 1];
  constexpr auto a_batch = take_front<RA - 2>(SA::shape);
  constexpr auto b_batch = take_front<RB - 2>(SB::shape);
  constexpr auto batch = broadcast_extents(a_batch, b_batch);
  constexpr size_t RBatch = batch.size();
  // Element offset of each batch's matrix in a and b (stride 0 along broadcast axes).
  constexpr auto a_bstrides = broadcast_strides<RBatch>(a_batch, take_front<RA - 2>(SA::strides));
  constexpr auto b_bstrides = broadcast_strides<RBatch>(b_batch, take_front<RB - 2>(SB::strides));
  constexpr int64_t nbatch = numel_of(batch);

  tensor_t<T, append2(batch, M, N)> out;
  // Raw pointers in the inner loop: fewer steps for the compiler's constexpr evaluator
  // (clang caps them with -fconstexpr-steps) than std::array::operator[] calls.
  for (int64_t bt = 0; bt < nbatch; ++bt) {
    const T* pa = a.elems.data() + offset_of(bt, batch, a_bstrides);
    const T* pb = b.elems.data() + offset_of(bt, batch, b_bstrides);
    T* po = out.elems.data() + bt * M * N;
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) {
        T acc{};
        for (int64_t k = 0; k < K; ++k) acc = T(acc + pa[i * K + k] * pb[k * N + j]);
        po[i * N + j] = acc;
      }
    }
  }
  return out;
}

}  // namespace ct_detail

template <class TA, int64_t... A, class TB, int64_t... B>
constexpr auto matmul(const ConstTensor<TA, A...>& a, const ConstTensor<TB, B...>& b) {
  using SA = ConstTensor<TA, A...>;
  using SB = ConstTensor<TB, B...>;
  static_assert(std::is_same_v<TA, TB>, "xla::ConstTensor matmul: element types differ");
  constexpr auto check = ct_detail::matmul_check(SA::shape, SB::shape);
  static_assert(check != ct_detail::MatmulCheck::RankTooLow, "xla::ConstTensor matmul: operands must be at least 1-D");
  static_assert(check != ct_detail::MatmulCheck::InnerMismatch, "xla::ConstTensor matmul: inner dimensions differ");
  static_assert(check != ct_detail::MatmulCheck::BatchMismatch,
                "xla::ConstTensor matmul: batch dimensions are not broadcast-compatible");
  if constexpr (check != ct_detail::MatmulCheck::Ok || !std::is_same_v<TA, TB>) {
    return a;  // unreachable: a static_assert above has failed
  } else if constexpr (SA::rank == 1 && SB::rank == 1) {
    return ct_detail::matmul_nd(a.template reshape<1, A...>(), b.template reshape<B..., 1>()).template reshape<>();
  } else if constexpr (SA::rank == 1) {
    return ct_detail::matmul_nd(a.template reshape<1, A...>(), b).template squeeze<-2>();
  } else if constexpr (SB::rank == 1) {
    return ct_detail::matmul_nd(a, b.template reshape<B..., 1>()).template squeeze<-1>();
  } else {
    return ct_detail::matmul_nd(a, b);
  }
}

}  // namespace xla

// ---------------------------------------------------------------------------------------
// Bridge to the runtime library: to_tensor copies a ConstTensor into an xla::Tensor of the
// same shape and dtype. Define XLA_CONST_TENSOR_NO_RUNTIME to use ConstTensor standalone.
// ---------------------------------------------------------------------------------------
#ifndef XLA_CONST_TENSOR_NO_RUNTIME
#include <span>

#include "xla/tensor.hpp"

namespace xla {

namespace ct_detail {
template <class T>
inline constexpr bool to_tensor_supported =
    std::is_same_v<T, float> || std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>;

template <class T>
constexpr DType to_tensor_dtype() {
  if constexpr (std::is_same_v<T, int32_t>) return DType::I32;
  else if constexpr (std::is_same_v<T, int64_t>) return DType::I64;
  else return DType::F32;
}
}  // namespace ct_detail

template <class T, int64_t... D>
Tensor to_tensor(const ConstTensor<T, D...>& t) {
  static_assert(ct_detail::to_tensor_supported<T>, "xla::to_tensor: the element type must be float, int32_t or int64_t");
  static_assert(sizeof...(D) <= size_t(kMaxDims), "xla::to_tensor: a runtime Tensor has at most 8 dimensions");
  using CT = ConstTensor<T, D...>;
  const Shape shape(std::span<const int64_t>(CT::shape.data(), CT::shape.size()));
  return Tensor::from_data(t.elems.data(), shape, ct_detail::to_tensor_dtype<T>());
}

}  // namespace xla
#endif  // XLA_CONST_TENSOR_NO_RUNTIME
