// dtype.hpp — element types and the exact f32 <-> bf16/f16 conversions.
// f32 is the compute type: bf16 and f16 are storage formats, widened to f32 exactly and
// narrowed with round-to-nearest-even (NaN stays NaN, overflow goes to infinity).
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>

namespace xla {

// Numbers match XLA_F32 … XLA_Q8 of the C API.
// Q8 is a weight format, not an element type of arithmetic: int8 values in blocks of 32
// consecutive elements, each block with an f16 scale (value = scale · q, |q| <= 127). A Q8
// tensor is made by quantize_q8() (to(DType::Q8)); it is read by matmul (as the weight),
// embedding and to(): every other op refuses it.
enum class DType : int32_t { F32 = 0, BF16 = 1, F16 = 2, I32 = 3, I64 = 4, U8 = 5, Q8 = 6 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: case DType::I32: return 4;
    case DType::BF16: case DType::F16: return 2;
    case DType::I64: return 8;
    case DType::U8: case DType::Q8: return 1;  // Q8: the int8 values (the scales are kept beside them)
  }
  return 0;
}
constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::F16: return "f16";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
    case DType::U8: return "u8";
    case DType::Q8: return "q8";
  }
  return "?";
}
// The element types a caller can make tensors of (Q8 only comes from quantize_q8()).
constexpr bool dtype_valid(int32_t t) { return t >= 0 && t <= 5; }
constexpr bool is_floating(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

// ---- bf16: the top half of an f32 ----
inline float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return uint16_t(u >> 16);
}

// ---- f16 (IEEE binary16), subnormals included ----
inline float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  uint32_t u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    u = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    u = sign;
  } else {  // subnormal: renormalise
    int e = -1;
    do { man <<= 1; ++e; } while (!(man & 0x400u));
    u = sign | uint32_t(112 - e) << 23 | ((man & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(u);
}
inline uint16_t f32_to_f16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (a < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    if (a < 0x33000000u) return sign;  // < half of the smallest subnormal (ties handled below)
    uint32_t man = (a & 0x7fffffu) | 0x800000u;
    int shift = 126 - int(a >> 23);  // 14..24 (exponent offset for 2^-24 units)
    uint32_t q = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return uint16_t(sign | q);
  }
  uint32_t r = a - 0x38000000u;  // rebias exponent 127 -> 15
  r += 0xfffu + ((r >> 13) & 1u);
  return uint16_t(sign | (r >> 13));
}

}  // namespace xla
