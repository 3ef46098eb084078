// Tests for xla::matmul (NumPy semantics): 1-D promotion, 2-D, batched with broadcast batch
// dims, transposed/permuted/sliced/expanded views as operands, bf16 inputs, size-1 and
// zero-size dims, shape errors and thread-count independence. Expected values come from
// naive triple loops in double written here.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cpu_kernels.hpp"
#include "test_util.hpp"

using namespace xt;
using xla::Status;

namespace {

// Naive batched product in double. a: [..., M, K], b: [..., K, N] (both at least 2-D), batch
// dims broadcast to `batch`. Returns the row-major [batch..., M, N] values and, per element,
// sum_k |a_mk * b_kn| (the scale of the rounding error an f32 accumulation may make).
struct Ref {
  std::vector<float> values;
  std::vector<double> scale;
};
Ref ref_matmul(const Tensor& a, const Tensor& b, const Shape& batch) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
  Shape ba, bb;
  for (int d = 0; d + 2 < sa.size(); ++d) ba.push_back(sa[d]);
  for (int d = 0; d + 2 < sb.size(); ++d) bb.push_back(sb[d]);
  std::vector<float> av = a.to_vector(), bv = b.to_vector();
  Ref r;
  for_each_index(batch, [&](const std::vector<int64_t>& idx) {
    const int64_t ia = bcast_index(ba, idx), ib = bcast_index(bb, idx);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0, s = 0;
        for (int64_t k = 0; k < K; ++k) {
          double p = double(av[size_t((ia * M + m) * K + k)]) * double(bv[size_t((ib * K + k) * N + n)]);
          acc += p;
          s += std::fabs(p);
        }
        r.values.push_back(float(acc));
        r.scale.push_back(s);
      }
  });
  return r;
}

// |got - want| <= 2e-5 * sum|a*b| + 1e-6 per element: a relative bound for dot products.
void expect_matmul(const Tensor& a, const Tensor& b, const Shape& out,
                   std::source_location loc = std::source_location::current()) {
  testing::ScopedTrace trace(loc.file_name(), int(loc.line()), "expect_matmul");
  // Reference operands: 1-D a is [1, K], 1-D b is [K, 1]; the added axis is dropped after.
  Tensor ra = a.ndim() == 1 ? a.unsqueeze(0) : a;
  Tensor rb = b.ndim() == 1 ? b.unsqueeze(1) : b;
  Shape batch;
  for (int d = 0; d + 2 < out.size() + (a.ndim() == 1) + (b.ndim() == 1); ++d) batch.push_back(out[d]);
  std::vector<float> av = a.to_vector(), bv = b.to_vector();
  Ref want = ref_matmul(ra, rb, batch);
  Tensor y = xla::matmul(a, b);
  ASSERT_EQ(y.shape().str(), out.str());
  EXPECT_EQ(y.dtype(), DType::F32);
  std::vector<float> got = y.to_vector();
  ASSERT_EQ(got.size(), want.values.size());
  int reported = 0;
  for (size_t i = 0; i < got.size() && reported < 10; ++i) {
    double bound = 2e-5 * want.scale[i] + 1e-6;
    if (!(std::fabs(double(got[i]) - double(want.values[i])) <= bound)) {
      ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want " << want.values[i] << " (bound " << bound
                    << ")";
      ++reported;
    }
  }
  expect_values(a, av);  // inputs are left alone
  expect_values(b, bv);
}

Tensor rnd(const Shape& s, uint64_t seed) { return T(lcg_values(s.numel(), seed, -1, 1), s); }

}  // namespace

// =========================================================================================
// Hand-derived values
// =========================================================================================

TEST(Matmul, DotOfTwoVectorsIsZeroDim) {
  // [1,2,3] . [4,5,6] = 4 + 10 + 18 = 32
  expect_tensor(xla::matmul(T({1, 2, 3}), T({4, 5, 6})), {}, {32});
}

TEST(Matmul, MatrixVectorAndVectorMatrix) {
  Tensor m = T({1, 2, 3, 4, 5, 6}, {3, 2});
  // [[1,2],[3,4],[5,6]] @ [1,-1] = [1-2, 3-4, 5-6] = [-1,-1,-1]
  expect_tensor(xla::matmul(m, T({1, -1})), {3}, {-1, -1, -1});
  // [1,0,-1] @ [[1,2],[3,4],[5,6]] = [1-5, 2-6] = [-4,-4]
  expect_tensor(xla::matmul(T({1, 0, -1}), m), {2}, {-4, -4});
}

