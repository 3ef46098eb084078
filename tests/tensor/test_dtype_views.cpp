// Tests for dtype.hpp (bf16/f16 conversions), shape.hpp, and tensor.hpp: creation,
// from_data/copy_to round trips, and every view (view, reshape, permute, transpose, slice,
// select, expand, squeeze/unsqueeze, as_strided) plus contiguous/clone/to.
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "test_util.hpp"

using namespace xt;
using xla::Status;

namespace {

float bits_f32(uint32_t u) { return std::bit_cast<float>(u); }
uint32_t f32_bits(float f) { return std::bit_cast<uint32_t>(f); }

// Value of a binary16 pattern, decoded from the IEEE definition (independent of f16_to_f32):
// exponent 0: m * 2^-24; otherwise (1 + m/1024) * 2^(e-15) = (1024 + m) * 2^(e-25).
double f16_value(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? std::ldexp(m, -24)
           : e == 31 ? (m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity())
                     : std::ldexp(1024 + m, e - 25);
  return (h & 0x8000) ? -v : v;
}

// Nearest binary16 (ties to even) of a finite x >= 0, by bracketing and comparing distances
// in double. Everything from 65520 = 65504 + 16 (half an ulp above the max) up is infinity.
uint16_t ref_f16(double x) {
  if (x >= 65520.0) return 0x7c00;
  uint16_t lo = 0, hi = 0x7bff;  // largest pattern with value <= x, by binary search
  while (lo < hi) {
    uint16_t mid = uint16_t((lo + hi + 1) / 2);
    if (f16_value(mid) <= x) lo = mid; else hi = uint16_t(mid - 1);
  }
  if (lo == 0x7bff) return 0x7bff;
  double dl = x - f16_value(lo), dh = f16_value(uint16_t(lo + 1)) - x;
  if (dl < dh) return lo;
  if (dh < dl) return uint16_t(lo + 1);
  return (lo & 1) ? uint16_t(lo + 1) : lo;
}

// Nearest bf16 (ties to even) of a finite f >= 0: bf16 values are f32 patterns with the low
// 16 bits zero, so the bracket is the truncation and the next pattern (0x7f80 stands for 2^128).
uint16_t ref_bf16(float f) {
  uint16_t lo = uint16_t(f32_bits(f) >> 16);
  double vlo = bits_f32(uint32_t(lo) << 16);
  double vhi = lo + 1 == 0x7f80 ? std::ldexp(1.0, 128) : double(bits_f32(uint32_t(lo + 1) << 16));
  double dl = double(f) - vlo, dh = vhi - double(f);
  if (dl < dh) return lo;
  if (dh < dl) return uint16_t(lo + 1);
  return (lo & 1) ? uint16_t(lo + 1) : lo;
}

}  // namespace

// =========================================================================================
// bf16
// =========================================================================================

TEST(BF16, WidensExactly) {
  EXPECT_EQ(xla::bf16_to_f32(0x3f80), 1.0f);          // 0x3f80 << 16 = 0x3f800000
  EXPECT_EQ(xla::bf16_to_f32(0xc000), -2.0f);         // sign, exponent 128
  EXPECT_EQ(xla::bf16_to_f32(0x4049), 3.140625f);     // 1.1001001b * 2^1
  EXPECT_EQ(xla::bf16_to_f32(0x0001), std::ldexp(1.0f, -133));  // smallest subnormal: 2^-126 * 2^-7
  EXPECT_EQ(xla::bf16_to_f32(0x7f80), INFINITY);
  EXPECT_EQ(xla::bf16_to_f32(0xff80), -INFINITY);
  EXPECT_TRUE(std::isnan(xla::bf16_to_f32(0x7fc0)));
}

TEST(BF16, RoundsTiesToEven) {
  // 1 + 2^-8 lies halfway between 1.0 (0x3f80, even) and 1 + 2^-7 (0x3f81): goes to even.
  EXPECT_EQ(xla::f32_to_bf16(bits_f32(0x3f808000)), 0x3f80);
  // 1 + 3*2^-8 lies halfway between 0x3f81 (odd) and 0x3f82 (even): goes up.
  EXPECT_EQ(xla::f32_to_bf16(bits_f32(0x3f818000)), 0x3f82);
  EXPECT_EQ(xla::f32_to_bf16(bits_f32(0x3f808001)), 0x3f81);  // just above the tie
  EXPECT_EQ(xla::f32_to_bf16(bits_f32(0x3f807fff)), 0x3f80);  // just below
  EXPECT_EQ(xla::f32_to_bf16(bits_f32(0xbf808000)), 0xbf80);  // negative tie, to even
  EXPECT_EQ(xla::f32_to_bf16(-0.0f), 0x8000);
}

TEST(BF16, SubnormalsInfNaNAndOverflow) {
  EXPECT_EQ(xla::f32_to_bf16(bits_f32(0x00010000)), 0x0001);  // exact subnormal
  EXPECT_EQ(xla::f32_to_bf16(bits_f32(0x00008000)), 0x0000);  // tie between 0 and 0x0001: even
  EXPECT_EQ(xla::f32_to_bf16(bits_f32(0x00018000)), 0x0002);  // tie between 1 and 2: even
  EXPECT_EQ(xla::f32_to_bf16(bits_f32(0x00000001)), 0x0000);  // smallest f32 subnormal
  EXPECT_EQ(xla::f32_to_bf16(INFINITY), 0x7f80);
  EXPECT_EQ(xla::f32_to_bf16(-INFINITY), 0xff80);
  // Largest finite bf16 is 0x7f7f; FLT_MAX (0x7f7fffff) is above the midpoint: infinity.
  EXPECT_EQ(xla::f32_to_bf16(bits_f32(0x7f7fffff)), 0x7f80);
  EXPECT_EQ(xla::f32_to_bf16(bits_f32(0x7f7f7fff)), 0x7f7f);
  EXPECT_EQ(xla::f32_to_bf16(bits_f32(0x7f7f8000)), 0x7f80);  // tie, 0x7f7f is odd: up to inf
  // NaNs stay NaN, even a signalling NaN whose payload lives only in the low 16 bits
  // (truncating 0x7f800001 would give infinity) and one whose rounding would carry.
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0x7fffffffu, 0xff800001u})
    EXPECT_TRUE(std::isnan(xla::bf16_to_f32(xla::f32_to_bf16(bits_f32(nan))))) << std::hex << nan;
}

