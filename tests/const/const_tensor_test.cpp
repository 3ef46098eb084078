// const_tensor_test.cpp — xla::ConstTensor. The file-level static_asserts are the real
// tests: they check VALUES computed by the compiler (a failure stops the build). The TESTs
// below re-run a few of the same computations at run time and check the to_tensor bridge.
// Every expected value here was computed by hand, not with the code under test.
#include "xla/const_tensor.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace {

using xla::ConstTensor;
using xla::matmul;

// A [2, 3] = [[1, 2, 3], [4, 5, 6]],  B [3, 2] = [[7, 8], [9, 10], [11, 12]].
constexpr ConstTensor<float, 2, 3> A{1, 2, 3, 4, 5, 6};
constexpr ConstTensor<float, 3, 2> B({7, 8, 9, 10, 11, 12});
// T [2, 3, 4] = 0 .. 23, so T.at(i, j, l) == 12 i + 4 j + l.
constexpr auto T = ConstTensor<int32_t, 2, 3, 4>::iota();

// ---- shape constants ----
static_assert(A.rank == 2 && A.numel == 6);
static_assert(A.shape == std::array<int64_t, 2>{2, 3});
static_assert(A.strides == std::array<int64_t, 2>{3, 1});
static_assert(T.strides == std::array<int64_t, 3>{12, 4, 1});
static_assert(ConstTensor<float>::rank == 0 && ConstTensor<float>::numel == 1);
static_assert(ConstTensor<float, 4, 0>::numel == 0);

// ---- construction and element access ----
static_assert(A.at(0, 0) == 1 && A.at(0, 2) == 3 && A.at(1, 0) == 4 && A.at(1, 2) == 6);
static_assert(B.at(2, 1) == 12 && B.flat(3) == 10);
static_assert(ConstTensor<float, 2, 3>({1, 2, 3, 4, 5, 6}) == A);  // braced list, length checked
static_assert(ConstTensor<float, 2, 3>(std::array<float, 6>{1, 2, 3, 4, 5, 6}) == A);
static_assert(ConstTensor<int32_t, 2, 2>() == ConstTensor<int32_t, 2, 2>{0, 0, 0, 0});
static_assert(ConstTensor<int32_t, 2, 2>::zeros() == ConstTensor<int32_t, 2, 2>{0, 0, 0, 0});
static_assert(ConstTensor<int32_t, 3>::ones() == ConstTensor<int32_t, 3>{1, 1, 1});
static_assert(ConstTensor<float, 2, 2>::fill(2.5f) == ConstTensor<float, 2, 2>{2.5f, 2.5f, 2.5f, 2.5f});
static_assert(ConstTensor<int64_t, 4>::iota(1, 2) == ConstTensor<int64_t, 4>{1, 3, 5, 7});
static_assert(T.at(1, 2, 3) == 23 && T.at(0, 1, 2) == 6);
static_assert(ConstTensor<float>{4.f}.item() == 4.f);  // rank 0: one element, no indices
static_assert(ConstTensor<float>{4.f}.at() == 4.f);
// generate: element (i, j) = f(i, j): the 3x3 identity.
constexpr auto I3 = ConstTensor<float, 3, 3>::generate([](int64_t i, int64_t j) { return i == j ? 1.f : 0.f; });
static_assert(I3 == ConstTensor<float, 3, 3>{1, 0, 0, 0, 1, 0, 0, 0, 1});
// Mutation inside a constant expression.
constexpr auto kEdited = [] {
  auto t = ConstTensor<int32_t, 2, 2>::zeros();
  t.at(1, 0) = 5;
  t.flat(3) = 7;
  return t;
}();
static_assert(kEdited == ConstTensor<int32_t, 2, 2>{0, 0, 5, 7});

