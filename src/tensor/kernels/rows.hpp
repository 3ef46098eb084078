// rows.hpp — the row kernels of the reductions and the softmax family, one definition for
// the eager ops (src/tensor/reduce.cpp) and the compiler's fused loops (src/compile).
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "parallel.hpp"
#include "row_transforms.hpp"

namespace xla::detail {

// Sum of a row, the same bits wherever the row sits in memory: Eigen's own reductions
// start their vector lanes at the first aligned address, so their rounding would depend on
// the allocation (we saw forward passes differ in the 7th digit). Here element i always goes
// to lane i mod 16; 4096-element blocks are then added in f64, which also keeps long rows
// accurate (10⁶ × 0.1f sums to 100000, where one f32 accumulator drifts by ~0.1%).
inline float lane_sum(const float* p, int64_t n) {
  constexpr int64_t kLanes = 16, kBlock = 4096;
  double total = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    float acc[kLanes] = {};
    int64_t i = b;
    for (; i + kLanes <= e; i += kLanes)
      for (int64_t j = 0; j < kLanes; ++j) acc[j] += p[i + j];
    for (; i < e; ++i) acc[i % kLanes] += p[i];
    for (int64_t w = kLanes / 2; w > 0; w /= 2)  // pairwise across lanes
      for (int64_t j = 0; j < w; ++j) acc[j] += acc[j + w];
    total += acc[0];
  }
  return float(total);
}

using ConstRow = Eigen::Map<const Eigen::ArrayXf>;
using MutRow = Eigen::Map<Eigen::ArrayXf>;

// NaN when the row holds one (Eigen's maxCoeff would skip it).
inline float row_max(ConstRow r) { return r.hasNaN() ? NAN : r.maxCoeff(); }
inline float row_min(ConstRow r) { return r.hasNaN() ? NAN : r.minCoeff(); }

inline float row_logsumexp(ConstRow r) {
  if (r.size() == 0) return -INFINITY;
  float m = r.maxCoeff();
  if (std::isinf(m)) return m;  // all -inf (or a +inf present)
  thread_local std::vector<float> scratch;
  scratch.resize(size_t(r.size()));
  exp_shifted(r.data(), m, scratch.data(), r.size());
  return m + std::log(lane_sum(scratch.data(), r.size()));
}

inline void softmax_row(ConstRow r, MutRow o) {
  float m = r.maxCoeff();
  if (std::isinf(m) && m < 0) {
    o = NAN;
    return;
  }  // every entry -inf: 0/0, as PyTorch
  exp_shifted(r.data(), m, o.data(), r.size());
  o *= 1.f / lane_sum(o.data(), o.size());
}

inline void log_softmax_row(ConstRow r, MutRow o) { o = r - row_logsumexp(r); }

// row_fn(row i of src, row i of dst) for the `outer` packed rows of `inner` floats, in
// parallel when large: log_softmax and softmax's long rows, eager and replayed.
template <typename F>
void for_each_row(const float* src, float* dst, int64_t outer, int64_t inner, F&& row_fn) {
  parallel_for(outer, std::max<int64_t>(1, kHeavyElementGrain / std::max<int64_t>(inner, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t i = b; i < e; ++i)
                   row_fn(ConstRow(src + i * inner, inner), MutRow(dst + i * inner, inner));
               });
}

// softmax_row over `outer` packed rows of `inner` floats, with its bits. Short rows
// (attention's over a dozen keys) share one call of the vector exp per group of rows: one
// call per row cost more than its arithmetic. dst may be src.
inline void softmax_rows(const float* src, float* dst, int64_t outer, int64_t inner) {
  constexpr int64_t kGroupFloats = 2048;
  if (outer == 0) return;  // (inner may then be any size: a zero-size tensor allocates nothing)
  if (inner > kGroupFloats / 4) return for_each_row(src, dst, outer, inner, softmax_row);
  const int64_t group = kGroupFloats / std::max<int64_t>(inner, 1);
  parallel_for(outer, std::max<int64_t>(1, kHeavyElementGrain / std::max<int64_t>(inner, 1)),
               [&](int64_t b, int64_t e) {
                 float maxima[kGroupFloats];
                 for (int64_t r0 = b; r0 < e; r0 += group) {
                   const int64_t r1 = std::min(e, r0 + group);
                   for (int64_t r = r0; r < r1; ++r) {
                     const float m = ConstRow(src + r * inner, inner).maxCoeff();
                     maxima[r - r0] = m;
                     for (int64_t j = 0; j < inner; ++j) dst[r * inner + j] = src[r * inner + j] - m;
                   }
                   cpu_kernels().exp_f32(dst + r0 * inner, dst + r0 * inner, (r1 - r0) * inner);
                   for (int64_t r = r0; r < r1; ++r) {
                     MutRow o(dst + r * inner, inner);
                     if (std::isinf(maxima[r - r0]) && maxima[r - r0] < 0)
                       o = NAN;  // every entry −∞: 0/0, as PyTorch
                     else
                       o *= 1.f / lane_sum(o.data(), inner);
                   }
                 }
               });
}

}  // namespace xla::detail