TEST(BF16, EveryPatternRoundTrips) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    float f = xla::bf16_to_f32(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(xla::bf16_to_f32(xla::f32_to_bf16(f)))) << h;
    } else {
      ASSERT_EQ(xla::f32_to_bf16(f), h) << std::hex << h;
    }
  }
}

TEST(BF16, MatchesNearestEvenReferenceOnF32Sweep) {
  for (uint32_t u = 0; u < 0x7f800000u; u += 1009) {  // every exponent, many mantissas
    float f = bits_f32(u);
    uint16_t want = ref_bf16(f);
    ASSERT_EQ(xla::f32_to_bf16(f), want) << std::hex << u;
    ASSERT_EQ(xla::f32_to_bf16(-f), uint16_t(want | 0x8000)) << std::hex << u;
  }
}

// =========================================================================================
// f16
// =========================================================================================

TEST(F16, WidensExactlyIncludingSubnormals) {
  EXPECT_EQ(xla::f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(xla::f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(xla::f16_to_f32(0x7bff), 65504.0f);                       // (2 - 2^-10) * 2^15
  EXPECT_EQ(xla::f16_to_f32(0x0400), std::ldexp(1.0f, -14));          // smallest normal
  EXPECT_EQ(xla::f16_to_f32(0x0001), std::ldexp(1.0f, -24));          // smallest subnormal
  EXPECT_EQ(xla::f16_to_f32(0x0200), std::ldexp(1.0f, -15));          // 512 * 2^-24
  EXPECT_EQ(xla::f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));       // largest subnormal
  EXPECT_EQ(xla::f16_to_f32(0x7c00), INFINITY);
  EXPECT_EQ(xla::f16_to_f32(0xfc00), -INFINITY);
  EXPECT_TRUE(std::isnan(xla::f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::signbit(xla::f16_to_f32(0x8000)));
  EXPECT_EQ(xla::f16_to_f32(0x8000), 0.0f);
  for (uint32_t h = 0; h <= 0xffff; ++h) {  // every pattern against the IEEE definition
    double want = f16_value(uint16_t(h));
    float got = xla::f16_to_f32(uint16_t(h));
    if (std::isnan(want)) ASSERT_TRUE(std::isnan(got)) << h;
    else ASSERT_EQ(double(got), want) << std::hex << h;
  }
}

TEST(F16, RoundsTiesToEvenAndOverflowsToInf) {
  EXPECT_EQ(xla::f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(xla::f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie 1 | 1+2^-10: even
  EXPECT_EQ(xla::f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie 0x3c01 | 0x3c02
  EXPECT_EQ(xla::f32_to_f16(-(1.0f + std::ldexp(1.0f, -11))), 0xbc00);
  EXPECT_EQ(xla::f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(xla::f32_to_f16(65519.0f), 0x7bff);  // below the midpoint 65520
  EXPECT_EQ(xla::f32_to_f16(65520.0f), 0x7c00);  // midpoint; 0x7bff is odd: up, to infinity
  EXPECT_EQ(xla::f32_to_f16(1e6f), 0x7c00);
  EXPECT_EQ(xla::f32_to_f16(-1e6f), 0xfc00);
  EXPECT_EQ(xla::f32_to_f16(INFINITY), 0x7c00);
  EXPECT_EQ(xla::f32_to_f16(-INFINITY), 0xfc00);
  EXPECT_TRUE(std::isnan(xla::f16_to_f32(xla::f32_to_f16(NAN))));
  EXPECT_TRUE(std::isnan(xla::f16_to_f32(xla::f32_to_f16(bits_f32(0x7f800001)))));  // payload in low bits
}

TEST(F16, SubnormalRounding) {
  const float u = std::ldexp(1.0f, -24);  // one f16 subnormal step
  EXPECT_EQ(xla::f32_to_f16(u), 0x0001);
  EXPECT_EQ(xla::f32_to_f16(0.5f * u), 0x0000);   // tie 0 | 1: even
  EXPECT_EQ(xla::f32_to_f16(0.75f * u), 0x0001);  // above the tie
  EXPECT_EQ(xla::f32_to_f16(0.25f * u), 0x0000);  // below
  EXPECT_EQ(xla::f32_to_f16(1.5f * u), 0x0002);   // tie 1 | 2: even
  EXPECT_EQ(xla::f32_to_f16(2.5f * u), 0x0002);   // tie 2 | 3: even
  EXPECT_EQ(xla::f32_to_f16(1023.0f * u), 0x03ff);
  EXPECT_EQ(xla::f32_to_f16(1023.5f * u), 0x0400);  // tie 0x3ff | 0x400 (2^-14): even
  EXPECT_EQ(xla::f32_to_f16(-1.5f * u), 0x8002);
  EXPECT_EQ(xla::f32_to_f16(std::ldexp(1.0f, -30)), 0x0000);
}

TEST(F16, EveryPatternRoundTripsAndEveryMidpointGoesToEven) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    float f = xla::f16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(xla::f32_to_f16(f), h) << std::hex << h;
  }
  for (uint32_t h = 0; h < 0x7bff; ++h) {  // midpoints have 12 significant bits: exact in f32
    float mid = float((f16_value(uint16_t(h)) + f16_value(uint16_t(h + 1))) / 2);
    uint16_t even = (h & 1) ? uint16_t(h + 1) : uint16_t(h);
    ASSERT_EQ(xla::f32_to_f16(mid), even) << std::hex << h;
  }
}

TEST(F16, MatchesNearestEvenReferenceOnF32Sweep) {
  for (uint32_t u = 0; u < 0x47800000u; u += 0x1235) {  // 0 .. 65536, all f16 exponents
    float f = bits_f32(u);
    uint16_t want = ref_f16(double(f));
    ASSERT_EQ(xla::f32_to_f16(f), want) << std::hex << u;
    ASSERT_EQ(xla::f32_to_f16(-f), uint16_t(want | 0x8000)) << std::hex << u;
  }
}

TEST(DType, SizesNamesAndValidity) {
  EXPECT_EQ(xla::dtype_size(DType::F32), 4u);
  EXPECT_EQ(xla::dtype_size(DType::BF16), 2u);
  EXPECT_EQ(xla::dtype_size(DType::F16), 2u);
  EXPECT_EQ(xla::dtype_size(DType::I32), 4u);
  EXPECT_EQ(xla::dtype_size(DType::I64), 8u);
  EXPECT_EQ(xla::dtype_size(DType::U8), 1u);
  EXPECT_STREQ(xla::dtype_name(DType::BF16), "bf16");
  EXPECT_TRUE(xla::dtype_valid(5));
  EXPECT_FALSE(xla::dtype_valid(6));
  EXPECT_FALSE(xla::dtype_valid(-1));
  EXPECT_TRUE(xla::is_floating(DType::F16));
  EXPECT_FALSE(xla::is_floating(DType::I64));
}

TEST(TensorTo, NarrowsWithRoundToNearestEven) {
  // f32 -> bf16 through the tensor: same bits as the scalar conversion tested above.
  Tensor x = T({1.0f, bits_f32(0x3f808000), bits_f32(0x3f818000), INFINITY, -2.0f, bits_f32(0x7f7fffff)});
  Tensor b = x.to(DType::BF16);
  EXPECT_EQ(b.dtype(), DType::BF16);
  EXPECT_EQ(raw<uint16_t>(b), (std::vector<uint16_t>{0x3f80, 0x3f80, 0x3f82, 0x7f80, 0xc000, 0x7f80}));
  Tensor h = T({1.0f, 65520.0f, std::ldexp(1.5f, -24), -0.0f}).to(DType::F16);
  EXPECT_EQ(raw<uint16_t>(h), (std::vector<uint16_t>{0x3c00, 0x7c00, 0x0002, 0x8000}));
  EXPECT_TRUE(std::isnan(T({NAN}).to(DType::BF16).to_vector()[0]));
  // Widening back is exact: 3.140625 is a bf16 value.
  expect_tensor(T({3.140625f, -0.5f}).to(DType::BF16).to(DType::F32), {2}, {3.140625f, -0.5f});
}

TEST(TensorTo, SameDTypeStillCopies) {
  Tensor x = iota({2, 2});
  Tensor y = x.to(DType::F32);
  EXPECT_FALSE(y.shares_storage(x));
  expect_tensor(y, {2, 2}, {0, 1, 2, 3});
}

// =========================================================================================
// Shape and creation
// =========================================================================================

TEST(Shape, ContiguousStridesAndLimits) {
  EXPECT_EQ(xla::contiguous_strides(Shape{2, 3, 4}).str(), "[12, 4, 1]");  // 3*4, 4, 1
  EXPECT_EQ(xla::contiguous_strides(Shape{2, 0, 3}).str(), "[3, 3, 1]");   // zero extents count as 1
  EXPECT_EQ(xla::contiguous_strides(Shape{}).str(), "[]");
  EXPECT_EQ((Shape{2, 0, 3}).numel(), 0);
  EXPECT_EQ((Shape{}).numel(), 1);
  try {
    Shape s{1, 2, 3, 4, 5, 6, 7, 8, 9};
    ADD_FAILURE() << "9 dims accepted: " << s.str();
  } catch (const xla::Error& e) {
    EXPECT_EQ(e.status(), Status::Shape);
  }
}

TEST(Create, ZerosForEveryDType) {
  for (DType dt : {DType::F32, DType::BF16, DType::F16, DType::I32, DType::I64, DType::U8}) {
    Tensor z = Tensor::zeros({2, 3}, dt);
    EXPECT_EQ(z.dtype(), dt);
    EXPECT_EQ(z.nbytes(), 6 * xla::dtype_size(dt));
    EXPECT_TRUE(z.is_contiguous());
    expect_values(z, {0, 0, 0, 0, 0, 0});
  }
}

// fill_ writes the value as full() stores it, into a strided view only (the elements around
// it keep theirs), for every dtype, and makes no tensor on the way (a compiled graph's kernels
// zero their results with it).
TEST(Create, FillWritesAViewInPlaceAsFullStoresTheValue) {
  for (DType dt : {DType::F32, DType::BF16, DType::F16, DType::I32, DType::I64, DType::U8})
    for (double v : {1.0 / 3.0, 2.5, -7.0, 300.0}) {
      SCOPED_TRACE(std::string(xla::dtype_name(dt)) + " " + std::to_string(v));
      if (dt == DType::U8 && v < 0) continue;
      Tensor t = Tensor::zeros({4, 6}, dt);
      Tensor view = t.slice(1, 1, 5, 2).slice(0, 0, 4, 2);  // rows 0 and 2, columns 1 and 3: strided both ways
      const uint64_t before = xla::storages_created();
      view.fill_(v);
      EXPECT_EQ(xla::storages_created(), before);
      const std::vector<float> want = xla::full({1}, v, dt).to(DType::F32).to_vector();
      const std::vector<float> got = t.to(DType::F32).to_vector();
      for (int64_t r = 0; r < 4; ++r)
        for (int64_t c = 0; c < 6; ++c) {
          const bool inside = r % 2 == 0 && (c == 1 || c == 3);
          EXPECT_EQ(got[size_t(r * 6 + c)], inside ? want[0] : 0.f) << "at " << r << ", " << c;
        }
    }
  EXPECT_XLA_ERROR(Tensor::zeros({2}, DType::I32).fill_(std::nan("")), Status::InvalidArg, "fill_");
  EXPECT_XLA_ERROR(Tensor().fill_(1.0), Status::InvalidArg, "fill_");
}

// Buffers from 64 KiB are kept when freed and handed out again (first-touch page faults
// cost more than the ops writing them); smaller ones go back to malloc.
TEST(Create, BuffersFrom64KiBAreKeptForReuse) {
  xla::release_cached_memory();
  { Tensor t = Tensor::empty({25 * 1024}); }                   // 100 KiB
  EXPECT_EQ(xla::release_cached_memory(), size_t(112) << 10);  // in 16 KiB granules
  { Tensor t = Tensor::empty({15 * 1024}); }                   // 60 KiB
  EXPECT_EQ(xla::release_cached_memory(), 0u);
  Tensor a = Tensor::empty({25 * 1024});
  void* first = a.storage()->data;
  a = Tensor();
  Tensor b = Tensor::empty({26 * 1024});  // 104 KiB: the same 112 KiB block
  EXPECT_EQ(b.storage()->data, first);
}

// A model's weights gathered onto one huge-page block: every storage of 64 KiB and more that
// is not already on huge pages moves, once however many views share it, keeping its values,
// its views and its Q8 scales; the small, the borrowed and the huge stay where they are.
TEST(Create, WeightsMoveOntoOneHugePageBlockWithTheirValuesAndViews) {
  xla::Generator gen(3);
  Tensor a = xla::randn({512, 512}, gen);                    // 1 MiB
  Tensor bf = xla::randn({400, 1024}, gen).to(DType::BF16);  // 800 KiB
  Tensor q = xla::randn({96, 4096}, gen).to(DType::Q8);      // 384 KiB and its scales
  Tensor small = xla::randn({100, 100}, gen);                // 39 KiB
  Tensor huge = Tensor::zeros({5 << 20});                    // 20 MiB
  std::vector<float> outside(32 << 10, 2.5f);                // 128 KiB, borrowed
  Tensor borrowed = Tensor::borrow(outside.data(), {32 << 10}, DType::F32, nullptr, nullptr);
  Tensor view = a.slice(0, 100, 300);
  const std::vector<float> a0 = a.to_vector(), bf0 = bf.to_vector(), q0 = q.to_vector(), view0 = view.to_vector();
  const void* kept[] = {small.storage()->data, huge.storage()->data, borrowed.storage()->data};

  xla::move_to_huge_pages({&a, &view, &bf, &q, &small, &huge, &borrowed, nullptr});

  const auto& block = a.storage()->shared_block;
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(block.get()) % (size_t(2) << 20), 0u);
  EXPECT_EQ(bf.storage()->shared_block, block);
  EXPECT_EQ(q.storage()->shared_block, block);
  EXPECT_EQ(view.storage(), a.storage());
  // end to end in the order given, each storage once
  const char* base = static_cast<const char*>(block.get());
  EXPECT_EQ(a.storage()->data, base);
  EXPECT_EQ(bf.storage()->data, base + (1 << 20));
  EXPECT_EQ(q.storage()->data, base + (1 << 20) + 400 * 1024 * 2);
  for (const Tensor* t : {&a, &bf, &q}) {
    const char* at = static_cast<const char*>(t->storage()->data);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(at) % 64, 0u);
    EXPECT_GE(at, static_cast<const char*>(block.get()));
  }
  EXPECT_EQ(a.to_vector(), a0);
  EXPECT_EQ(view.to_vector(), view0);
  EXPECT_EQ(bf.to_vector(), bf0);
  EXPECT_EQ(q.to_vector(), q0);
  EXPECT_EQ(small.storage()->data, kept[0]);
  EXPECT_EQ(huge.storage()->data, kept[1]);
  EXPECT_EQ(borrowed.storage()->data, kept[2]);
  for (const Tensor* t : {&small, &huge, &borrowed}) EXPECT_EQ(t->storage()->shared_block, nullptr);

  // writes still land, and the block outlives any one of its storages
  view.fill_(1.0);
  EXPECT_EQ(a.to_vector()[100 * 512], 1.f);
  a = Tensor();
  view = Tensor();
  EXPECT_EQ(bf.to_vector(), bf0);
  xla::move_to_huge_pages({&bf, &q});  // already moved: nothing happens
  EXPECT_EQ(bf.storage()->shared_block, q.storage()->shared_block);
  EXPECT_EQ(q.to_vector(), q0);

  // under 2 MiB in all, nothing moves
  Tensor c = xla::randn({256, 1024}, gen);
  const void* c_at = c.storage()->data;
  xla::move_to_huge_pages({&c});
  EXPECT_EQ(c.storage()->data, c_at);
  EXPECT_EQ(c.storage()->shared_block, nullptr);
}

TEST(Create, EmptyIsWritableAndAligned) {
  Tensor e = Tensor::empty({3, 5});
  ASSERT_TRUE(e.defined());
  EXPECT_EQ(e.strides().str(), "[5, 1]");
  float* p = e.data<float>();
  for (int i = 0; i < 15; ++i) p[i] = float(i * i);
  EXPECT_EQ(e.to_vector()[14], 196.f);  // 14^2
  EXPECT_GE(e.storage()->nbytes, 15 * sizeof(float));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(e.storage()->data) % 16, 0u);     // 16-byte aligned (64 from 64 KiB)
  Tensor big = Tensor::empty({1 << 18});                                  // 1 MiB
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big.storage()->data) % 64, 0u);
  EXPECT_FALSE(Tensor().defined());
}

