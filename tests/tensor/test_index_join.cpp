// Tests for indexing (index_select, gather, embedding), joining/splitting (concat, stack,
// split), triangles (tril, triu), factories (arange, full, cast) and the counter-based
// random numbers (Generator, randn, rand).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "test_util.hpp"

using namespace xt;
using xla::Status;

namespace {

const float kInf = std::numeric_limits<float>::infinity();

// x[r][c] = 4r + c + 1: [[1,2,3,4],[5,6,7,8],[9,10,11,12]]
Tensor x34() { return iota({3, 4}, 1); }

}  // namespace

// =========================================================================================
// index_select
// =========================================================================================

TEST(IndexSelect, RowsAndColumns) {
  Tensor x = x34();
  // rows 2, 0, 2
  expect_tensor(xla::index_select(x, 0, I64({2, 0, 2}, {3})), {3, 4}, {9, 10, 11, 12, 1, 2, 3, 4, 9, 10, 11, 12});
  // columns 3, 1 (i32 index, negative axis)
  expect_tensor(xla::index_select(x, -1, I32({3, 1}, {2})), {3, 2}, {4, 2, 8, 6, 12, 10});
  expect_tensor(xla::index_select(x, 1, I32({3, 1}, {2})), {3, 2}, {4, 2, 8, 6, 12, 10});
}

TEST(IndexSelect, NonContiguousInputsMatchNaiveLoop) {
  Tensor x = iota({4, 3, 2}).permute({1, 0, 2});            // [3,4,2], non-contiguous
  Tensor idx = I64({3, 9, 0, 9, 1, 9, 3, 9}, {8}).slice(0, 0, 8, 2);  // [3,0,1,3], stride 2
  std::vector<float> xv = x.to_vector(), want;
  const int64_t pick[] = {3, 0, 1, 3};
  for (int i = 0; i < 3; ++i)
    for (int64_t j : pick)
      for (int k = 0; k < 2; ++k) want.push_back(xv[size_t((i * 4 + j) * 2 + k)]);
  expect_tensor(xla::index_select(x, 1, idx), {3, 4, 2}, want);
}

TEST(IndexSelect, SizeOneZeroSizeAndDTypes) {
  expect_tensor(xla::index_select(x34(), 0, I64({1}, {1})), {1, 4}, {5, 6, 7, 8});
  expect_tensor(xla::index_select(x34(), 0, I64({}, {0})), {0, 4}, {});
  expect_tensor(xla::index_select(iota({0, 4}), 1, I64({3, 0}, {2})), {0, 2}, {});
  Tensor l = xla::index_select(I64({int64_t(1) << 40, 5, -7}, {3}), 0, I64({2, 0}, {2}));
  EXPECT_EQ(i64s(l), (std::vector<int64_t>{-7, int64_t(1) << 40}));  // data movement keeps i64 exact
  expect_values(xla::index_select(BF16({1.5f, -2, 3}, {3}), 0, I64({1, 1}, {2})), {-2, -2});
}

TEST(IndexSelect, Errors) {
  Tensor x = x34();
  EXPECT_XLA_ERROR(xla::index_select(x, 0, I64({3}, {1})), Status::InvalidArg, "index_select");  // 3 rows
  EXPECT_XLA_ERROR(xla::index_select(x, 0, I64({-1}, {1})), Status::InvalidArg, "index_select");
  EXPECT_XLA_ERROR(xla::index_select(x, 2, I64({0}, {1})), Status::InvalidArg, "index_select");
  EXPECT_XLA_ERROR(xla::index_select(x, 0, T({0})), Status::DType, "index_select");
  EXPECT_XLA_ERROR(xla::index_select(x, 0, I64({0, 1}, {1, 2})), Status::Shape, "index_select");
}