// ---- reshape / permute / transpose / squeeze / broadcast_to ----
static_assert(std::is_same_v<decltype(A.reshape<3, 2>()), ConstTensor<float, 3, 2>>);
static_assert(A.reshape<3, 2>() == ConstTensor<float, 3, 2>{1, 2, 3, 4, 5, 6});
static_assert(A.reshape<3, -1>() == ConstTensor<float, 3, 2>{1, 2, 3, 4, 5, 6});  // -1 inferred
static_assert(A.reshape<-1>() == ConstTensor<float, 6>{1, 2, 3, 4, 5, 6});
static_assert(A.flatten() == A.reshape<6>());
static_assert(A.reshape<1, 2, 1, 3>().at(0, 1, 0, 2) == 6);
static_assert(A.transpose() == ConstTensor<float, 3, 2>{1, 4, 2, 5, 3, 6});
static_assert(A.transpose().transpose() == A);
static_assert(std::is_same_v<decltype(T.permute<2, 0, 1>()), ConstTensor<int32_t, 4, 2, 3>>);
static_assert(T.permute<2, 0, 1>().at(3, 1, 2) == T.at(1, 2, 3));  // output (l, i, j) = input (i, j, l)
static_assert(T.permute<2, 0, 1>().at(0, 1, 1) == 16);
static_assert(T.permute<-1, 0, 1>() == T.permute<2, 0, 1>());  // negative axes count from the end
static_assert(T.permute<0, 1, 2>() == T);
static_assert(std::is_same_v<decltype(A.unsqueeze<0>()), ConstTensor<float, 1, 2, 3>>);
static_assert(std::is_same_v<decltype(A.unsqueeze<-1>()), ConstTensor<float, 2, 3, 1>>);
static_assert(A.unsqueeze<1>().squeeze<1>() == A);
static_assert(ConstTensor<float, 3>{10, 20, 30}.broadcast_to<2, 3>() == ConstTensor<float, 2, 3>{10, 20, 30, 10, 20, 30});
static_assert(ConstTensor<float, 2, 1>{1, 2}.broadcast_to<2, 2>() == ConstTensor<float, 2, 2>{1, 1, 2, 2});

// ---- matmul ----
// [2, 3] @ [3, 2]: [[1*7 + 2*9 + 3*11, 1*8 + 2*10 + 3*12], [4*7 + 5*9 + 6*11, 4*8 + 5*10 + 6*12]]
constexpr auto AB = matmul(A, B);
static_assert(std::is_same_v<decltype(matmul(A, B)), ConstTensor<float, 2, 2>>);
static_assert(AB == ConstTensor<float, 2, 2>{58, 64, 139, 154});
// [3, 2] @ [2, 3]: [[39, 54, 69], [49, 68, 87], [59, 82, 105]]
static_assert(matmul(B, A) == ConstTensor<float, 3, 3>{39, 54, 69, 49, 68, 87, 59, 82, 105});
static_assert(matmul(I3, B) == B);
// (A B)^T == B^T A^T
static_assert(matmul(A, B).transpose() == matmul(B.transpose(), A.transpose()));
// Batched, the right operand broadcast over the batch: [2, 2, 3] @ [3, 2] -> [2, 2, 2].
// Batches of 0 .. 11 are [[0, 1, 2], [3, 4, 5]] and [[6, 7, 8], [9, 10, 11]];
// R = [[1, 0], [0, 1], [1, 1]] adds the third column to the first two.
constexpr auto R = ConstTensor<float, 3, 2>{1, 0, 0, 1, 1, 1};
constexpr auto batched = matmul(ConstTensor<float, 2, 2, 3>::iota(), R);
static_assert(batched == ConstTensor<float, 2, 2, 2>{2, 3, 8, 9, 14, 15, 20, 21});
// Both batch shapes broadcast: [2, 1, 2, 2] @ [3, 2, 2] -> [2, 3, 2, 2]. Y[k] = (k + 1) * I,
// so result[b, k] = X[b] * (k + 1) with X[0] = [[0, 1], [2, 3]], X[1] = [[4, 5], [6, 7]].
constexpr auto X = ConstTensor<float, 2, 1, 2, 2>::iota();
constexpr auto Y = ConstTensor<float, 3, 2, 2>::generate([](int64_t k, int64_t i, int64_t j) { return i == j ? float(k + 1) : 0.f; });
constexpr auto XY = matmul(X, Y);
static_assert(std::is_same_v<std::remove_cv_t<decltype(XY)>, ConstTensor<float, 2, 3, 2, 2>>);
static_assert(XY.at(1, 2, 1, 0) == 18 && XY.at(0, 1, 0, 1) == 2 && XY.at(1, 0, 1, 1) == 7);
static_assert(XY.sum() == 168);  // (0 + ... + 7) * (1 + 2 + 3)
// 1-D operands (NumPy): [3] @ [3, 2] -> [2], [2, 3] @ [3] -> [2], [3] @ [3] -> rank 0.
static_assert(matmul(ConstTensor<float, 3>{1, 2, 3}, B) == ConstTensor<float, 2>{58, 64});
static_assert(matmul(A, ConstTensor<float, 3>{1, 1, 1}) == ConstTensor<float, 2>{6, 15});
static_assert(matmul(ConstTensor<float, 3>{1, 2, 3}, ConstTensor<float, 3>{4, 5, 6}).item() == 32);
static_assert(matmul(ConstTensor<int64_t, 2, 2>{1, 1, 1, 0}, ConstTensor<int64_t, 2, 2>{1, 1, 1, 0}) ==
              ConstTensor<int64_t, 2, 2>{2, 1, 1, 1});  // Fibonacci matrix squared