TEST(Create, ScalarIsZeroDim) {
  Tensor s = Tensor::scalar(2.5f);
  EXPECT_EQ(s.ndim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item(), 2.5f);
  EXPECT_XLA_ERROR(iota({2}).item(), Status::Shape, "item");
}

TEST(Create, FromVectorChecksCount) {
  EXPECT_XLA_ERROR(Tensor::from_vector({1, 2, 3}, {2, 2}), Status::Shape, "from_vector");
  EXPECT_XLA_ERROR(Tensor::empty({2, -1}), Status::Shape, "empty");  // negative extent
  EXPECT_XLA_ERROR(Tensor::zeros({-3}), Status::Shape, "-3");
  Tensor z = Tensor::from_vector({}, {0, 3});
  expect_tensor(z, {0, 3}, {});
}

TEST(Create, SizeAndDataAccessors) {
  Tensor x = iota({2, 3, 4});
  EXPECT_EQ(x.size(0), 2);
  EXPECT_EQ(x.size(-1), 4);
  EXPECT_EQ(x.size(-3), 2);
  EXPECT_XLA_ERROR(x.size(3), Status::InvalidArg, "size");
  EXPECT_XLA_ERROR(x.size(-4), Status::InvalidArg, "size");
  EXPECT_XLA_ERROR(x.data<int32_t>(), Status::DType, "data");  // same size, other dtype
  EXPECT_XLA_ERROR(x.data<int64_t>(), Status::DType, "data");
  EXPECT_NO_THROW(Tensor::zeros({1}, DType::F16).data<uint16_t>());
  EXPECT_EQ(xla::normalize_axis(-1, 3, "op"), 2);
  EXPECT_XLA_ERROR(xla::normalize_axis(3, 3, "myop"), Status::InvalidArg, "myop");
}

