// strided.hpp — walking several tensors of one (broadcast) shape in row-major order.
// The walk hands out "runs": stretches along the innermost dimension with fixed strides,
// so kernels keep a tight inner loop that the compiler vectorises. Dimensions that are
// contiguous for every operand are merged first, so a packed tensor is one long run.
#pragma once
#include <array>
#include <cstdint>

#include "parallel.hpp"
#include "xla/shape.hpp"

namespace xla::detail {

template <int K>
struct Walk {
  int nd = 0;
  int64_t shape[kMaxDims];
  int64_t stride[K][kMaxDims];  // in elements, per operand

  // `strides[k]` must have shape.size() entries (0 where operand k is broadcast).
  Walk(const Shape& s, const std::array<Dims, K>& strides) {
    // drop size-1 dims, then merge neighbours that are contiguous for every operand
    for (int i = 0; i < s.size(); ++i) {
      if (s[i] == 1) continue;
      if (nd > 0) {
        bool merge = true;
        for (int k = 0; k < K; ++k) merge &= stride[k][nd - 1] == strides[k][i] * s[i];
        if (merge) {
          shape[nd - 1] *= s[i];
          for (int k = 0; k < K; ++k) stride[k][nd - 1] = strides[k][i];
          continue;
        }
      }
      shape[nd] = s[i];
      for (int k = 0; k < K; ++k) stride[k][nd] = strides[k][i];
      ++nd;
    }
    if (nd == 0) {  // a scalar (or all size-1) is one run of one element
      nd = 1;
      shape[0] = 1;
      for (int k = 0; k < K; ++k) stride[k][0] = 0;
    }
  }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < nd; ++i) n *= shape[i];
    return n;
  }
  int64_t inner_stride(int k) const { return stride[k][nd - 1]; }

  // Calls run(off, n) for the flat range [begin, end): off[k] is operand k's element offset
  // of the run's first element; the run continues with inner_stride(k).
  template <typename F>
  void runs(int64_t begin, int64_t end, F&& run) const {
    if (begin >= end) return;
    int64_t idx[kMaxDims];
    int64_t off[K] = {};
    int64_t rem = begin;
    for (int d = nd - 1; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
      for (int k = 0; k < K; ++k) off[k] += idx[d] * stride[k][d];
    }
    int64_t pos = begin;
    const int last = nd - 1;
    while (pos < end) {
      int64_t n = std::min(shape[last] - idx[last], end - pos);
      run(off, n);
      pos += n;
      for (int k = 0; k < K; ++k) off[k] += n * stride[k][last];
      idx[last] += n;
      for (int d = last; d > 0 && idx[d] == shape[d]; --d) {  // carry
        for (int k = 0; k < K; ++k) off[k] += stride[k][d - 1] - shape[d] * stride[k][d];
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  }

  // Runs over everything, split across threads in flat ranges when large.
  template <typename F>
  void parallel_runs(F&& run, int64_t grain = kElementwiseGrain) const {
    parallel_for(numel(), grain, [&](int64_t b, int64_t e) { runs(b, e, run); });
  }
};

}  // namespace xla::detail