TEST(Matmul, TwoByTwo) {
  // [[1,2],[3,4]] @ [[5,6],[7,8]] = [[1*5+2*7, 1*6+2*8], [3*5+4*7, 3*6+4*8]] = [[19,22],[43,50]]
  Tensor a = T({1, 2, 3, 4}, {2, 2}), b = T({5, 6, 7, 8}, {2, 2});
  expect_tensor(xla::matmul(a, b), {2, 2}, {19, 22, 43, 50});
  // a^T @ b = [[1,3],[2,4]] @ [[5,6],[7,8]] = [[26,30],[38,44]] (transposed view consumed)
  expect_tensor(xla::matmul(a.transpose(0, 1), b), {2, 2}, {26, 30, 38, 44});
  // a @ b^T = [[1,2],[3,4]] @ [[5,7],[6,8]] = [[17,23],[39,53]]
  expect_tensor(xla::matmul(a, b.transpose(0, 1)), {2, 2}, {17, 23, 39, 53});
}

TEST(Matmul, BatchedHandValues) {
  // Batch 0: identity @ B0 = B0; batch 1: 2*identity @ B1 = 2*B1.
  Tensor a = T({1, 0, 0, 1, 2, 0, 0, 2}, {2, 2, 2});
  Tensor b = T({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  expect_tensor(xla::matmul(a, b), {2, 2, 2}, {1, 2, 3, 4, 10, 12, 14, 16});
  // One matrix broadcast over the batch of b: [[0,1],[1,0]] swaps the rows of each B.
  expect_tensor(xla::matmul(T({0, 1, 1, 0}, {2, 2}), b), {2, 2, 2}, {3, 4, 1, 2, 7, 8, 5, 6});
}

// =========================================================================================
// Against the naive loop
// =========================================================================================

TEST(Matmul, LargeOddSizesMatchNaiveTripleLoop) {
  // 67x129 @ 129x33, checked against a triple loop in double written out here.
  const int M = 67, K = 129, N = 33;
  std::vector<float> av = lcg_values(M * K, 1), bv = lcg_values(K * N, 2);
  Tensor y = xla::matmul(T(av, {M, K}), T(bv, {K, N}));
  ASSERT_EQ(y.shape().str(), "[67, 33]");
  std::vector<float> got = y.to_vector();
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double acc = 0, scale = 0;
      for (int k = 0; k < K; ++k) {
        acc += double(av[m * K + k]) * double(bv[k * N + n]);
        scale += std::fabs(double(av[m * K + k]) * double(bv[k * N + n]));
      }
      ASSERT_NEAR(got[size_t(m * N + n)], acc, 2e-5 * scale + 1e-6) << "at [" << m << ", " << n << "]";
    }
}

TEST(Matmul, ManySizesMatchNaiveLoop) {
  const int sizes[][3] = {{1, 1, 1},   {1, 7, 1},    {3, 5, 7},     {17, 1, 19},   {4, 16, 8},
                          {64, 64, 64}, {65, 127, 63}, {128, 256, 96}, {5, 1000, 3}, {1, 300, 200}};
  uint64_t seed = 10;
  for (const auto& s : sizes) {
    SCOPED_TRACE(testing::Message() << s[0] << "x" << s[1] << " @ " << s[1] << "x" << s[2]);
    expect_matmul(rnd({s[0], s[1]}, seed), rnd({s[1], s[2]}, seed + 1), {s[0], s[2]});
    seed += 2;
  }
}

TEST(Matmul, TransposedViewsAreConsumed) {
  // a^T and b^T as views (last stride != 1 but the other one is 1): values as for packed copies.
  Tensor at = rnd({129, 67}, 3).transpose(0, 1);  // [67,129], strides [1,67]
  Tensor bt = rnd({33, 129}, 4).transpose(0, 1);  // [129,33], strides [1,129]
  Tensor a = rnd({67, 129}, 5), b = rnd({129, 33}, 6);
  expect_matmul(at, b, {67, 33});
  expect_matmul(a, bt, {67, 33});
  expect_matmul(at, bt, {67, 33});
  // Batched: transpose of the last two axes, and a permuted batch axis.
  Tensor ab = rnd({3, 9, 5}, 7).transpose(-1, -2);  // [3,5,9]
  Tensor bb = rnd({3, 4, 9}, 8).transpose(1, 2);    // [3,9,4]
  expect_matmul(ab, bb, {3, 5, 4});
  Tensor ap = rnd({5, 3, 9}, 9).permute({1, 0, 2});  // [3,5,9], batch stride 9, row stride 27
  expect_matmul(ap, bb, {3, 5, 4});
}

TEST(Matmul, StridedAndExpandedOperands) {
  // Step-sliced operands have no unit stride in the last two axes (a copy may be needed).
  Tensor as = rnd({6, 20}, 11).slice(1, 0, 20, 2).slice(0, 0, 6, 2);  // [3,10], strides [40,2]
  Tensor bs = rnd({10, 8}, 12).slice(1, 1, 8, 3);                     // [10,3], strides [8,3]
  expect_matmul(as, bs, {3, 3});
  // Expanded batch (stride 0) and an expanded column (stride 0 in the last axis).
  Tensor ae = rnd({4, 6}, 13).expand({5, 4, 6});
  Tensor be = rnd({6, 1}, 14).expand({6, 7});
  expect_matmul(ae, be, {5, 4, 7});
  expect_matmul(rnd({1, 6}, 15).expand({4, 6}), rnd({5, 6, 3}, 16), {5, 4, 3});
}

// =========================================================================================
// 1-D promotion and batch broadcasting
// =========================================================================================

TEST(Matmul, OneDimensionalOperandsArePromotedAndSqueezed) {
  expect_matmul(rnd({40}, 20), rnd({40}, 21), {});
  expect_matmul(rnd({7, 40}, 22), rnd({40}, 23), {7});
  expect_matmul(rnd({40}, 24), rnd({40, 9}, 25), {9});
  expect_matmul(rnd({2, 3, 4}, 26), rnd({4}, 27), {2, 3});   // [2,3,4] @ [4] -> [2,3]
  expect_matmul(rnd({4}, 28), rnd({2, 4, 5}, 29), {2, 5});   // [4] @ [2,4,5] -> [2,5]
  expect_matmul(rnd({8}, 30).slice(0, 0, 8, 2), rnd({4, 3}, 31), {3});  // strided vector
}

TEST(Matmul, BatchDimsBroadcastInEveryPosition) {
  { SCOPED_TRACE("same batch"); expect_matmul(rnd({2, 3, 4}, 40), rnd({2, 4, 5}, 41), {2, 3, 5}); }
  { SCOPED_TRACE("2-D a over batched b"); expect_matmul(rnd({3, 4}, 42), rnd({2, 4, 5}, 43), {2, 3, 5}); }
  { SCOPED_TRACE("2-D b over batched a"); expect_matmul(rnd({2, 3, 4}, 44), rnd({4, 5}, 45), {2, 3, 5}); }
  { SCOPED_TRACE("size-1 batch in a"); expect_matmul(rnd({1, 3, 4}, 46), rnd({2, 4, 5}, 47), {2, 3, 5}); }
  { SCOPED_TRACE("size-1 batch in b"); expect_matmul(rnd({2, 3, 4}, 48), rnd({1, 4, 5}, 49), {2, 3, 5}); }
  { SCOPED_TRACE("both sides size-1"); expect_matmul(rnd({2, 1, 3, 4}, 50), rnd({1, 2, 4, 5}, 51), {2, 2, 3, 5}); }
  { SCOPED_TRACE("ranks differ"); expect_matmul(rnd({2, 1, 3, 4}, 52), rnd({5, 4, 2}, 53), {2, 5, 3, 2}); }
  { SCOPED_TRACE("4-D batched"); expect_matmul(rnd({2, 3, 5, 4}, 54), rnd({2, 3, 4, 6}, 55), {2, 3, 5, 6}); }
}

TEST(Matmul, AttentionShapedViewsMatchNaiveLoop) {
  // q, k, v stored [B=2, T=7, H=3, D=16] and viewed as [B, H, T, D] by permute (no copy):
  // scores = q @ k^T -> [2,3,7,7]; out = probs @ v -> [2,3,7,16]. Every operand is a view.
  Tensor q = rnd({2, 7, 3, 16}, 90).permute({0, 2, 1, 3});
  Tensor k = rnd({2, 7, 3, 16}, 91).permute({0, 2, 1, 3});
  Tensor v = rnd({2, 7, 3, 16}, 92).permute({0, 2, 1, 3});
  expect_matmul(q, k.transpose(-1, -2), {2, 3, 7, 7});
  Tensor p = rnd({2, 3, 7, 7}, 93);
  expect_matmul(p, v, {2, 3, 7, 16});
  // Grouped-query style: one k head broadcast over 3 query heads via a size-1 head axis.
  Tensor k1 = rnd({2, 1, 16, 7}, 94);
  expect_matmul(q, k1, {2, 3, 7, 7});
  // A single query row (decoding step): [2,3,1,16] @ [2,3,16,7].
  expect_matmul(q.slice(2, 6, 7), k.transpose(-1, -2), {2, 3, 1, 7});
}

TEST(Matmul, MatchesHandComputedBatchBroadcast) {
  // a: [2,1,1,2] = rows [1,2] and [3,4]; b: [3,2,1] = columns [1,0], [0,1], [1,1].
  // out[i][j] = a_i . b_j: [1,2].[1,0]=1, .[0,1]=2, .[1,1]=3; [3,4] -> 3, 4, 7. Shape [2,3,1,1].
  Tensor a = T({1, 2, 3, 4}, {2, 1, 1, 2});
  Tensor b = T({1, 0, 0, 1, 1, 1}, {3, 2, 1});
  expect_tensor(xla::matmul(a, b), {2, 3, 1, 1}, {1, 2, 3, 3, 4, 7});
}

// =========================================================================================
// dtypes, size-1, zero-size, errors
// =========================================================================================

TEST(Matmul, Bf16InputsAreWidenedResultIsF32) {
  Tensor a = BF16(lcg_values(6 * 10, 60), {6, 10}), b = BF16(lcg_values(10 * 4, 61), {10, 4});
  expect_matmul(a, b, {6, 4});
  expect_matmul(a, rnd({10, 4}, 62), {6, 4});
  expect_matmul(F16(lcg_values(10, 63), {10}), b, {4});
  // Exact small case: bf16 [[1.5, 2]] @ [[2],[0.25]] = 3 + 0.5 = 3.5
  expect_tensor(xla::matmul(BF16({1.5f, 2}, {1, 2}), BF16({2, 0.25f}, {2, 1})), {1, 1}, {3.5f});
}

TEST(Matmul, SizeOneDims) {
  expect_tensor(xla::matmul(T({3}, {1, 1}), T({-2}, {1, 1})), {1, 1}, {-6});
  expect_matmul(rnd({1, 50}, 70), rnd({50, 1}, 71), {1, 1});
  expect_matmul(rnd({1, 1, 5}, 72), rnd({1, 5, 1}, 73), {1, 1, 1});
}

TEST(Matmul, ZeroSizeDims) {
  expect_tensor(xla::matmul(iota({0, 3}), iota({3, 4})), {0, 4}, {});
  expect_tensor(xla::matmul(iota({2, 3}), iota({3, 0})), {2, 0}, {});
  // K = 0: every output element is an empty sum, 0.
  expect_tensor(xla::matmul(iota({2, 0}), iota({0, 4})), {2, 4}, std::vector<float>(8, 0.f));
  expect_tensor(xla::matmul(iota({0, 2, 3}), iota({3, 4})), {0, 2, 4}, {});
  expect_tensor(xla::matmul(iota({2, 3, 0}), iota({0})), {2, 3}, std::vector<float>(6, 0.f));
  expect_tensor(xla::matmul(iota({0}), iota({0})), {}, {0});
}

TEST(Matmul, IncompatibleShapesNameTheOp) {
  EXPECT_XLA_ERROR(xla::matmul(iota({2, 3}), iota({4, 5})), Status::Shape, "matmul");  // K 3 vs 4
  EXPECT_XLA_ERROR(xla::matmul(iota({3}), iota({4})), Status::Shape, "matmul");
  EXPECT_XLA_ERROR(xla::matmul(iota({3}), iota({4, 5})), Status::Shape, "matmul");
  EXPECT_XLA_ERROR(xla::matmul(iota({2, 3}), iota({2})), Status::Shape, "matmul");
  EXPECT_XLA_ERROR(xla::matmul(iota({2, 3, 4}), iota({3, 4, 5})), Status::Shape, "matmul");  // batch 2 vs 3
  EXPECT_XLA_ERROR(xla::matmul(Tensor::scalar(2), iota({2, 2})), Status::Shape, "matmul");  // 0-d operand
  EXPECT_XLA_ERROR(xla::matmul(iota({2, 2}), Tensor::scalar(2)), Status::Shape, "matmul");
  EXPECT_XLA_ERROR(xla::matmul(iota({2, 3, 5, 4}), iota({3, 2, 4, 6})), Status::Shape, "matmul");  // 4-D batch
  EXPECT_XLA_ERROR(xla::matmul(iota({0, 3}), iota({2, 4})), Status::Shape, "matmul");  // K 3 vs 2, M = 0
  EXPECT_XLA_ERROR(xla::matmul(Tensor(), iota({2, 2})), Status::InvalidArg, "matmul");
}

TEST(Matmul, ResultsDoNotDependOnThreadCount) {
  Tensor a = rnd({67, 129}, 80), b = rnd({129, 33}, 81);
  Tensor ba = rnd({4, 65, 127}, 82), bb = rnd({127, 63}, 83).transpose(0, 1).contiguous().transpose(0, 1);
  Tensor y1, y2, z1, z2;
  {
    ThreadCount t(1);
    y1 = xla::matmul(a, b);
    z1 = xla::matmul(ba, bb);
  }
  {
    ThreadCount t(2);
    y2 = xla::matmul(a, b);
    z2 = xla::matmul(ba, bb);
  }
  expect_bitwise_equal(y1, y2);
  expect_bitwise_equal(z1, z2);
  EXPECT_TRUE(y1.is_contiguous());
}

// The packed kernel blocks K by at most 384, M by 120 and N by 3072 and tiles C by 6 × 16/32:
// these sizes cross every block edge (K = 600 accumulates two K blocks, N = 3100 spills one
// panel, M = 130 leaves partial row tiles), with each operand row- and column-major (a
// row-major A read in place, a column-major one packed; two threads share one packing).
TEST(Matmul, BlockEdgesOfThePackedKernelInEveryLayout) {
  const int64_t M = 130, K = 600, N = 3100;
  Tensor a = rnd({M, K}, 90), b = rnd({K, N}, 91);
  Tensor a_cm = a.transpose(0, 1).contiguous().transpose(0, 1);  // same values, column-major
  Tensor b_cm = b.transpose(0, 1).contiguous().transpose(0, 1);
  expect_matmul(a, b, {M, N});
  expect_matmul(a_cm, b, {M, N});
  expect_matmul(a, b_cm, {M, N});
  expect_matmul(a_cm, b_cm, {M, N});
  // and the split across threads does not change a bit (the K order is fixed by the blocks)
  Tensor y1, y2;
  {
    ThreadCount t(1);
    y1 = xla::matmul(a_cm, b);
  }
  {
    ThreadCount t(2);
    y2 = xla::matmul(a_cm, b);
  }
  expect_bitwise_equal(y1, y2);
}

// Tall-and-thin (split along M) and a few rows against a wide weight (split along N).
TEST(Matmul, BothSplitDirectionsMatchNaiveLoop) {
  expect_matmul(rnd({517, 70}, 92), rnd({70, 9}, 93), {517, 9});
  expect_matmul(rnd({3, 300}, 94), rnd({4099, 300}, 95).transpose(0, 1), {3, 4099});
}

// A bf16 right operand (a weight kept in bf16) is read as it is: the same bits as widening
// it to f32 first, in the packed GEMM (both layouts, across block edges) and in the GEMV —
// except on the avx512bf16 path, whose bf16 unit takes the activations rounded to bf16:
// there each product is within bf16 rounding (2⁻⁸ relative) of the f32 one.
TEST(Matmul, Bf16RightOperandEqualsItsF32Widening) {
  const bool bf16_unit = std::string(xla::detail::cpu_kernels().name) == "avx512bf16";
  auto expect_same = [&](const Tensor& got, const Tensor& want) {
    if (!bf16_unit) return expect_bitwise_equal(got, want);
    std::vector<float> g = got.to_vector(), w = want.to_vector();
    double worst = 0, scale = 0;
    for (size_t i = 0; i < g.size(); ++i) {
      worst = std::max(worst, double(std::fabs(g[i] - w[i])));
      scale = std::max(scale, double(std::fabs(w[i])));
    }
    EXPECT_LE(worst, 1e-2 * scale);
  };
  for (int64_t M : {1, 7, 130})
    for (int64_t K : {300, 301}) {  // an odd K: the last k of a pair has no partner
      SCOPED_TRACE("M=" + std::to_string(M) + " K=" + std::to_string(K));
      Tensor a = rnd({M, K}, 96);
      Tensor w = rnd({3100, K}, 97).to(DType::BF16);  // [N, K], used transposed
      Tensor wt = rnd({K, 70}, 98).to(DType::BF16);   // [K, N], row-major
      expect_same(xla::matmul(a, w.transpose(0, 1)), xla::matmul(a, w.to(DType::F32).transpose(0, 1)));
      expect_same(xla::matmul(a, wt), xla::matmul(a, wt.to(DType::F32)));
    }
}
