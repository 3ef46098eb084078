// avx512_emulation.hpp — scalar stand-ins for the AVX-512 (F, BW, BF16) intrinsics the SIMD
// kernels use, so that the AVX-512 and AVX512-BF16 code paths (their loops, packing, masks
// and the pairing of bf16 products) run and are checked on any CPU. Included by
// isa_kernels.inc when a test defines XLA_EMULATE_AVX512BF16; lives in the kernels' own
// namespace, so it never meets the real <immintrin.h>. Semantics from Intel's
// pseudo-code; vdpbf16ps's denormal flushing is not modelled (the tests use normal numbers).
#pragma once
#include <cstdint>
#include <cstring>

namespace xla::detail::XLA_ISA {

struct __m512 {
  float f[16];
};
struct __m512i {
  uint8_t b[64];
};
struct __m256 {
  float f[8];
};
struct __m256i {
  uint8_t b[32];
};
struct __m128i {
  uint8_t b[16];
};
struct __m512bh {  // 32 bf16 values
  uint16_t h[32];
  explicit __m512bh(const __m512i& v) { std::memcpy(h, v.b, 64); }
};
using __mmask32 = uint32_t;
constexpr int _MM_HINT_T0 = 3;

inline __m512 _mm512_setzero_ps() { return __m512{}; }
inline __m512 _mm512_set1_ps(float x) {
  __m512 v;
  for (float& f : v.f) f = x;
  return v;
}
inline __m512 _mm512_loadu_ps(const float* p) {
  __m512 v;
  std::memcpy(v.f, p, 64);
  return v;
}
inline void _mm512_storeu_ps(float* p, __m512 v) { std::memcpy(p, v.f, 64); }
inline __m512 _mm512_fmadd_ps(__m512 a, __m512 b, __m512 c) {
  for (int i = 0; i < 16; ++i) c.f[i] = __builtin_fmaf(a.f[i], b.f[i], c.f[i]);
  return c;
}
inline __m512 _mm512_mul_ps(__m512 a, __m512 b) {
  for (int i = 0; i < 16; ++i) a.f[i] *= b.f[i];
  return a;
}
inline __m512 _mm512_add_ps(__m512 a, __m512 b) {
  for (int i = 0; i < 16; ++i) a.f[i] += b.f[i];
  return a;
}
inline __m512 _mm512_sub_ps(__m512 a, __m512 b) {
  for (int i = 0; i < 16; ++i) a.f[i] -= b.f[i];
  return a;
}
inline __m512 _mm512_div_ps(__m512 a, __m512 b) {
  for (int i = 0; i < 16; ++i) a.f[i] /= b.f[i];
  return a;
}
inline void _mm512_stream_ps(float* p, __m512 v) { std::memcpy(p, v.f, 64); }
inline void _mm_sfence() {}
inline __m256i _mm256_loadu_si256(const __m256i* p) {
  __m256i v;
  std::memcpy(v.b, p, 32);
  return v;
}
inline __m128i _mm_loadu_si128(const __m128i* p) {
  __m128i v;
  std::memcpy(v.b, p, 16);
  return v;
}
inline __m512i _mm512_loadu_si512(const void* p) {
  __m512i v;
  std::memcpy(v.b, p, 64);
  return v;
}
// Element i of v, read or written as a T (16 or 32 bits).
template <typename T>
T element(const __m512i& v, int i) {
  T x;
  std::memcpy(&x, v.b + sizeof(T) * i, sizeof(T));
  return x;
}
template <typename T>
void set_element(__m512i& v, int i, T x) {
  std::memcpy(v.b + sizeof(T) * i, &x, sizeof(T));
}
inline __m512i _mm512_cvtepu16_epi32(__m256i a) {  // zero-extend 16 u16
  __m512i v;
  for (int i = 0; i < 16; ++i) set_element(v, i, uint32_t(a.b[2 * i]) | uint32_t(a.b[2 * i + 1]) << 8);
  return v;
}
inline __m512i _mm512_cvtepi8_epi32(__m128i a) {  // sign-extend 16 i8
  __m512i v;
  for (int i = 0; i < 16; ++i) set_element(v, i, uint32_t(int32_t(int8_t(a.b[i]))));
  return v;
}
inline __m512i _mm512_cvtepi8_epi16(__m256i a) {  // sign-extend 32 i8
  __m512i v;
  for (int i = 0; i < 32; ++i) set_element(v, i, int16_t(int8_t(a.b[i])));
  return v;
}
inline __m512i _mm512_madd_epi16(__m512i a, __m512i b) {  // lane i: a[2i]·b[2i] + a[2i+1]·b[2i+1]
  __m512i v;
  for (int i = 0; i < 16; ++i)
    set_element(v, i,
                uint32_t(int32_t(element<int16_t>(a, 2 * i)) * element<int16_t>(b, 2 * i) +
                         int32_t(element<int16_t>(a, 2 * i + 1)) * element<int16_t>(b, 2 * i + 1)));
  return v;
}
inline __m512i _mm512_slli_epi32(__m512i a, int n) {
  for (int i = 0; i < 16; ++i) set_element(a, i, element<uint32_t>(a, i) << n);
  return a;
}
inline __m512i _mm512_set1_epi32(int x) {
  __m512i v;
  for (int i = 0; i < 16; ++i) set_element(v, i, uint32_t(x));
  return v;
}
inline __m512i _mm512_castps_si512(__m512 a) {
  __m512i v;
  std::memcpy(v.b, a.f, 64);
  return v;
}
inline __m512i _mm512_add_epi32(__m512i a, __m512i b) {
  for (int i = 0; i < 16; ++i) set_element(a, i, element<uint32_t>(a, i) + element<uint32_t>(b, i));
  return a;
}
inline __m512 _mm512_max_ps(__m512 a, __m512 b) {  // b where either is NaN, as vmaxps
  for (int i = 0; i < 16; ++i) a.f[i] = a.f[i] > b.f[i] ? a.f[i] : b.f[i];
  return a;
}
inline __m512 _mm512_min_ps(__m512 a, __m512 b) {
  for (int i = 0; i < 16; ++i) a.f[i] = a.f[i] < b.f[i] ? a.f[i] : b.f[i];
  return a;
}
inline __m512 _mm512_castsi512_ps(__m512i a) {
  __m512 v;
  std::memcpy(v.f, a.b, 64);
  return v;
}
inline __m512 _mm512_cvtepi32_ps(__m512i a) {
  __m512 v;
  for (int i = 0; i < 16; ++i) v.f[i] = float(int32_t(element<uint32_t>(a, i)));
  return v;
}
inline __m512i _mm512_maskz_loadu_epi16(__mmask32 k, const void* p) {  // lanes not in k read nothing
  __m512i v{};
  const uint8_t* s = static_cast<const uint8_t*>(p);
  for (int i = 0; i < 32; ++i)
    if (k >> i & 1u) std::memcpy(v.b + 2 * i, s + 2 * i, 2);
  return v;
}
inline float bf16_lane(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// sixteen f16 values (IEEE binary16) widened to f32: exact, subnormals and NaN included
inline __m512 _mm512_cvtph_ps(__m256i a) {
  __m512 v;
  for (int i = 0; i < 16; ++i) {
    uint16_t h;
    std::memcpy(&h, a.b + 2 * i, 2);
    const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    const float magnitude = e == 0x1f ? (m ? __builtin_nanf("") : __builtin_inff())
                            : e == 0  ? __builtin_ldexpf(float(m), -24)
                                      : __builtin_ldexpf(float(m | 0x400), e - 25);
    v.f[i] = h & 0x8000 ? -magnitude : magnitude;
  }
  return v;
}
// lane i += a[2i+1]·b[2i+1], then += a[2i]·b[2i]: each product exact in f32, each sum rounded
inline __m512 _mm512_dpbf16_ps(__m512 c, __m512bh a, __m512bh b) {
  for (int i = 0; i < 16; ++i) {
    c.f[i] += bf16_lane(a.h[2 * i + 1]) * bf16_lane(b.h[2 * i + 1]);
    c.f[i] += bf16_lane(a.h[2 * i]) * bf16_lane(b.h[2 * i]);
  }
  return c;
}
inline void _mm_prefetch(const char*, int) {}

// The AVX (256-bit) shuffles of the 8 × 8 transpose; "lane" below is a 128-bit half.
inline __m256 _mm256_setzero_ps() { return __m256{}; }
inline __m256 _mm256_loadu_ps(const float* p) {
  __m256 v;
  std::memcpy(v.f, p, 32);
  return v;
}
inline void _mm256_storeu_ps(float* p, __m256 v) { std::memcpy(p, v.f, 32); }
inline __m256 _mm256_unpacklo_ps(__m256 a, __m256 b) {  // per lane: a0 b0 a1 b1
  __m256 v;
  for (int h = 0; h < 8; h += 4)
    for (int i = 0; i < 2; ++i) v.f[h + 2 * i] = a.f[h + i], v.f[h + 2 * i + 1] = b.f[h + i];
  return v;
}
inline __m256 _mm256_unpackhi_ps(__m256 a, __m256 b) {  // per lane: a2 b2 a3 b3
  __m256 v;
  for (int h = 0; h < 8; h += 4)
    for (int i = 0; i < 2; ++i) v.f[h + 2 * i] = a.f[h + 2 + i], v.f[h + 2 * i + 1] = b.f[h + 2 + i];
  return v;
}
inline __m256 _mm256_shuffle_ps(__m256 a, __m256 b, int imm) {  // per lane: a[imm0] a[imm1] b[imm2] b[imm3]
  __m256 v;
  for (int h = 0; h < 8; h += 4) {
    v.f[h] = a.f[h + (imm & 3)];
    v.f[h + 1] = a.f[h + (imm >> 2 & 3)];
    v.f[h + 2] = b.f[h + (imm >> 4 & 3)];
    v.f[h + 3] = b.f[h + (imm >> 6 & 3)];
  }
  return v;
}
inline __m256 _mm256_permute2f128_ps(__m256 a, __m256 b, int imm) {  // each half: one of a's, b's, or zero
  __m256 v;
  for (int h = 0; h < 2; ++h) {
    const int sel = imm >> (4 * h);
    const float* from = (sel & 2 ? b.f : a.f) + (sel & 1) * 4;
    for (int i = 0; i < 4; ++i) v.f[4 * h + i] = sel & 8 ? 0.f : from[i];
  }
  return v;
}

// RMSNorm's sums: eight f32 widened to f64 lanes, multiplied and added one by one.
struct __m512d {
  double d[8];
};
inline __m256 _mm256_set1_ps(float x) {
  __m256 v;
  for (float& f : v.f) f = x;
  return v;
}
inline __m256 _mm256_add_ps(__m256 a, __m256 b) {
  for (int i = 0; i < 8; ++i) a.f[i] += b.f[i];
  return a;
}
inline __m512d _mm512_setzero_pd() { return __m512d{}; }
inline __m512d _mm512_cvtps_pd(__m256 a) {
  __m512d v;
  for (int i = 0; i < 8; ++i) v.d[i] = double(a.f[i]);
  return v;
}
inline __m512d _mm512_mul_pd(__m512d a, __m512d b) {
  for (int i = 0; i < 8; ++i) a.d[i] *= b.d[i];
  return a;
}
inline __m512d _mm512_add_pd(__m512d a, __m512d b) {
  for (int i = 0; i < 8; ++i) a.d[i] += b.d[i];
  return a;
}
inline void _mm512_store_pd(double* p, __m512d v) { std::memcpy(p, v.d, 64); }

}  // namespace xla::detail::XLA_ISA
