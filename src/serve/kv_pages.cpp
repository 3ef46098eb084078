// kv_pages.cpp — writing keys and values into blocks, and paged attention: one query row
// (token, head) at a time against its own sequence's keys in position order, so a row's
// result never depends on what else the step holds (batch-invariant by construction).
#include "kv_pages.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "parallel.hpp"
#include "row_transforms.hpp"
#include "xla/error.hpp"

namespace xla::serve {

KVPages::KVPages(int64_t blocks, int64_t layers, int64_t kv_heads, int64_t block_tokens, int64_t head_dim, DType dtype)
    : blocks_(blocks), layers_(layers), kv_heads_(kv_heads), block_tokens_(block_tokens), head_dim_(head_dim), dtype_(dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    fail(Status::DType, std::string("KV cache entries are f32 or bf16, not ") + dtype_name(dtype));
  const size_t n = size_t(blocks * layers * kv_heads * block_tokens * head_dim);
  if (n == 0) return;
  try {  // new T[n] leaves the pages untouched: the OS maps them as blocks are first written
    if (dtype == DType::F32) {
      k32_.reset(new float[n]);
      v32_.reset(new float[n]);
    } else {
      k16_.reset(new uint16_t[n]);
      v16_.reset(new uint16_t[n]);
    }
  } catch (const std::bad_alloc&) {
    fail(Status::OOM, "KV cache: cannot reserve " + std::to_string(2 * n * dtype_size(dtype)) + " bytes");
  }
}

size_t KVPages::nbytes() const {
  return 2 * size_t(blocks_ * layers_ * kv_heads_ * block_tokens_ * head_dim_) * dtype_size(dtype_);
}

void KVPages::write(int64_t layer, const Tokens& t, const float* k, const float* v) {
  const int64_t D = head_dim_, bs = block_tokens_;
  for (int64_t h = 0; h < kv_heads_; ++h)
    for (int64_t i = 0; i < t.n; ++i) {
      const int64_t p = t.pos[i], block = t.tables[i][p / bs];
      const int64_t at = offset(layer, block, h, p % bs);
      const float* ks = k + (h * t.n + i) * D;
      const float* vs = v + (h * t.n + i) * D;
      if (dtype_ == DType::F32) {
        std::copy(ks, ks + D, k32_.get() + at);
        std::copy(vs, vs + D, v32_.get() + at);
      } else {
        for (int64_t d = 0; d < D; ++d) {
          k16_[size_t(at + d)] = f32_to_bf16(ks[d]);
          v16_[size_t(at + d)] = f32_to_bf16(vs[d]);
        }
      }
    }
}

static inline float widen(float x) { return x; }
static inline float widen(uint16_t x) { return bf16_to_f32(x); }

// Σ a[d]·b[d], element d in lane d mod 8 (vectorises without reassociating: fixed order)
template <typename E>
static inline float dot(const float* a, const E* b, int64_t n) {
  constexpr int64_t L = 8;
  float acc[L] = {};
  int64_t d = 0;
  for (; d + L <= n; d += L)
    for (int64_t j = 0; j < L; ++j) acc[j] += a[d + j] * widen(b[d + j]);
  for (; d < n; ++d) acc[d % L] += a[d] * widen(b[d]);
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

template <typename E>
void KVPages::attend_as(const E* K, const E* V, int64_t layer, const Tokens& t, const float* q, int64_t heads,
                        int64_t window, float scale, float softcap, float* out) const {
  const int64_t D = head_dim_, bs = block_tokens_, KVH = kv_heads_, G = heads / KVH, n = t.n;
  int64_t work = 0;  // multiply-adds, to decide whether threads pay
  for (int64_t i = 0; i < n; ++i) work += (window > 0 ? std::min(window, t.pos[i] + 1) : t.pos[i] + 1) * 2 * D * heads;
  // one item per (token, query head): a single decoding token still spreads over the cores
  const int64_t items = n * heads, grain = std::max<int64_t>(1, items / std::max<int64_t>(1, work / (1 << 16)));
  detail::parallel_for(items, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> sc;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t i = item / heads, h = item % heads, g = h / G, p = t.pos[i];
      const int64_t lo = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0, S = p - lo + 1;
      const int32_t* table = t.tables[i];
      const float* qh = q + (h * n + i) * D;
      sc.resize(size_t(S));
      for (int64_t s = 0; s < S; ++s) {
        const int64_t pos = lo + s;
        sc[size_t(s)] = dot(qh, K + offset(layer, table[pos / bs], g, pos % bs), D) * scale;
      }
      // the soft-cap and the softmax's exp through the kernels' vector tanh and exp, as a
      // session's attention computes them
      if (softcap > 0) detail::soft_cap(sc.data(), S, softcap);
      const float mx = *std::max_element(sc.begin(), sc.end());
      detail::exp_shifted(sc.data(), mx, sc.data(), S);
      float sum = 0.f;
      for (float x : sc) sum += x;
      const float inv = 1.f / sum;
      float* o = out + (h * n + i) * D;
      std::fill(o, o + D, 0.f);
      for (int64_t s = 0; s < S; ++s) {
        const int64_t pos = lo + s;
        const E* v = V + offset(layer, table[pos / bs], g, pos % bs);
        const float w = sc[size_t(s)] * inv;
        for (int64_t d = 0; d < D; ++d) o[d] += w * widen(v[d]);
      }
    }
  });
}

void KVPages::attend(int64_t layer, const Tokens& t, const float* q, int64_t heads, int64_t window, float scale,
                     float softcap, float* out) const {
  if (dtype_ == DType::F32)
    attend_as(k32_.get(), v32_.get(), layer, t, q, heads, window, scale, softcap, out);
  else
    attend_as(k16_.get(), v16_.get(), layer, t, q, heads, window, scale, softcap, out);
}

}  // namespace xla::serve