TEST(FromData, RoundTripsEveryDType) {
  std::vector<float> f = {1.5f, -0.0f, INFINITY, 1e-40f};  // includes an f32 subnormal
  std::vector<float> f_out(4);
  Tensor tf = Tensor::from_data(f.data(), {2, 2}, DType::F32);
  tf.copy_to(f_out.data());
  EXPECT_EQ(std::memcmp(f.data(), f_out.data(), 16), 0);

  std::vector<uint16_t> h = {0x3f80, 0x7fc1, 0x0001, 0xffff};  // raw bits survive, NaN payload too
  EXPECT_EQ(raw<uint16_t>(Tensor::from_data(h.data(), {4}, DType::BF16)), h);
  EXPECT_EQ(raw<uint16_t>(Tensor::from_data(h.data(), {4}, DType::F16)), h);

  std::vector<int64_t> l = {int64_t(1) << 40, -3, std::numeric_limits<int64_t>::max()};
  EXPECT_EQ(raw<int64_t>(Tensor::from_data(l.data(), {3}, DType::I64)), l);
  std::vector<int32_t> i = {-7, 0, std::numeric_limits<int32_t>::min()};
  EXPECT_EQ(raw<int32_t>(Tensor::from_data(i.data(), {3, 1}, DType::I32)), i);
  std::vector<uint8_t> u = {0, 1, 255};
  EXPECT_EQ(raw<uint8_t>(Tensor::from_data(u.data(), {1, 3}, DType::U8)), u);
}