// index_copy_: row j of the source lands at index[j] along the axis, for each outer index;
// contiguous operands (the copying by runs) and views (by slices) alike.
TEST(IndexCopy, RowsLandAtTheirIndicesInEveryLayout) {
  const std::vector<int64_t> at = {4, 0, 2};
  const Tensor src = iota({2, 3, 3}, 100);  // [outer 2, rows 3, inner 3]
  for (const bool views : {false, true}) {
    SCOPED_TRACE(views ? "views" : "contiguous");
    Tensor out = views ? iota({2, 3, 5}).transpose(1, 2) : iota({2, 5, 3});  // [2, 5, 3]
    const Tensor from = views ? src.transpose(1, 2).contiguous().transpose(1, 2) : src;
    std::vector<float> want = out.to_vector();
    const std::vector<float> sv = src.to_vector();
    for (int64_t o = 0; o < 2; ++o)
      for (size_t j = 0; j < at.size(); ++j)
        for (int64_t i = 0; i < 3; ++i)
          want[size_t((o * 5 + at[j]) * 3 + i)] = sv[size_t((o * 3 + int64_t(j)) * 3 + i)];
    xla::index_copy_(out, 1, I64(at, {3}), from);
    expect_tensor(out, {2, 5, 3}, want);
  }
}

// =========================================================================================
// gather
// =========================================================================================

TEST(Gather, TorchSemantics) {
  // torch.gather([[1,2],[3,4]], 1, [[0,0],[1,0]]) = [[1,1],[4,3]]
  expect_tensor(xla::gather(T({1, 2, 3, 4}, {2, 2}), 1, I64({0, 0, 1, 0}, {2, 2})), {2, 2}, {1, 1, 4, 3});
  // axis 0: out[i][j] = x[idx[i][j]][j], x = iota(3x3) (3r + c), idx = [[0,2,1],[2,0,0]]
  //   -> [[x00, x21, x12], [x20, x01, x02]] = [[0,7,5],[6,1,2]]
  expect_tensor(xla::gather(iota({3, 3}), 0, I64({0, 2, 1, 2, 0, 0}, {2, 3})), {2, 3}, {0, 7, 5, 6, 1, 2});
  // index smaller than x off the axis: out[i][j] = x[i][idx[i][j]] over x34's first 2 rows
  expect_tensor(xla::gather(x34(), -1, I32({3, 3, 0, 1}, {2, 2})), {2, 2}, {4, 4, 5, 6});
}

TEST(Gather, EveryAxisAndLayoutMatchesNaiveLoop) {
  const Tensor x = T(lcg_values(24, 4, -5, 5), {2, 3, 4});
  for (const Tensor& in : {x, x.transpose(0, 2).contiguous().transpose(0, 2)}) {
    for (int axis = 0; axis < 3; ++axis) {
      SCOPED_TRACE(testing::Message() << "axis " << axis);
      const Shape is{2, 2, 3};  // fits x off the axis, any extent along it
      std::vector<int64_t> iv;
      for (int64_t i = 0; i < is.numel(); ++i) iv.push_back((i * 7 + axis) % x.size(axis));
      // Non-contiguous index: the same values through a transposed copy.
      Tensor idx = I64(iv, is);
      Tensor idx_t = xla::gather(in, axis, idx.transpose(0, 1).contiguous().transpose(0, 1));
      std::vector<float> xv = in.to_vector(), want;
      for_each_index(is, [&](const std::vector<int64_t>& p) {
        std::vector<int64_t> q = p;
        q[size_t(axis)] = iv[size_t((p[0] * 2 + p[1]) * 3 + p[2])];
        want.push_back(xv[size_t((q[0] * 3 + q[1]) * 4 + q[2])]);
      });
      expect_tensor(xla::gather(in, axis, idx), is, want);
      expect_tensor(idx_t, is, want);
    }
  }
}

TEST(Gather, ZeroSizeAndErrors) {
  expect_tensor(xla::gather(x34(), 1, I64({}, {0, 2})), {0, 2}, {});
  expect_tensor(xla::gather(x34(), 0, I64({2, 1}, {1, 2})), {1, 2}, {9, 6});  // size-1 index dim
  EXPECT_XLA_ERROR(xla::gather(x34(), 1, I64({0, 1}, {2})), Status::Shape, "gather");        // ndim 1 vs 2
  EXPECT_XLA_ERROR(xla::gather(x34(), 1, I64({0, 0, 0, 0}, {4, 1})), Status::Shape, "gather");  // 4 > 3 rows
  EXPECT_XLA_ERROR(xla::gather(x34(), 1, I64({4}, {1, 1})), Status::InvalidArg, "gather");
  EXPECT_XLA_ERROR(xla::gather(x34(), 1, T({0}, {1, 1})), Status::DType, "gather");
  EXPECT_XLA_ERROR(xla::gather(x34(), 2, I64({0}, {1, 1})), Status::InvalidArg, "gather");
}

