// attention.cpp — RoPE and grouped-query attention with causal / sliding-window masks.
#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu_kernels.hpp"     // src/tensor/kernels
#include "op_trace.hpp"        // src/tensor/kernels
#include "parallel.hpp"        // src/tensor/kernels
#include "row_transforms.hpp"  // src/tensor/kernels
#include "rows.hpp"            // src/tensor/kernels
#include "xla/autograd.hpp"
#include "xla/nn.hpp"

namespace xla::nn {

// cos and sin [T, head_dim] of the positions, into given tensors.
static void rope_tables_into(const Tensor& positions, int64_t head_dim, double base, double scaling, Tensor& cos,
                             Tensor& sin) {
  const int64_t T = positions.numel(), half = head_dim / 2;
  std::vector<int64_t> pos(static_cast<size_t>(T));
  (positions.dtype() == DType::I64 ? positions : positions.to(DType::I64)).copy_to(pos.data());
  // inverse frequencies and angles in f32, as the reference computes them
  std::vector<float> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv[size_t(i)] = 1.f / std::pow(float(base), float(2 * i) / float(head_dim));
  float* pc = cos.data<float>();
  float* ps = sin.data<float>();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < half; ++i) {
      float angle = (float(pos[size_t(t)]) / float(scaling)) * inv[size_t(i)];
      pc[t * head_dim + i] = pc[t * head_dim + i + half] = std::cos(angle);
      ps[t * head_dim + i] = ps[t * head_dim + i + half] = std::sin(angle);
    }
}

RopeTables rope_tables(const Tensor& positions, int64_t head_dim, double base, double scaling) {
  if (positions.ndim() != 1) fail(Status::Shape, "rope: positions must be 1-D, got " + positions.shape().str());
  if (head_dim <= 0 || head_dim % 2) fail(Status::InvalidArg, "rope: head_dim must be even, got " + std::to_string(head_dim));
  auto tables_of = [head_dim](const std::vector<Tensor>& v) {
    const int64_t T = v[0].numel();
    return std::vector<Tensor>{Tensor::empty({T, head_dim}), Tensor::empty({T, head_dim})};
  };
  auto into = [=](const std::vector<Tensor>& v, std::vector<Tensor>& out) {
    rope_tables_into(v[0], head_dim, base, scaling, out[0], out[1]);
  };
  // a capture replays the tables from the positions of each run (op_trace.hpp)
  std::vector<Tensor> t = detail::traced_into("rope_tables", {positions}, into, tables_of);
  return {t[0], t[1]};
}

Tensor attention_mask(const Tensor& q_pos, const Tensor& k_pos, int64_t window) {
  Tensor q = q_pos.to(DType::I64).unsqueeze(1), k = k_pos.to(DType::I64).unsqueeze(0);  // [T, 1], [1, S]
  Tensor allowed = le(k, q);
  if (window > 0) {
    // q - k < window  ⇔  k > q - window
    Tensor lo = sub(q, full({}, double(window), DType::I64));  // f32 result: positions stay exact below 2^24
    allowed = mul(allowed, gt(k, lo));
  }
  return allowed.to(DType::U8);
}

// t itself when it already is packed `dtype`, else a packed copy.
static Tensor packed_as(const Tensor& t, DType dtype) {
  return t.dtype() == dtype && t.is_contiguous() ? t : t.to(dtype).contiguous();
}

// softmax(where(mask, softcap(scores · scale), −∞)) over the last axis in one pass over each
// row, for in = {scores [B, KVH, G·T, S], allowed u8 [T, S]} (row g·T + t reads mask row t),
// into out = {probs}. Each step is the unfused op's own arithmetic (the product by a float
// factor, soft_cap, softmax_row), so the bits are theirs.
static void masked_softmax_into(const std::vector<Tensor>& in, float scale, float softcap_value,
                                std::vector<Tensor>& out) {
  const Tensor scores = packed_as(in[0], DType::F32), mask = packed_as(in[1], DType::U8);
  const int64_t T = mask.shape()[0], S = mask.shape()[1], rows = S ? scores.numel() / S : 0;
  const float* src = scores.data<float>();
  const uint8_t* allowed = mask.data<uint8_t>();
  float* dst = out[0].data<float>();
  detail::parallel_for(rows, std::max<int64_t>(1, detail::kHeavyElementGrain / std::max<int64_t>(S, 1)),
                       [=](int64_t r0, int64_t r1) {
                         for (int64_t r = r0; r < r1; ++r) {
                           const float* s = src + r * S;
                           const uint8_t* m = allowed + (r % T) * S;
                           float* o = dst + r * S;
                           for (int64_t j = 0; j < S; ++j) o[j] = s[j] * scale;
                           if (softcap_value > 0) detail::soft_cap(o, S, softcap_value);
                           for (int64_t j = 0; j < S; ++j) o[j] = m[j] ? o[j] : -INFINITY;
                           detail::softmax_row(detail::ConstRow(o, S), detail::MutRow(o, S));
                         }
                       });
}