// ---- elementwise with broadcasting ----
static_assert(A + ConstTensor<float, 3>{10, 20, 30} == ConstTensor<float, 2, 3>{11, 22, 33, 14, 25, 36});
static_assert(ConstTensor<float, 2, 1>{1, 2} * ConstTensor<float, 1, 3>{1, 2, 3} ==
              ConstTensor<float, 2, 3>{1, 2, 3, 2, 4, 6});  // outer product
static_assert(std::is_same_v<decltype(ConstTensor<float, 2, 1, 3>() + ConstTensor<float, 4, 1>()), ConstTensor<float, 2, 4, 3>>);
static_assert(A - A == ConstTensor<float, 2, 3>::zeros());
static_assert(A / A == ConstTensor<float, 2, 3>::ones());
static_assert(A * 2.f == ConstTensor<float, 2, 3>{2, 4, 6, 8, 10, 12});
static_assert(2 * A == A + A);  // the scalar converts to the element type
static_assert(7.f - A == ConstTensor<float, 2, 3>{6, 5, 4, 3, 2, 1});
static_assert(A / 2.f == ConstTensor<float, 2, 3>{0.5f, 1, 1.5f, 2, 2.5f, 3});
static_assert(-A == ConstTensor<float, 2, 3>{-1, -2, -3, -4, -5, -6});
static_assert(ConstTensor<int32_t, 3>{7, 8, 9} / 2 == ConstTensor<int32_t, 3>{3, 4, 4});  // integer division
static_assert(xla::maximum(A, 3.5f) == ConstTensor<float, 2, 3>{3.5f, 3.5f, 3.5f, 4, 5, 6});
static_assert(xla::minimum(A, ConstTensor<float, 3>{2, 2, 7}) == ConstTensor<float, 2, 3>{1, 2, 3, 2, 2, 6});
static_assert(xla::maximum(ConstTensor<int32_t, 2, 1>{0, 5}, ConstTensor<int32_t, 3>{1, 4, 9}) ==
              ConstTensor<int32_t, 2, 3>{1, 4, 9, 5, 5, 9});
static_assert(A.map([](float x) { return x * x; }).sum() == 91);
static_assert(A.map([](float x) { return x > 3.f; }) == ConstTensor<bool, 2, 3>{false, false, false, true, true, true});
static_assert(A.cast<int32_t>() == ConstTensor<int32_t, 2, 3>{1, 2, 3, 4, 5, 6});
static_assert(xla::zip_with(ConstTensor<int32_t, 2>{1, 2}, ConstTensor<float, 2>{0.5f, 0.25f},
                            [](int32_t i, float f) { return double(i) * f; }) == ConstTensor<double, 2>{0.5, 0.5});
// A dense layer at compile time: relu(A @ B + bias) = relu([[-2, 4], [79, 94]]).
static_assert(xla::maximum(matmul(A, B) + ConstTensor<float, 2>{-60, -60}, 0.f) == ConstTensor<float, 2, 2>{0, 4, 79, 94});