// =========================================================================================
// embedding
// =========================================================================================

TEST(Embedding, LooksUpRowsForAnyIdShape) {
  Tensor w = iota({4, 3});  // w[v][d] = 3v + d
  // ids [[1,3,1],[0,2,3]] -> rows 1,3,1,0,2,3
  Tensor e = xla::embedding(w, I64({1, 3, 1, 0, 2, 3}, {2, 3}));
  expect_tensor(e, {2, 3, 3}, {3, 4, 5, 9, 10, 11, 3, 4, 5, 0, 1, 2, 6, 7, 8, 9, 10, 11});
  expect_tensor(xla::embedding(w, I32({2, 0}, {2})), {2, 3}, {6, 7, 8, 0, 1, 2});
  expect_tensor(xla::embedding(w, I64({3}, {})), {3}, {9, 10, 11});  // 0-d id -> [D]
  expect_tensor(xla::embedding(w, I64({}, {0})), {0, 3}, {});
  expect_tensor(xla::embedding(w, I64({}, {2, 0})), {2, 0, 3}, {});
}

TEST(Embedding, NonContiguousWeightsAndIds) {
  Tensor w = iota({3, 4}).transpose(0, 1);  // [4,3], w[v][d] = 4d + v
  Tensor ids = I64({2, 0, 3, 1}, {2, 2}).transpose(0, 1);  // [[2,3],[0,1]]
  expect_tensor(xla::embedding(w, ids), {2, 2, 3}, {2, 6, 10, 3, 7, 11, 0, 4, 8, 1, 5, 9});
  expect_values(xla::embedding(BF16({1, 2, 3, 4}, {2, 2}), I64({1}, {1})), {3, 4});
}

TEST(Embedding, Errors) {
  Tensor w = iota({4, 3});
  EXPECT_XLA_ERROR(xla::embedding(w, I64({4}, {1})), Status::InvalidArg, "embedding");
  EXPECT_XLA_ERROR(xla::embedding(w, I64({-1}, {1})), Status::InvalidArg, "embedding");
  EXPECT_XLA_ERROR(xla::embedding(iota({4}), I64({0}, {1})), Status::Shape, "embedding");
  EXPECT_XLA_ERROR(xla::embedding(w, T({0})), Status::DType, "embedding");
}

// =========================================================================================
// concat, stack, split
// =========================================================================================