static Tensor masked_softmax(const Tensor& scores, const Tensor& allowed, float scale, float softcap_value) {
  auto into = [=](const std::vector<Tensor>& in, std::vector<Tensor>& out) {
    masked_softmax_into(in, scale, softcap_value, out);
  };
  // the mask packed before the kernel (a block of queries sees a strided view of it), so
  // that a capture plans the copy (op_trace.hpp)
  return detail::traced_into("masked_softmax", {scores, packed_as(allowed, DType::U8)}, into,
                             detail::one_like_first)[0];
}

// Scores → probabilities → output for one block of queries against keys [k0, k1).
static Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& allowed, float scale,
                     float softcap_value) {
  const int64_t B = q.shape()[0], H = q.shape()[1], T = q.shape()[2], D = q.shape()[3];
  const int64_t KVH = k.shape()[1], S = k.shape()[2], G = H / KVH;
  // [B, H, T, D] → [B, KVH, G·T, D]: the G query heads of one kv head side by side
  Tensor qg = ag::reshape(q, {B, KVH, G * T, D});
  Tensor scores = ag::matmul(qg, ag::transpose(k, -1, -2));  // [B, KVH, G·T, S]
  if (!(is_grad_enabled() && (requires_grad(q) || requires_grad(k) || requires_grad(v)))) {
    // nothing to record: scale, cap, mask and softmax in one pass (a prefill's scores are
    // its largest tensor)
    Tensor out = matmul(masked_softmax(scores, allowed, scale, softcap_value), v);
    return out.reshape({B, H, T, D});
  }
  scores = ag::mul(scores, Tensor::scalar(scale));
  if (softcap_value > 0) scores = softcap(scores, softcap_value);
  // mask [T, S] repeated over the G heads: [G·T, S]
  // (one query: [1, S] broadcasts over the G rows as it is)
  Tensor mask = G == 1 || T == 1 ? allowed : allowed.unsqueeze(0).expand({G, T, S}).reshape({G * T, S});
  scores = ag::where(mask, scores, Tensor::scalar(-INFINITY));
  Tensor probs = ag::softmax(scores, -1);
  Tensor out = ag::matmul(probs, v);  // [B, KVH, G·T, D]
  return ag::reshape(out, {B, H, T, D});
}

// One query position against the cache (a decode step), in = {q [B, H, 1, D], k, v
// [B, KVH, S, D], allowed u8 [1, S]}, each with D contiguous, into out = {[B, H, 1, D]}.
// Scores, softmax and the weighted sum of values take one pass over the keys and values,
// which is all the memory a step's attention touches: the positions from the first to the
// last one the mask allows go in fixed blocks of kKeysPerBlock, shared by the cores. Each
// block keeps its own maximum and sum, and the blocks are combined in order afterwards (the
// flash-decoding split), so the bits do not depend on the number of threads. Positions
// outside that range are never read: a compiled step's span, rounded up to a power of two,
// costs nothing beyond the keys it may see.
constexpr int64_t kKeysPerBlock = 32;

// max(m, x), where a NaN, once met, stays: a block of keys whose scores are all NaN must
// spread NaN, not pass for a block with no weight.
static inline float max_keeping_nan(float m, float x) { return x > m || x != x ? x : m; }