TEST(FromData, CopiesTheSource) {
  std::vector<float> src = {1, 2, 3};
  Tensor t = Tensor::from_data(src.data(), {3}, DType::F32);
  src[0] = 100;
  expect_values(t, {1, 2, 3});
}

TEST(ToVector, WidensEveryDType) {
  // bf16 0x4049 = 3.140625; f16 0x3555 = (1024+341)*2^-12 = 0.333251953125.
  std::vector<uint16_t> b = {0x4049, 0xbf80};
  expect_values(Tensor::from_data(b.data(), {2}, DType::BF16), {3.140625f, -1.0f});
  std::vector<uint16_t> h = {0x3555, 0x0001};
  expect_values(Tensor::from_data(h.data(), {2}, DType::F16), {0.333251953125f, std::ldexp(1.0f, -24)});
  expect_values(I64({-5, 1 << 20}, {2}), {-5.f, 1048576.f});
  expect_values(I32({7, -8}, {2}), {7.f, -8.f});
  expect_values(U8({0, 200}, {2}), {0.f, 200.f});
}

TEST(CopyTo, NonContiguousViewsComeOutRowMajor) {
  // iota({2,3})^T: t[i][j] = x[j][i] = 3j + i -> [0,3,1,4,2,5].
  Tensor t = iota({2, 3}).transpose(0, 1);
  std::vector<float> out(6);
  t.copy_to(out.data());
  EXPECT_EQ(out, (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor l = I64({10, 20, 30, 40, 50, 60}, {2, 3}).transpose(0, 1);
  EXPECT_EQ(raw<int64_t>(l), (std::vector<int64_t>{10, 40, 20, 50, 30, 60}));
  EXPECT_EQ(iota({0, 4}).to_vector().size(), 0u);
}

// =========================================================================================
// Views
// =========================================================================================

TEST(View, ContiguousViewSharesStorage) {
  Tensor x = iota({3, 4});
  Tensor v = x.view({2, 6});
  EXPECT_TRUE(v.shares_storage(x));
  expect_tensor(v, {2, 6}, iota_values(12));  // the row-major order is unchanged
  EXPECT_EQ(v.strides().str(), "[6, 1]");
  v.data<float>()[0] = 42.f;  // writes through to x
  EXPECT_EQ(x.to_vector()[0], 42.f);
}

TEST(View, InfersMinusOne) {
  Tensor x = iota({3, 4});
  expect_tensor(x.view({-1, 3}), {4, 3}, iota_values(12));  // 12 / 3 = 4
  expect_tensor(x.view({-1}), {12}, iota_values(12));
  expect_tensor(x.view({2, -1, 2}), {2, 3, 2}, iota_values(12));
  expect_tensor(iota({0, 3}).view({3, -1}), {3, 0}, {});
  expect_tensor(iota({1}).view({}), {}, {0});
  expect_tensor(Tensor::scalar(5).view({1, 1}), {1, 1}, {5});
}

TEST(View, SplitsADimOfATransposedTensor) {
  // y = iota({3,4})^T has shape [4,3], strides [1,4]; y[i][j] = 4j + i.
  // Splitting dim 0 (size 4, stride 1) into [2,2] is a view with strides [2,1,4].
  Tensor y = iota({3, 4}).transpose(0, 1);
  Tensor v = y.view({2, 2, 3});
  EXPECT_TRUE(v.shares_storage(y));
  EXPECT_EQ(v.strides().str(), "[2, 1, 4]");
  expect_tensor(v, {2, 2, 3}, {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
}

TEST(View, RejectsImpossibleViews) {
  Tensor y = iota({3, 4}).transpose(0, 1);
  EXPECT_XLA_ERROR(y.view({12}), Status::Shape, "view");    // needs a copy
  EXPECT_XLA_ERROR(y.view({3, 4}), Status::Shape, "view");
  EXPECT_XLA_ERROR(iota({12}).view({5, 3}), Status::Shape, "view");  // 15 != 12
  EXPECT_XLA_ERROR(iota({12}).view({-1, 5}), Status::Shape, "view");  // 12 % 5 != 0
  EXPECT_XLA_ERROR(iota({12}).view({-1, -1}), Status::Shape, "view");
}

TEST(Reshape, ViewWhenPossibleCopyOtherwise) {
  Tensor x = iota({3, 4});
  Tensor r = x.reshape({4, -1});
  EXPECT_TRUE(r.shares_storage(x));
  expect_tensor(r, {4, 3}, iota_values(12));

  Tensor y = x.transpose(0, 1);  // [4,3], y[i][j] = 4j + i
  Tensor f = y.reshape({12});    // not a view: packed copy in y's row-major order
  EXPECT_FALSE(f.shares_storage(y));
  EXPECT_TRUE(f.is_contiguous());
  expect_tensor(f, {12}, {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  expect_tensor(y.flatten(), {12}, {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  EXPECT_TRUE(y.reshape({2, 2, 3}).shares_storage(y));  // expressible: stays a view

  expect_tensor(iota({0, 4}).reshape({-1, 2}), {0, 2}, {});
  expect_tensor(iota({1, 1, 1}).reshape({}), {}, {0});
  EXPECT_XLA_ERROR(x.reshape({5, -1}), Status::Shape, "reshape");
  EXPECT_XLA_ERROR(x.reshape({13}), Status::Shape, "reshape");
}

TEST(Permute, PermutesStridesAndValues) {
  Tensor x = iota({2, 3, 4});  // x[a][b][c] = 12a + 4b + c, strides [12,4,1]
  Tensor p = x.permute({2, 0, 1});  // p[i][j][k] = x[j][k][i]
  EXPECT_TRUE(p.shares_storage(x));
  EXPECT_EQ(p.shape().str(), "[4, 2, 3]");
  EXPECT_EQ(p.strides().str(), "[1, 12, 4]");
  std::vector<float> want;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) want.push_back(float(12 * j + 4 * k + i));
  expect_values(p, want);
  EXPECT_FALSE(p.is_contiguous());
  expect_tensor(x.permute({0, 1, 2}), {2, 3, 4}, iota_values(24));
  EXPECT_XLA_ERROR(x.permute({0, 0, 1}), Status::InvalidArg, "permute");
  EXPECT_XLA_ERROR(x.permute({0, 1}), Status::InvalidArg, "permute");
  EXPECT_XLA_ERROR(x.permute({0, 1, 3}), Status::InvalidArg, "permute");
}

TEST(Transpose, SwapsTwoAxesNegativeAllowed) {
  Tensor x = iota({2, 3, 4});
  Tensor t = x.transpose(0, -1);  // t[i][j][k] = x[k][j][i] = 12k + 4j + i, shape [4,3,2]
  std::vector<float> want;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 2; ++k) want.push_back(float(12 * k + 4 * j + i));
  expect_tensor(t, {4, 3, 2}, want);
  EXPECT_EQ(t.strides().str(), "[1, 4, 12]");
  expect_tensor(x.transpose(1, 1), {2, 3, 4}, iota_values(24));
  expect_tensor(iota({1, 3}).transpose(0, 1), {3, 1}, {0, 1, 2});
  EXPECT_XLA_ERROR(x.transpose(0, 3), Status::InvalidArg, "transpose");
}

TEST(Slice, PythonBoundsAndSteps) {
  Tensor x = iota({10});  // [0..9]
  expect_tensor(x.slice(0, 2, 8, 2), {3}, {2, 4, 6});     // 2,4,6 (8 excluded)
  expect_tensor(x.slice(0, 1, 10, 3), {3}, {1, 4, 7});    // ceil(9/3) = 3
  expect_tensor(x.slice(0, 0, 10, 4), {3}, {0, 4, 8});
  expect_tensor(x.slice(0, 9, 10, 5), {1}, {9});
  expect_tensor(x.slice(0, -3, 100), {3}, {7, 8, 9});     // start 10-3 = 7, stop clamped to 10
  expect_tensor(x.slice(0, -100, 3), {3}, {0, 1, 2});     // start clamped to 0
  expect_tensor(x.slice(0, 3, -1), {6}, {3, 4, 5, 6, 7, 8});  // stop 10-1 = 9
  expect_tensor(x.slice(0, 8, 2), {0}, {});               // start > stop: empty
  expect_tensor(x.slice(0, 12, 20), {0}, {});             // start clamped to 10: empty
  expect_tensor(x.slice(0, 5, 5), {0}, {});
  expect_tensor(x.slice(0, -2, -5), {0}, {});
  EXPECT_XLA_ERROR(x.slice(0, 0, 5, 0), Status::InvalidArg, "slice");
  EXPECT_XLA_ERROR(x.slice(0, 5, 0, -1), Status::InvalidArg, "slice");
  EXPECT_XLA_ERROR(x.slice(1, 0, 5), Status::InvalidArg, "slice");
}

TEST(Slice, IsAStridedViewThatWritesThrough) {
  Tensor x = iota({3, 4});               // x[r][c] = 4r + c
  Tensor s = x.slice(-1, 1, 4, 2);       // columns 1 and 3
  EXPECT_TRUE(s.shares_storage(x));
  EXPECT_EQ(s.offset(), 1);
  EXPECT_EQ(s.strides().str(), "[4, 2]");
  expect_tensor(s, {3, 2}, {1, 3, 5, 7, 9, 11});
  s.data<float>()[0] = -1.f;  // element [0][0] of s is x[0][1]
  EXPECT_EQ(x.to_vector()[1], -1.f);

  Tensor ss = iota({10}).slice(0, 1, 9, 2).slice(0, 1, 4, 2);  // [1,3,5,7] -> [3,7]
  EXPECT_EQ(ss.offset(), 3);
  EXPECT_EQ(ss.strides().str(), "[4]");
  expect_tensor(ss, {2}, {3, 7});
  expect_tensor(iota({0, 3}).slice(0, 0, 5), {0, 3}, {});
  expect_tensor(iota({2, 3}).slice(0, 1, 2), {1, 3}, {3, 4, 5});
}

TEST(Select, RemovesTheAxis) {
  Tensor x = iota({2, 3, 4});  // 12a + 4b + c
  Tensor s = x.select(1, 2);   // x[a][2][c] = 12a + 8 + c
  EXPECT_TRUE(s.shares_storage(x));
  expect_tensor(s, {2, 4}, {8, 9, 10, 11, 20, 21, 22, 23});
  expect_tensor(x.select(-1, -1), {2, 3}, {3, 7, 11, 15, 19, 23});  // x[a][b][3]
  expect_tensor(x.select(0, 1).select(0, 0), {4}, {12, 13, 14, 15});
  Tensor e = iota({5}).select(0, 2);
  expect_tensor(e, {}, {2});
  EXPECT_EQ(e.item(), 2.f);
  EXPECT_XLA_ERROR(x.select(1, 3), Status::InvalidArg, "select");
  EXPECT_XLA_ERROR(x.select(1, -4), Status::InvalidArg, "select");
  EXPECT_XLA_ERROR(x.select(3, 0), Status::InvalidArg, "select");
}

TEST(Expand, BroadcastsWithZeroStrides) {
  Tensor row = T({1, 2, 3});
  Tensor e = row.expand({2, 3});
  EXPECT_TRUE(e.shares_storage(row));
  EXPECT_EQ(e.strides().str(), "[0, 1]");
  EXPECT_FALSE(e.is_contiguous());
  expect_tensor(e, {2, 3}, {1, 2, 3, 1, 2, 3});

  Tensor col = T({1, 2, 3}, {3, 1});
  expect_tensor(col.expand({3, 4}), {3, 4}, {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
  expect_tensor(col.expand({-1, 2}), {3, 2}, {1, 1, 2, 2, 3, 3});  // -1 keeps 3
  // New leading dims: [2,1] -> [2,2,3], e[a][i][j] = t[i].
  expect_tensor(T({1, 2}, {2, 1}).expand({2, 2, 3}), {2, 2, 3}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2});
  expect_tensor(Tensor::scalar(7).expand({2, 2}), {2, 2}, {7, 7, 7, 7});
  expect_tensor(T({1, 2, 3}, {1, 3}).expand({0, 3}), {0, 3}, {});
  expect_tensor(e.contiguous(), {2, 3}, {1, 2, 3, 1, 2, 3});
  EXPECT_XLA_ERROR(row.expand({2, 4}), Status::Shape, "expand");
  EXPECT_XLA_ERROR(iota({2, 3}).expand({3}), Status::Shape, "expand");
}

TEST(Squeeze, AllAndOneAxis) {
  Tensor x = iota({1, 3, 1, 2});
  expect_tensor(x.squeeze(), {3, 2}, iota_values(6));
  expect_tensor(x.squeeze(2), {1, 3, 2}, iota_values(6));
  expect_tensor(x.squeeze(-4), {3, 1, 2}, iota_values(6));
  EXPECT_TRUE(x.squeeze().shares_storage(x));
  expect_tensor(iota({1, 1}).squeeze(), {}, {0});
  expect_tensor(iota({0, 1}).squeeze(), {0}, {});
  EXPECT_XLA_ERROR(x.squeeze(4), Status::InvalidArg, "squeeze");
  EXPECT_XLA_ERROR(x.squeeze(1), Status::Shape, "squeeze");  // size 3: NumPy's rule, not torch's no-op
}

TEST(Unsqueeze, InsertsASizeOneAxis) {
  Tensor x = iota({2, 3});
  expect_tensor(x.unsqueeze(0), {1, 2, 3}, iota_values(6));
  expect_tensor(x.unsqueeze(1), {2, 1, 3}, iota_values(6));
  expect_tensor(x.unsqueeze(2), {2, 3, 1}, iota_values(6));
  expect_tensor(x.unsqueeze(-1), {2, 3, 1}, iota_values(6));  // counts from ndim+1, like torch
  expect_tensor(Tensor::scalar(4).unsqueeze(0), {1}, {4});
  EXPECT_TRUE(x.unsqueeze(1).shares_storage(x));
  EXPECT_TRUE(x.unsqueeze(1).is_contiguous());  // a size-1 axis does not break contiguity
  // Unsqueezing a transposed view keeps its element order.
  expect_tensor(x.transpose(0, 1).unsqueeze(0), {1, 3, 2}, {0, 3, 1, 4, 2, 5});
  EXPECT_XLA_ERROR(x.unsqueeze(3), Status::InvalidArg, "unsqueeze");
}

TEST(Contiguous, ReturnsSameStorageWhenAlreadyContiguous) {
  Tensor x = iota({4, 3});
  Tensor c = x.contiguous();
  EXPECT_TRUE(c.shares_storage(x));
  EXPECT_EQ(c.offset(), x.offset());
  Tensor rows = x.slice(0, 1, 3);  // rows 1..2: offset 3, strides [3,1], still contiguous
  EXPECT_TRUE(rows.is_contiguous());
  Tensor rc = rows.contiguous();
  EXPECT_TRUE(rc.shares_storage(x));
  expect_tensor(rc, {2, 3}, {3, 4, 5, 6, 7, 8});
}

TEST(Contiguous, CopiesNonContiguousViews) {
  Tensor x = iota({4, 3});
  Tensor t = x.transpose(0, 1);  // t[i][j] = 3j + i
  Tensor c = t.contiguous();
  EXPECT_FALSE(c.shares_storage(x));
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.strides().str(), "[4, 1]");
  expect_tensor(c, {3, 4}, {0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11});
  Tensor cols = x.slice(1, 0, 3, 2);  // columns 0 and 2
  EXPECT_FALSE(cols.is_contiguous());
  expect_tensor(cols.contiguous(), {4, 2}, {0, 2, 3, 5, 6, 8, 9, 11});
  // bf16 views copy their raw bits unchanged.
  std::vector<uint16_t> b = {0x3f80, 0x4000, 0x4040, 0x4080};  // 1,2,3,4
  Tensor bt = Tensor::from_data(b.data(), {2, 2}, DType::BF16).transpose(0, 1).contiguous();
  EXPECT_EQ(bt.dtype(), DType::BF16);
  EXPECT_EQ(raw<uint16_t>(bt), (std::vector<uint16_t>{0x3f80, 0x4040, 0x4000, 0x4080}));
}

TEST(Clone, AlwaysCopies) {
  Tensor x = iota({2, 3});
  Tensor c = x.clone();
  EXPECT_FALSE(c.shares_storage(x));
  c.data<float>()[0] = 99.f;
  expect_values(x, iota_values(6));  // the original is untouched
  Tensor ct = x.transpose(0, 1).clone();
  EXPECT_TRUE(ct.is_contiguous());
  expect_tensor(ct, {3, 2}, {0, 3, 1, 4, 2, 5});
  expect_tensor(iota({0, 2}).clone(), {0, 2}, {});
}

TEST(AsStrided, ExplicitGeometryWithBoundsCheck) {
  Tensor x = iota({6});
  // element [i][j] = storage[1 + i*1 + j*2]: [[1,3],[2,4]]
  Tensor a = x.as_strided({2, 2}, {1, 2}, 1);
  EXPECT_TRUE(a.shares_storage(x));
  expect_tensor(a, {2, 2}, {1, 3, 2, 4});
  expect_tensor(x.as_strided({3, 2}, {0, 1}, 4), {3, 2}, {4, 5, 4, 5, 4, 5});  // stride 0 repeats
  expect_tensor(x.as_strided({2, 3}, {3, 1}, 0), {2, 3}, iota_values(6));    // last element 5: in bounds
  EXPECT_XLA_ERROR(x.as_strided({2, 3}, {3, 1}, 1), Status::InvalidArg, "as_strided");  // reaches 6
  EXPECT_XLA_ERROR(x.as_strided({7}, {1}, 0), Status::InvalidArg, "as_strided");
  EXPECT_XLA_ERROR(x.as_strided({2}, {1}, -1), Status::InvalidArg, "as_strided");
  EXPECT_XLA_ERROR(x.as_strided({2, 2}, {1}, 0), Status::InvalidArg, "as_strided");  // rank mismatch
}

TEST(SharesStorage, ViewsShareCopiesDoNot) {
  Tensor x = iota({2, 3});
  EXPECT_TRUE(x.shares_storage(x.transpose(0, 1).slice(0, 1, 2).unsqueeze(0)));
  EXPECT_TRUE(x.select(0, 1).shares_storage(x.expand({2, 2, 3})));
  EXPECT_FALSE(x.shares_storage(x.clone()));
  EXPECT_FALSE(x.shares_storage(iota({2, 3})));
}

TEST(Threads, SetAndGet) {
  ThreadCount guard(2);
  EXPECT_EQ(xla::num_threads(), 2);
  xla::set_num_threads(1);
  EXPECT_EQ(xla::num_threads(), 1);
  xla::set_num_threads(0);  // all cores
  EXPECT_GE(xla::num_threads(), 1);
}
