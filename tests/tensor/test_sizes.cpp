// test_sizes.cpp — sizes that do not fit: a product of extents past int64, or a byte count
// past what memory can address, is a Status::Shape error, never a wrapped count that would
// size a small buffer and let a kernel run past it.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "xla/ops.hpp"
#include "xla/tensor.hpp"

namespace {

// `f` throws xla::Error with `status` and a message containing `word`.
template <class F>
void expect_error(F f, xla::Status status, const std::string& word) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const xla::Error& e) {
    EXPECT_EQ(e.status(), status) << e.what();
    EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << "'" << word << "' not in: " << e.what();
  }
}

constexpr int64_t k31 = int64_t(1) << 31, k62 = int64_t(1) << 62;

TEST(TensorSizes, ProductOfExtentsPastInt64IsRefused) {
  EXPECT_EQ(xla::Shape({k31, k31}).numel(), k62);  // fits: 2^62
  EXPECT_EQ(xla::Shape({k31, 3, 0}).numel(), 0);
  expect_error([] { return xla::Shape({k62, 4}).numel(); }, xla::Status::Shape, "[4611686018427387904, 4]");
  expect_error([] { return xla::Shape({k31, k31, k31}).numel(); }, xla::Status::Shape, "2^63 elements");
  expect_error([] { return xla::Tensor::zeros({k62, k62}); }, xla::Status::Shape, "2^63");
  // no element, but row-major strides of 2^62 · 2^62 (a size-0 axis counts as 1 there)
  expect_error([] { return xla::Tensor::zeros({k62, 0, k62, 4}); }, xla::Status::Shape, "multiply past 2^63");
  EXPECT_EQ(xla::Tensor::zeros({k31, 0, k31}).numel(), 0);  // strides 2^31·1, 2^31: fit
}

TEST(TensorSizes, ReshapeToExtentsPastInt64IsRefused) {
  const xla::Tensor t = xla::Tensor::zeros({2, 3});
  // the known extents multiply past int64 before the -1 is inferred
  expect_error([&] { return t.reshape({INT64_MAX, k62, -1}); }, xla::Status::Shape, "2^63");
  expect_error([&] { return t.reshape({k62, 4}); }, xla::Status::Shape, "[4611686018427387904, 4]");
  EXPECT_EQ(t.reshape({-1, 2}).shape(), xla::Shape({3, 2}));
}

TEST(TensorSizes, ViewsAndJoinsPastInt64AreRefused) {
  const xla::Tensor one = xla::Tensor::zeros({1, 0, 1});
  // a view with no element whose other extents multiply past int64
  expect_error([&] { return one.expand({k62, 0, k62}); }, xla::Status::Shape, "2^63");
  EXPECT_EQ(one.expand({k31, 0, k31}).numel(), 0);
  // two views of 2^62 elements each: the joined axis would hold 2^63
  const xla::Tensor wide = xla::Tensor::zeros({1}, xla::DType::U8).expand({k62});
  expect_error([&] { return xla::concat({wide, wide}, 0); }, xla::Status::Shape, "2^63");
}

TEST(TensorSizes, ByteCountPastAddressableIsRefused) {
  // 2^62 f32 elements are 2^64 bytes: the product wrapped to 0 and gave an empty buffer
  expect_error([] { return xla::Tensor::zeros({k31, k31}); }, xla::Status::Shape, "[2147483648, 2147483648]");
  expect_error([] { return xla::Tensor::empty({k62}, xla::DType::BF16); }, xla::Status::Shape, "bf16");
  // sizes that fit are unchanged
  xla::Tensor t = xla::Tensor::zeros({3, 5});
  EXPECT_EQ(t.nbytes(), 60u);
  EXPECT_EQ(t.numel(), 15);
}

}  // namespace

// A slice step far past the axis takes the first element, as a step of the axis's length
// does; the step must not overflow the view's stride (found by fuzz_capi_tensor).
TEST(TensorSizes, SliceWithAHugeStepTakesOneElement) {
  const xla::Tensor t = xla::Tensor::from_vector({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {3, 2});
  const xla::Tensor s = t.slice(0, 1, 3, INT64_MAX);
  EXPECT_EQ(s.shape(), (xla::Shape{1, 2}));
  EXPECT_EQ(s.contiguous().to_vector(), (std::vector<float>{3.f, 4.f}));
  EXPECT_EQ(t.slice(0, 0, 3, INT64_MAX).contiguous().to_vector(), t.slice(0, 0, 3, 3).contiguous().to_vector());
  // an axis of 2^63 - 1 (no elements: another axis is 0) sliced with step 2: ceil((2^63 - 1) / 2)
  const xla::Tensor empty = xla::Tensor::zeros({INT64_MAX, 0});
  EXPECT_EQ(empty.slice(0, 0, INT64_MAX, 2).shape(), (xla::Shape{INT64_MAX / 2 + 1, 0}));
  // joining such empty tensors along the zero axis copies nothing (and does not loop 2^63 times)
  EXPECT_EQ(xla::concat({empty, empty}, 1).shape(), (xla::Shape{INT64_MAX, 0}));
}
