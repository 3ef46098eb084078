// attention.cpp — RoPE and grouped-query attention with causal / sliding-window masks.
#include <cmath>

#include "op_trace.hpp"  // src/tensor/kernels
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
  std::vector<Tensor> t = detail::traced_multi(
      {positions}, [=] { return detail::multi_event_into("rope_tables", into, tables_of); },
      [&] {
        std::vector<Tensor> out = tables_of({positions});
        into({positions}, out);
        return out;
      });
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

// Scores → probabilities → output for one block of queries against keys [k0, k1).
static Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& allowed, float scale,
                     float softcap_value) {
  const int64_t B = q.shape()[0], H = q.shape()[1], T = q.shape()[2], D = q.shape()[3];
  const int64_t KVH = k.shape()[1], S = k.shape()[2], G = H / KVH;
  // [B, H, T, D] → [B, KVH, G·T, D]: the G query heads of one kv head side by side
  Tensor qg = ag::reshape(q, {B, KVH, G * T, D});
  Tensor scores = ag::matmul(qg, ag::transpose(k, -1, -2));  // [B, KVH, G·T, S]
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
  constexpr int64_t kBlock = 128;
  if (T < 2 * kBlock) return attend(q, k, v, allowed, scale, softcap_value);
  // Long prompts: blocks of queries, each against only the keys its mask allows somewhere
  // (causal: the first block needs a quarter of the keys of the last) — about half the work.
  std::vector<uint8_t> m(static_cast<size_t>(T * S));
  allowed.to(DType::U8).copy_to(m.data());
  std::vector<Tensor> outs;
  for (int64_t t0 = 0; t0 < T; t0 += kBlock) {
    const int64_t t1 = std::min(T, t0 + kBlock);
    int64_t k0 = S, k1 = 0;
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t s = 0; s < S; ++s)
        if (m[size_t(t * S + s)]) {
          k0 = std::min(k0, s);
          k1 = std::max(k1, s + 1);
        }
    if (k1 <= k0) k0 = 0, k1 = S;  // a fully masked block: keep softmax's NaN as without blocks
    outs.push_back(attend(ag::slice(q, 2, t0, t1), ag::slice(k, 2, k0, k1), ag::slice(v, 2, k0, k1),
                          allowed.slice(0, t0, t1).slice(1, k0, k1), scale, softcap_value));
  }
  return ag::concat(outs, 2);
}

}  // namespace xla::nn
