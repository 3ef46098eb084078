// blocked.hpp — runs an Eigen array expression over a buffer in aligned blocks.
// Why: Eigen computes the elements before the destination's first aligned address (and
// after its last full packet) with scalar code, whose exp/tanh/log differ from the vector
// code in the last bit. A result would then depend on where the allocator put the buffer
// and on the thread split. Copying each block into an aligned scratch whose size is a
// multiple of the widest packet sends every element down the same vector path.
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace xla::detail {

using AlignedIn = Eigen::Map<const Eigen::ArrayXf, Eigen::Aligned64>;
using AlignedOut = Eigen::Map<Eigen::ArrayXf, Eigen::Aligned64>;

// out[i] = fn-expression of in[i] for i < n; fn(AlignedIn a, AlignedOut o) assigns o.
template <typename F>
void apply_blocked(const float* in, float* out, int64_t n, F&& fn) {
  constexpr int64_t kBlock = 512, kPacket = 16;
  alignas(64) float a[kBlock];
  alignas(64) float o[kBlock];
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t m = std::min(kBlock, n - i), padded = (m + kPacket - 1) / kPacket * kPacket;
    std::memcpy(a, in + i, size_t(m) * sizeof(float));
    std::fill(a + m, a + padded, 0.f);
    fn(AlignedIn(a, padded), AlignedOut(o, padded));
    std::memcpy(out + i, o, size_t(m) * sizeof(float));
  }
}

}  // namespace xla::detail