// ---- reductions ----
static_assert(A.sum() == 21 && A.prod() == 720 && A.max() == 6 && A.min() == 1 && A.mean() == 3.5f);
static_assert(A.sum<0>() == ConstTensor<float, 3>{5, 7, 9});
static_assert(A.sum<1>() == ConstTensor<float, 2>{6, 15});
static_assert(A.sum<-1>() == A.sum<1>());
static_assert(A.sum<1, true>() == ConstTensor<float, 2, 1>{6, 15});  // keepdims
static_assert(A.prod<0>() == ConstTensor<float, 3>{4, 10, 18});
static_assert(A.max<0>() == ConstTensor<float, 3>{4, 5, 6});
static_assert(A.min<1>() == ConstTensor<float, 2>{1, 4});
static_assert(A.mean<0>() == ConstTensor<float, 3>{2.5f, 3.5f, 4.5f});
static_assert(A.mean<1, true>() == ConstTensor<float, 2, 1>{2, 5});
// Middle axis of T: out(i, l) = sum_j (12 i + 4 j + l) = 36 i + 12 + 3 l.
static_assert(T.sum<1>() == ConstTensor<int32_t, 2, 4>{12, 15, 18, 21, 48, 51, 54, 57});
static_assert(T.max<2>() == ConstTensor<int32_t, 2, 3>{3, 7, 11, 15, 19, 23});
static_assert(T.sum() == 276);
static_assert(ConstTensor<int32_t, 4>{1, 2, 3, 4}.mean() == 2.5);  // integer tensors average to double
static_assert(std::is_same_v<decltype(ConstTensor<int32_t, 4>{}.mean<0>()), ConstTensor<double>>);
static_assert(ConstTensor<int32_t, 4>{1, 2, 3, 4}.sum<0>().item() == 10);  // 1-D -> rank 0

// ---- empty tensors (an extent of 0) follow the same rules ----
static_assert(ConstTensor<float, 2, 0>().sum<1>() == ConstTensor<float, 2>{0, 0});
static_assert(ConstTensor<float, 2, 0>().prod<1>() == ConstTensor<float, 2>{1, 1});
static_assert(matmul(ConstTensor<float, 2, 0>(), ConstTensor<float, 0, 3>()) == ConstTensor<float, 2, 3>::zeros());
static_assert(std::is_same_v<decltype(ConstTensor<float, 1, 3>() + ConstTensor<float, 0, 1>()), ConstTensor<float, 0, 3>>);

// ---- equality ----
static_assert(A == A && A != A * 2.f);
static_assert(xla::allclose(ConstTensor<float, 3>{0.1f, 0.2f, 0.3f} * 3.f, ConstTensor<float, 3>{0.3f, 0.6f, 0.9f}));
static_assert(!xla::allclose(A, A + 0.01f));

// ---- the shape rules as concepts (invalid cases are compile errors when used; see fail_*.cpp) ----
static_assert(xla::MatmulCompatible<ConstTensor<float, 2, 3>, ConstTensor<float, 3, 5>>);
static_assert(xla::MatmulCompatible<ConstTensor<float, 4, 1, 2, 3>, ConstTensor<float, 5, 3, 2>>);
static_assert(!xla::MatmulCompatible<ConstTensor<float, 2, 3>, ConstTensor<float, 2, 3>>);
static_assert(!xla::MatmulCompatible<ConstTensor<float, 2, 2, 3>, ConstTensor<float, 3, 3, 4>>);
static_assert(!xla::MatmulCompatible<ConstTensor<float>, ConstTensor<float, 3>>);
static_assert(xla::BroadcastCompatible<ConstTensor<float, 2, 3>, ConstTensor<float, 3>>);
static_assert(xla::BroadcastCompatible<ConstTensor<float, 2, 1, 3>, ConstTensor<float, 4, 1>>);
static_assert(!xla::BroadcastCompatible<ConstTensor<float, 2, 3>, ConstTensor<float, 2>>);
static_assert(xla::BroadcastableTo<ConstTensor<float, 3, 1>, 2, 3, 4>);
static_assert(!xla::BroadcastableTo<ConstTensor<float, 2, 3>, 3>);
static_assert(xla::ReshapeCompatible<ConstTensor<float, 2, 3>, 3, 2>);
static_assert(xla::ReshapeCompatible<ConstTensor<float, 2, 3>, -1, 2>);
static_assert(!xla::ReshapeCompatible<ConstTensor<float, 2, 3>, 4, 2>);
static_assert(!xla::ReshapeCompatible<ConstTensor<float, 2, 3>, -1, -1>);
static_assert(!xla::ReshapeCompatible<ConstTensor<float, 2, 3>, -1, 4>);
static_assert(xla::ValidPermutation<ConstTensor<float, 2, 3, 4>, 2, 0, 1>);
static_assert(!xla::ValidPermutation<ConstTensor<float, 2, 3, 4>, 0, 0, 1>);
static_assert(!xla::ValidPermutation<ConstTensor<float, 2, 3, 4>, 0, 1>);
static_assert(!xla::ValidPermutation<ConstTensor<float, 2, 3, 4>, 0, 1, 3>);