static void attend_one_query_into(const std::vector<Tensor>& in, float scale, float softcap_value,
                                  std::vector<Tensor>& out) {
  const Tensor &q = in[0], &k = in[1], &v = in[2];
  const Tensor mask = packed_as(in[3], DType::U8);
  const int64_t B = q.shape()[0], H = q.shape()[1], D = q.shape()[3];
  const int64_t KVH = k.shape()[1], S = k.shape()[2], G = H / KVH;
  float* o = out[0].data<float>();
  const uint8_t* allowed = mask.data<uint8_t>();
  int64_t k0 = 0, k1 = S;
  while (k0 < S && !allowed[k0]) ++k0;
  while (k1 > k0 && !allowed[k1 - 1]) --k1;
  if (k0 == k1) {  // nothing visible: softmax over nothing but −∞, NaN as the unfused ops give
    std::fill(o, o + B * H * D, std::numeric_limits<float>::quiet_NaN());
    return;
  }
  const int64_t blocks = (k1 - k0 + kKeysPerBlock - 1) / kKeysPerBlock;
  const int64_t items = B * KVH * blocks, per_item = G * (D + 2);  // outputs, maximum, sum
  // the calling thread's buffer; the cores write their items into it
  thread_local std::vector<float> partial;
  if (partial.size() < size_t(items * per_item)) partial.resize(size_t(items * per_item));
  float* parts = partial.data();
  const float* qd = q.data<float>();
  const float *kd = k.data<float>(), *vd = v.data<float>();
  const auto &qs = q.strides(), &ks = k.strides(), &vs = v.strides();
  const detail::CpuKernels& cpu = detail::cpu_kernels();
  const float minus_inf = -std::numeric_limits<float>::infinity();
  detail::parallel_for(items, 2, [&](int64_t begin, int64_t end) {
    // All the scores of this range first, then all the weighted values: the keys and then the
    // values stream in as two long runs, which the prefetchers follow, instead of short
    // alternating blocks. Each block's numbers are the same either way.
    thread_local std::vector<float> score_buffer;
    if (score_buffer.size() < size_t((end - begin) * G * kKeysPerBlock))
      score_buffer.resize(size_t((end - begin) * G * kKeysPerBlock));
    auto block_of = [&](int64_t item, int64_t& b, int64_t& h, int64_t& s0, int64_t& n) {
      const int64_t bh = item / blocks;
      b = bh / KVH, h = bh % KVH;
      s0 = k0 + (item % blocks) * kKeysPerBlock, n = std::min(kKeysPerBlock, k1 - s0);
    };
    // A block's values into the cache a row at a time: the product reads them across rows.
    auto prefetch_values = [&](int64_t item) {
      int64_t b, h, s0, n;
      block_of(item, b, h, s0, n);
      const char* rows = reinterpret_cast<const char*>(vd + b * vs[0] + h * vs[1] + s0 * vs[2]);
      const int64_t row_bytes = D * int64_t(sizeof(float)), stride_bytes = vs[2] * int64_t(sizeof(float));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t at = 0; at < row_bytes; at += 64) __builtin_prefetch(rows + i * stride_bytes + at, 0, 3);
    };
    for (int64_t item = begin; item < end; ++item) {
      int64_t b, h, s0, n;
      block_of(item, b, h, s0, n);
      float* scores = score_buffer.data() + (item - begin) * G * kKeysPerBlock;
      const float* qh = qd + b * qs[0] + h * G * qs[1];
      const float* kb = kd + b * ks[0] + h * ks[1] + s0 * ks[2];
      cpu.dots(G, 0, n, D, qh, qs[1], detail::WeightRows{kb, nullptr, nullptr, nullptr, ks[2]}, scores, n);
    }
    prefetch_values(begin);  // the first block's values, while its weights are worked out
    for (int64_t item = begin; item < end; ++item) {
      int64_t b, h, s0, n;
      block_of(item, b, h, s0, n);
      float* scores = score_buffer.data() + (item - begin) * G * kKeysPerBlock;
      float* po = parts + item * per_item;  // G rows of D, then G maxima, then G sums
      float *block_max = po + G * D, *block_sum = block_max + G;
      bool visible = false;
      for (int64_t i = 0; i < n; ++i) visible = visible || allowed[s0 + i];
      for (int64_t g = 0; g < G; ++g) {
        float* row = scores + g * n;
        for (int64_t i = 0; i < n; ++i) row[i] *= scale;
        if (softcap_value > 0) detail::soft_cap(row, n, softcap_value);
        float mx = minus_inf;
        for (int64_t i = 0; i < n; ++i) {
          if (!allowed[s0 + i]) row[i] = minus_inf;
          mx = max_keeping_nan(mx, row[i]);
        }
        float sum = 0.f;
        if (!visible) {  // a block the mask hides whole: no weight at all
          std::fill(row, row + n, 0.f);
        } else {
          detail::exp_shifted(row, mx, row, n);
          for (int64_t i = 0; i < n; ++i) sum += row[i];
        }
        block_max[g] = mx;
        block_sum[g] = sum;
      }
      const float* vb = vd + b * vs[0] + h * vs[1] + s0 * vs[2];
      if (item + 1 < end) prefetch_values(item + 1);
      cpu.rows_times_matrix(G, 0, D, n, scores, n, vb, nullptr, vs[2], po, D);
    }
  });
  // out = Σ_blocks e^(m_b − m)·o_b / Σ_blocks e^(m_b − m)·l_b, the blocks in order
  for (int64_t bh = 0; bh < B * KVH; ++bh)
    for (int64_t g = 0; g < G; ++g) {
      const float* first = parts + bh * blocks * per_item;
      float m = minus_inf;
      for (int64_t c = 0; c < blocks; ++c) m = max_keeping_nan(m, first[c * per_item + G * D + g]);
      float* y = o + (bh * G + g) * D;
      std::fill(y, y + D, 0.f);
      float total = 0.f;
      for (int64_t c = 0; c < blocks; ++c) {
        const float* po = first + c * per_item;
        const float bm = po[G * D + g];
        if (bm == minus_inf) continue;  // hidden, or every visible score −∞: no weight
        const float w = std::exp(bm - m);
        total += w * po[G * D + G + g];
        for (int64_t d = 0; d < D; ++d) y[d] += w * po[g * D + d];
      }
      const float inv = 1.f / total;
      for (int64_t d = 0; d < D; ++d) y[d] *= inv;
    }
}