TEST(Concat, AlongEachAxis) {
  Tensor a = T({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_tensor(xla::concat({a, T({7, 8, 9}, {1, 3})}, 0), {3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  // [[1,2,3],[4,5,6]] ++ [[7],[8]] along columns = [[1,2,3,7],[4,5,6,8]]
  expect_tensor(xla::concat({a, T({7, 8}, {2, 1})}, 1), {2, 4}, {1, 2, 3, 7, 4, 5, 6, 8});
  expect_tensor(xla::concat({a, T({7, 8}, {2, 1}), a}, -1), {2, 7},
                {1, 2, 3, 7, 1, 2, 3, 4, 5, 6, 8, 4, 5, 6});
  expect_tensor(xla::concat({T({1}), T({2, 3})}, 0), {3}, {1, 2, 3});
}

TEST(Concat, NonContiguousZeroSizeAndDTypes) {
  Tensor t = iota({3, 2}).transpose(0, 1);  // [[0,2,4],[1,3,5]]
  Tensor e = T({9, 8, 7}).expand({2, 3});   // stride 0
  expect_tensor(xla::concat({t, e}, 1), {2, 6}, {0, 2, 4, 9, 8, 7, 1, 3, 5, 9, 8, 7});
  expect_tensor(xla::concat({iota({0, 3}), t, iota({0, 3})}, 0), {2, 3}, {0, 2, 4, 1, 3, 5});
  expect_tensor(xla::concat({iota({0, 3}), iota({0, 3})}, 0), {0, 3}, {});
  expect_tensor(xla::concat({iota({2, 0}), iota({2, 1})}, 1), {2, 1}, {0, 1});
  expect_tensor(xla::concat({t}, 0), {2, 3}, {0, 2, 4, 1, 3, 5});
  Tensor l = xla::concat({I64({int64_t(1) << 40}, {1}), I64({-1, 2}, {2})}, 0);
  EXPECT_EQ(i64s(l), (std::vector<int64_t>{int64_t(1) << 40, -1, 2}));
}

TEST(Concat, Errors) {
  EXPECT_XLA_ERROR(xla::concat({iota({2, 3}), iota({2, 4})}, 0), Status::Shape, "concat");
  EXPECT_XLA_ERROR(xla::concat({iota({2, 3}), iota({3})}, 0), Status::Shape, "concat");
  EXPECT_XLA_ERROR(xla::concat({iota({2, 3}), iota({2, 3})}, 2), Status::InvalidArg, "concat");
  EXPECT_XLA_ERROR(xla::concat({}, 0), Status::InvalidArg, "concat");
  EXPECT_XLA_ERROR(xla::concat({iota({2}), I64({1, 2}, {2})}, 0), Status::DType, "concat");  // no promotion
  EXPECT_XLA_ERROR(xla::concat({Tensor::scalar(1), Tensor::scalar(2)}, 0), Status::Shape, "concat");  // use stack
}

TEST(Stack, NewAxisInEachPosition) {
  Tensor a = T({1, 2, 3}), b = T({4, 5, 6});
  expect_tensor(xla::stack({a, b}, 0), {2, 3}, {1, 2, 3, 4, 5, 6});
  expect_tensor(xla::stack({a, b}, 1), {3, 2}, {1, 4, 2, 5, 3, 6});
  expect_tensor(xla::stack({a, b}, -1), {3, 2}, {1, 4, 2, 5, 3, 6});  // -1 counts from ndim+1
  expect_tensor(xla::stack({Tensor::scalar(1), Tensor::scalar(2), Tensor::scalar(3)}, 0), {3}, {1, 2, 3});
  // Non-contiguous inputs: [[0,2],[1,3]] and a broadcast row.
  Tensor t = iota({2, 2}).transpose(0, 1);
  expect_tensor(xla::stack({t, T({7, 8}).expand({2, 2})}, 1), {2, 2, 2}, {0, 2, 7, 8, 1, 3, 7, 8});
  expect_tensor(xla::stack({iota({0}), iota({0})}, 0), {2, 0}, {});
  expect_tensor(xla::stack({a}, 0), {1, 3}, {1, 2, 3});
  EXPECT_XLA_ERROR(xla::stack({a, T({1, 2})}, 0), Status::Shape, "stack");
  EXPECT_XLA_ERROR(xla::stack({a, b}, 2), Status::InvalidArg, "stack");
  EXPECT_XLA_ERROR(xla::stack({}, 0), Status::InvalidArg, "stack");
}

TEST(Split, ReturnsViews) {
  Tensor x = iota({5, 2});
  std::vector<Tensor> p = xla::split(x, {2, 3}, 0);
  ASSERT_EQ(p.size(), 2u);
  expect_tensor(p[0], {2, 2}, {0, 1, 2, 3});
  expect_tensor(p[1], {3, 2}, {4, 5, 6, 7, 8, 9});
  EXPECT_TRUE(p[0].shares_storage(x));
  EXPECT_TRUE(p[1].shares_storage(x));
  EXPECT_EQ(p[1].offset(), 4);
  p[1].data<float>()[0] = -1;  // writes through to x[2][0]
  EXPECT_EQ(x.to_vector()[4], -1.f);
}

TEST(Split, AxesZeroPiecesAndNonContiguous) {
  std::vector<Tensor> p = xla::split(iota({2, 5}), {1, 0, 4}, -1);
  ASSERT_EQ(p.size(), 3u);
  expect_tensor(p[0], {2, 1}, {0, 5});
  expect_tensor(p[1], {2, 0}, {});
  expect_tensor(p[2], {2, 4}, {1, 2, 3, 4, 6, 7, 8, 9});
  std::vector<Tensor> q = xla::split(iota({2, 3}).transpose(0, 1), {2, 1}, 0);  // [[0,3],[1,4],[2,5]]
  ASSERT_EQ(q.size(), 2u);
  expect_tensor(q[0], {2, 2}, {0, 3, 1, 4});
  expect_tensor(q[1], {1, 2}, {2, 5});
  EXPECT_XLA_ERROR(xla::split(iota({5}), {2, 2}, 0), Status::Shape, "split");
  EXPECT_XLA_ERROR(xla::split(iota({5}), {2, 4}, 0), Status::Shape, "split");
  EXPECT_XLA_ERROR(xla::split(iota({5}), {5}, 1), Status::InvalidArg, "split");
  EXPECT_XLA_ERROR(xla::split(iota({5}), {6, -1}, 0), Status::InvalidArg, "split");  // negative piece
}

// =========================================================================================
// tril, triu
// =========================================================================================

TEST(Tril, KeepsColMinusRowAtMostK) {
  Tensor x = x34();
  expect_tensor(xla::tril(x), {3, 4}, {1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0});        // c - r <= 0
  expect_tensor(xla::tril(x, 1), {3, 4}, {1, 2, 0, 0, 5, 6, 7, 0, 9, 10, 11, 12});    // c - r <= 1
  expect_tensor(xla::tril(x, -1), {3, 4}, {0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0});     // c - r <= -1
  expect_tensor(xla::tril(x, 100), {3, 4}, x.to_vector());
  expect_tensor(xla::tril(x, -100), {3, 4}, std::vector<float>(12, 0.f));
}

TEST(Triu, KeepsColMinusRowAtLeastK) {
  Tensor x = x34();
  expect_tensor(xla::triu(x), {3, 4}, {1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12});        // c - r >= 0
  expect_tensor(xla::triu(x, 1), {3, 4}, {0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12});      // c - r >= 1
  expect_tensor(xla::triu(x, -1), {3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 0, 10, 11, 12});   // c - r >= -1
  expect_tensor(xla::triu(x, 100), {3, 4}, std::vector<float>(12, 0.f));
  // Causal attention mask: -inf above the diagonal, exact zeros (not -inf * 0 = NaN) below.
  expect_tensor(xla::triu(xla::full({3, 3}, -INFINITY), 1), {3, 3}, {0, -kInf, -kInf, 0, 0, -kInf, 0, 0, 0});
}

TEST(TrilTriu, BatchedAndNonContiguousMatchNaiveLoop) {
  const Tensor base = T(lcg_values(2 * 3 * 4, 31, 1, 2), {2, 3, 4});
  for (const Tensor& x : {base, base.transpose(1, 2), iota({3, 3}, 1).expand({2, 3, 3})}) {
    for (int64_t k : {-2, -1, 0, 1, 2}) {
      SCOPED_TRACE(testing::Message() << "shape " << x.shape().str() << " k " << k);
      std::vector<float> xv = x.to_vector(), lo, up;
      size_t i = 0;
      for_each_index(x.shape(), [&](const std::vector<int64_t>& p) {
        int64_t d = p[2] - p[1];  // col - row
        lo.push_back(d <= k ? xv[i] : 0.f);
        up.push_back(d >= k ? xv[i] : 0.f);
        ++i;
      });
      expect_tensor(xla::tril(x, k), x.shape(), lo);
      expect_tensor(xla::triu(x, k), x.shape(), up);
    }
  }
}

TEST(TrilTriu, ZeroSizeAndErrors) {
  expect_tensor(xla::tril(iota({0, 3})), {0, 3}, {});
  expect_tensor(xla::triu(iota({2, 0, 3})), {2, 0, 3}, {});
  expect_tensor(xla::tril(iota({1, 1}, 5)), {1, 1}, {5});
  expect_values(xla::tril(xla::full({2, 2}, 1, DType::U8)), {1, 0, 1, 1});
  EXPECT_XLA_ERROR(xla::tril(iota({3})), Status::Shape, "tril");
  EXPECT_XLA_ERROR(xla::triu(iota({3})), Status::Shape, "triu");
  EXPECT_XLA_ERROR(xla::triu(Tensor::scalar(1)), Status::Shape, "triu");
}

// =========================================================================================
// arange, full, cast
// =========================================================================================

TEST(Arange, LengthIsCeilOfSpanOverStep) {
  expect_tensor(xla::arange(0, 5), {5}, {0, 1, 2, 3, 4});
  expect_tensor(xla::arange(0, 10, 3), {4}, {0, 3, 6, 9});            // ceil(10/3) = 4
  expect_tensor(xla::arange(1, 2, 0.25), {4}, {1, 1.25f, 1.5f, 1.75f});
  expect_tensor(xla::arange(0.5, 3), {3}, {0.5f, 1.5f, 2.5f});
  expect_tensor(xla::arange(-3, 3, 2), {3}, {-3, -1, 1});
  expect_tensor(xla::arange(5, 0, -1), {5}, {5, 4, 3, 2, 1});         // negative step
  expect_tensor(xla::arange(0, 1, 0.1), {10}, {0, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f}, 1e-6f);
  expect_tensor(xla::arange(0, 0), {0}, {});
  expect_tensor(xla::arange(3, 0), {0}, {});                          // wrong direction: empty
  expect_tensor(xla::arange(0, 3, -1), {0}, {});
  EXPECT_XLA_ERROR(xla::arange(0, 3, 0), Status::InvalidArg, "arange");
}

TEST(Arange, IntegerAndHalfDTypes) {
  Tensor l = xla::arange(0, 5, 1, DType::I64);
  EXPECT_EQ(i64s(l), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  Tensor i = xla::arange(-2, 4, 2, DType::I32);
  EXPECT_EQ(i.dtype(), DType::I32);
  EXPECT_EQ(raw<int32_t>(i), (std::vector<int32_t>{-2, 0, 2}));
  Tensor b = xla::arange(1, 4, 1, DType::BF16);
  EXPECT_EQ(b.dtype(), DType::BF16);
  EXPECT_EQ(raw<uint16_t>(b), (std::vector<uint16_t>{0x3f80, 0x4000, 0x4040}));  // 1, 2, 3
}

TEST(Full, EveryDTypeAndShape) {
  expect_tensor(xla::full({2, 3}, 2.5), {2, 3}, std::vector<float>(6, 2.5f));
  expect_tensor(xla::full({}, -3), {}, {-3});
  expect_tensor(xla::full({0, 4}, 1), {0, 4}, {});
  expect_tensor(xla::full({2}, INFINITY), {2}, {kInf, kInf});
  EXPECT_EQ(i64s(xla::full({2}, 1099511627777.0, DType::I64)),  // 2^40 + 1: not an f32 value
            (std::vector<int64_t>{1099511627777, 1099511627777}));
  EXPECT_EQ(raw<int32_t>(xla::full({2}, -7, DType::I32)), (std::vector<int32_t>{-7, -7}));
  EXPECT_EQ(u8s(xla::full({3}, 255, DType::U8)), (std::vector<uint8_t>{255, 255, 255}));
  EXPECT_EQ(raw<uint16_t>(xla::full({1}, 1.0, DType::BF16)), (std::vector<uint16_t>{0x3f80}));
  EXPECT_EQ(raw<uint16_t>(xla::full({1}, -2.0, DType::F16)), (std::vector<uint16_t>{0xc000}));
  EXPECT_XLA_ERROR(xla::full({1}, INFINITY, DType::I64), Status::InvalidArg, "full");  // no integer inf
}

TEST(Cast, FloatNarrowingRoundsToNearestEven) {
  // 1 + 2^-8 and 1 + 3*2^-8 are bf16 ties (see test_dtype_views); 1 + 2^-11 is an f16 tie.
  Tensor x = T({1 + std::ldexp(1.f, -8), 1 + 3 * std::ldexp(1.f, -8), kInf, 3.5f});
  EXPECT_EQ(raw<uint16_t>(xla::cast(x, DType::BF16)), (std::vector<uint16_t>{0x3f80, 0x3f82, 0x7f80, 0x4060}));
  EXPECT_EQ(raw<uint16_t>(xla::cast(T({1 + std::ldexp(1.f, -11), 70000}), DType::F16)),
            (std::vector<uint16_t>{0x3c00, 0x7c00}));
  EXPECT_TRUE(std::isnan(xla::cast(T({NAN}), DType::F16).to_vector()[0]));
  // f16 -> bf16 goes through the exact f32 value: f16 0x3555 = 0.333251953125.
  std::vector<uint16_t> h = {0x3555};
  Tensor hb = xla::cast(Tensor::from_data(h.data(), {1}, DType::F16), DType::BF16);
  EXPECT_EQ(raw<uint16_t>(hb), (std::vector<uint16_t>{xla::f32_to_bf16(0.333251953125f)}));
}

TEST(Cast, IntegerConversions) {
  // float -> int truncates toward zero (C++ / NumPy / torch).
  EXPECT_EQ(raw<int32_t>(xla::cast(T({2.7f, -2.7f, 0.5f, -0.5f, 3}), DType::I32)),
            (std::vector<int32_t>{2, -2, 0, 0, 3}));
  EXPECT_EQ(i64s(xla::cast(T({1e10f, -4}), DType::I64)), (std::vector<int64_t>{10000000000, -4}));
  EXPECT_EQ(u8s(xla::cast(T({0, 1, 255}), DType::U8)), (std::vector<uint8_t>{0, 1, 255}));
  expect_tensor(xla::cast(U8({0, 255}, {2}), DType::F32), {2}, {0, 255});
  expect_tensor(xla::cast(I64({3, -4}, {2}), DType::F32), {2}, {3, -4});
  EXPECT_EQ(raw<int32_t>(xla::cast(I64({5, -6}, {2}), DType::I32)), (std::vector<int32_t>{5, -6}));
  EXPECT_EQ(i64s(xla::cast(I32({std::numeric_limits<int32_t>::min()}, {1}), DType::I64)),
            (std::vector<int64_t>{std::numeric_limits<int32_t>::min()}));
  // Same dtype: a copy, exact even where f32 is not (2^40 + 1).
  Tensor big = I64({1099511627777}, {1});
  Tensor c = xla::cast(big, DType::I64);
  EXPECT_FALSE(c.shares_storage(big));
  EXPECT_EQ(i64s(c), (std::vector<int64_t>{1099511627777}));
}

TEST(Cast, NonContiguousAndZeroSize) {
  Tensor t = iota({2, 3}).transpose(0, 1);  // [[0,3],[1,4],[2,5]]
  EXPECT_EQ(i64s(xla::cast(t, DType::I64)), (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
  Tensor z = xla::cast(iota({0, 3}), DType::BF16);
  EXPECT_EQ(z.dtype(), DType::BF16);
  EXPECT_EQ(z.shape().str(), "[0, 3]");
}

// =========================================================================================
// Generator, randn, rand
// =========================================================================================

TEST(Generator, StateAndAdvance) {
  xla::Generator g(42);
  EXPECT_EQ(g.seed(), 42u);
  EXPECT_EQ(g.offset(), 0u);
  EXPECT_EQ(g.advance(5), 0u);  // returns the old offset
  EXPECT_EQ(g.advance(3), 5u);
  EXPECT_EQ(g.offset(), 8u);
  g.set_state(7, 100);
  EXPECT_EQ(g.seed(), 7u);
  EXPECT_EQ(g.offset(), 100u);
}

TEST(Random, DrawsAdvanceTheOffsetByNumel) {
  xla::Generator g(1);
  Tensor a = xla::randn({3, 4}, g);
  EXPECT_EQ(a.dtype(), DType::F32);
  EXPECT_EQ(a.shape().str(), "[3, 4]");
  EXPECT_EQ(g.offset(), 12u);
  xla::rand({5}, g);
  EXPECT_EQ(g.offset(), 17u);
  Tensor e = xla::randn({0, 4}, g);
  EXPECT_EQ(e.shape().str(), "[0, 4]");
  EXPECT_EQ(g.offset(), 17u);
}

TEST(Random, SameSeedSameNumbersOtherSeedOthers) {
  xla::Generator g1(123), g2(123), g3(124);
  Tensor a = xla::randn({1000}, g1), b = xla::randn({1000}, g2), c = xla::randn({1000}, g3);
  expect_bitwise_equal(a, b);
  std::vector<float> av = a.to_vector(), cv = c.to_vector();
  int same = 0;
  for (size_t i = 0; i < av.size(); ++i) same += av[i] == cv[i];
  EXPECT_LT(same, 5);
  Tensor d = xla::randn({1000}, g1);  // the next draw continues, it does not repeat
  std::vector<float> dv = d.to_vector();
  same = 0;
  for (size_t i = 0; i < av.size(); ++i) same += av[i] == dv[i];
  EXPECT_LT(same, 5);
}

TEST(Random, ElementDependsOnlyOnSeedAndOffsetPlusIndex) {
  for (auto draw : {+[](const Shape& s, xla::Generator& g) { return xla::randn(s, g); },
                    +[](const Shape& s, xla::Generator& g) { return xla::rand(s, g); }}) {
    xla::Generator whole(9), parts(9), jump(9);
    std::vector<float> w = draw({10}, whole).to_vector();
    // Odd split points: a draw of 3 then 7 equals one draw of 10 (no pairing across calls).
    std::vector<float> p = draw({3}, parts).to_vector(), q = draw({7}, parts).to_vector();
    p.insert(p.end(), q.begin(), q.end());
    EXPECT_EQ(p, w);
    jump.set_state(9, 5);  // elements 5..9
    EXPECT_EQ(draw({5}, jump).to_vector(), std::vector<float>(w.begin() + 5, w.end()));
    xla::Generator shaped(9);
    EXPECT_EQ(draw({2, 5}, shaped).to_vector(), w);  // the shape does not matter, only the count
  }
}

TEST(Random, ResultsDoNotDependOnThreadCount) {
  Tensor n1, n2, u1, u2;
  {
    ThreadCount t(1);
    xla::Generator g(2024);
    n1 = xla::randn({100001}, g);
    u1 = xla::rand({333, 301}, g);
  }
  {
    ThreadCount t(2);
    xla::Generator g(2024);
    n2 = xla::randn({100001}, g);
    u2 = xla::rand({333, 301}, g);
  }
  expect_bitwise_equal(n1, n2);
  expect_bitwise_equal(u1, u2);
}

TEST(Randn, StatisticsOf100kSamples) {
  xla::Generator g(7);
  std::vector<float> v = xla::randn({100000}, g).to_vector();
  double sum = 0, sq = 0, lag = 0;
  int within1 = 0, within2 = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_TRUE(std::isfinite(v[i]));
    sum += v[i];
    sq += double(v[i]) * v[i];
    if (i) lag += double(v[i]) * v[i - 1];
    within1 += std::fabs(v[i]) < 1;
    within2 += std::fabs(v[i]) < 2;
  }
  const double n = double(v.size()), mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(sd, 1.0, 0.02);
  EXPECT_NEAR(within1 / n, 0.6826895, 0.01);  // erf(1/sqrt2)
  EXPECT_NEAR(within2 / n, 0.9544997, 0.005);  // erf(2/sqrt2)
  EXPECT_NEAR(lag / n, 0.0, 0.02);             // neighbours uncorrelated
}

TEST(Randn, MeanAndStddevScale) {
  xla::Generator g(8), h(8);
  Tensor z = xla::randn({100000}, g);
  Tensor y = xla::randn({100000}, h, 3.f, 2.f);
  std::vector<float> zv = z.to_vector(), yv = y.to_vector();
  double sum = 0, sq = 0;
  for (size_t i = 0; i < yv.size(); ++i) {
    ASSERT_NEAR(yv[i], 3.f + 2.f * zv[i], 1e-5f * (1 + std::fabs(yv[i])));  // same counters: mean + std * z
    sum += yv[i];
    sq += double(yv[i]) * yv[i];
  }
  const double n = double(yv.size()), mean = sum / n;
  EXPECT_NEAR(mean, 3.0, 0.04);
  EXPECT_NEAR(std::sqrt(sq / n - mean * mean), 2.0, 0.04);
  xla::Generator k(1);
  expect_values(xla::randn({4}, k, 1.5f, 0.f), {1.5f, 1.5f, 1.5f, 1.5f});
}

TEST(Rand, UniformInHalfOpenRange) {
  xla::Generator g(11);
  std::vector<float> v = xla::rand({100000}, g).to_vector();
  double sum = 0, sq = 0;
  std::vector<int> bins(10, 0);
  for (float x : v) {
    ASSERT_GE(x, 0.f);
    ASSERT_LT(x, 1.f);
    sum += x;
    sq += double(x) * x;
    ++bins[size_t(std::min(9, int(x * 10)))];
  }
  const double n = double(v.size()), mean = sum / n;
  EXPECT_NEAR(mean, 0.5, 0.01);
  EXPECT_NEAR(sq / n - mean * mean, 1.0 / 12, 0.005);  // variance of U(0,1)
  for (int b : bins) EXPECT_NEAR(b / n, 0.1, 0.01);

  std::vector<float> w = xla::rand({100000}, g, -2.f, 6.f).to_vector();
  sum = 0;
  for (float x : w) {
    ASSERT_GE(x, -2.f);
    ASSERT_LT(x, 6.f);
    sum += x;
  }
  EXPECT_NEAR(sum / n, 2.0, 0.05);  // (low + high) / 2
  EXPECT_XLA_ERROR(xla::rand({2}, g, 1.f, 0.f), Status::InvalidArg, "rand");  // low > high
}