// ---- a ConstTensor is a structural type: it can be a template argument ----
template <ConstTensor<int32_t, 2, 2> W>
constexpr int32_t trace() {
  return W.at(0, 0) + W.at(1, 1);
}
static_assert(trace<ConstTensor<int32_t, 2, 2>{1, 2, 3, 4}>() == 5);

// ---- run time ----

TEST(ConstTensor, ToTensorF32RoundTrip) {
  const xla::Tensor t = xla::to_tensor(A);
  EXPECT_EQ(t.dtype(), xla::DType::F32);
  EXPECT_EQ(t.shape(), xla::Shape({2, 3})) << t.shape().str();
  EXPECT_EQ(t.to_vector(), std::vector<float>({1, 2, 3, 4, 5, 6}));
}

TEST(ConstTensor, ToTensorMatmulResult) {
  const xla::Tensor t = xla::to_tensor(AB);
  EXPECT_EQ(t.shape(), xla::Shape({2, 2})) << t.shape().str();
  EXPECT_EQ(t.to_vector(), std::vector<float>({58, 64, 139, 154}));
}

TEST(ConstTensor, ToTensorIntegerTypes) {
  const xla::Tensor i32 = xla::to_tensor(T);
  EXPECT_EQ(i32.dtype(), xla::DType::I32);
  EXPECT_EQ(i32.shape(), xla::Shape({2, 3, 4})) << i32.shape().str();
  const std::vector<float> v = i32.to_vector();
  ASSERT_EQ(v.size(), 24u);
  for (int i = 0; i < 24; ++i) EXPECT_EQ(v[size_t(i)], float(i));

  const xla::Tensor i64 = xla::to_tensor(ConstTensor<int64_t, 3>{-1, 0, 1} * (int64_t(1) << 40));
  EXPECT_EQ(i64.dtype(), xla::DType::I64);
  EXPECT_EQ(i64.shape(), xla::Shape({3})) << i64.shape().str();
  EXPECT_EQ(i64.to_vector(), std::vector<float>({-1099511627776.f, 0.f, 1099511627776.f}));
}

TEST(ConstTensor, ToTensorScalar) {
  const xla::Tensor t = xla::to_tensor(ConstTensor<float>{2.5f});
  EXPECT_EQ(t.ndim(), 0);
  EXPECT_EQ(t.numel(), 1);
  EXPECT_EQ(t.item(), 2.5f);
}

// The same constexpr functions work on values only known at run time.
TEST(ConstTensor, RuntimeValuesGiveTheSameResults) {
  volatile float seven = 7.f;  // keeps the compiler from folding what follows
  ConstTensor<float, 3, 2> b = B;
  b.at(0, 0) = seven;
  EXPECT_EQ(matmul(A, b).elems, AB.elems);
  EXPECT_EQ((A + ConstTensor<float, 3>{10, 20, 30}).elems, (std::array<float, 6>{11, 22, 33, 14, 25, 36}));
  EXPECT_EQ(b.transpose().sum<1>().elems, (std::array<float, 2>{27, 30}));
  EXPECT_EQ((T.permute<2, 0, 1>().at(3, 1, 2)), 23);
}

TEST(ConstTensor, OutOfRangeIndexThrowsAtRunTime) {
  ConstTensor<float, 2, 3> t = A;
  volatile int64_t row = 2;
  EXPECT_THROW(t.at(int64_t(row), 0), std::out_of_range);
  EXPECT_THROW(t.at(0, -1), std::out_of_range);
  EXPECT_THROW(t.flat(6), std::out_of_range);
  EXPECT_EQ(t.at(1, 2), 6.f);
}

}  // namespace