// Whether a decode step's attention can take the one-pass kernel: one query position, f32
// throughout, D contiguous, no gradient to record.
static bool one_query_fits(const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t T = q.shape()[2], G = q.shape()[1] / k.shape()[1];
  if (T != 1 || G > 64) return false;
  for (const Tensor* t : {&q, &k, &v})
    if (t->dtype() != DType::F32 || t->strides()[3] != 1) return false;
  return !(is_grad_enabled() && (requires_grad(q) || requires_grad(k) || requires_grad(v)));
}

static Tensor attend_one_query(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& allowed, float scale,
                               float softcap_value) {
  auto into = [=](const std::vector<Tensor>& in, std::vector<Tensor>& out) {
    attend_one_query_into(in, scale, softcap_value, out);
  };
  // a capture replays the kernel, into a planned buffer (op_trace.hpp)
  return detail::traced_into("attend_one_query", {q, k, v, allowed}, into, detail::one_like_first)[0];
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& allowed, float scale, float softcap_value) {
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4)
    fail(Status::Shape, "attention: q, k, v must be [B, heads, T, D], got " + q.shape().str() + ", " + k.shape().str() +
                            ", " + v.shape().str());
  const int64_t B = q.shape()[0], H = q.shape()[1], T = q.shape()[2], D = q.shape()[3];
  const int64_t KVH = k.shape()[1], S = k.shape()[2];
  if (KVH == 0 || H % KVH || !(k.shape() == v.shape()) || k.shape()[0] != B || k.shape()[3] != D)
    fail(Status::Shape, "attention: k/v " + k.shape().str() + " do not fit q " + q.shape().str());
  if (!(allowed.shape() == Shape{T, S}))
    fail(Status::Shape, "attention: mask " + allowed.shape().str() + " should be " + Shape{T, S}.str());
  if (one_query_fits(q, k, v)) return attend_one_query(q, k, v, allowed, scale, softcap_value);
  // Long prompts: blocks of queries, each against only the keys its mask allows somewhere
  // (causal, 512 tokens: the first block needs an eighth of the keys of the last) — a little
  // over half the work. Blocks of 64 measured 3% faster than 128 at that size, 32 slower.
  constexpr int64_t kBlock = 64;
  if (T < 2 * kBlock) return attend(q, k, v, allowed, scale, softcap_value);
  const Tensor mask = packed_as(allowed, DType::U8);
  const uint8_t* m = mask.data<uint8_t>();
  std::vector<Tensor> outs;
  for (int64_t t0 = 0; t0 < T; t0 += kBlock) {
    const int64_t t1 = std::min(T, t0 + kBlock);
    // [k0, k1): from the first key any row allows to the last (each row read from its ends
    // inwards, only as far as the range found so far: a causal block reads little)
    int64_t k0 = S, k1 = 0;
    for (int64_t t = t0; t < t1; ++t) {
      const uint8_t* row = m + t * S;
      for (int64_t s = 0; s < k0; ++s)
        if (row[s]) {
          k0 = s;
          break;
        }
      for (int64_t s = S - 1; s >= std::max(k1, k0); --s)
        if (row[s]) {
          k1 = s + 1;
          break;
        }
    }
    if (k1 <= k0) k0 = 0, k1 = S;  // a fully masked block: keep softmax's NaN as without blocks
    outs.push_back(attend(ag::slice(q, 2, t0, t1), ag::slice(k, 2, k0, k1), ag::slice(v, 2, k0, k1),
                          allowed.slice(0, t0, t1).slice(1, k0, k1), scale, softcap_value));
  }
  return ag::concat(outs, 2);
}

}  // namespace xla::nn
