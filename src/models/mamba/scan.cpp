// scan.cpp — the selective scan and the causal depthwise conv, forward and backward side by
// side. The scan never materialises the discretised [B, T, I, S] tensors: each (batch,
// channel) pair walks time with its S-wide state in registers, computing exp(A·δ) and δ·B·x
// as it goes, so memory is the inputs and outputs only. Backward recomputes the states of one
// channel at a time ([T+1, S] floats per thread) and runs the recurrence in reverse.
#include "scan.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "parallel.hpp"  // src/tensor/kernels
#include "op_trace.hpp"  // src/tensor/kernels

namespace xla::mamba {
namespace {

Tensor f32c(const Tensor& t) { return t.dtype() == DType::F32 && t.is_contiguous() ? t : t.to(DType::F32).contiguous(); }

// e^v for the scan's decays, within 2 ulp of std::exp, written so that a loop over the state
// vectorises (std::exp does not without -ffast-math, and it is most of a prefill's scan):
// v = n·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial for e^r, 2^n put in the exponent.
// Inputs below −87 give ~1e-38 instead of 0: far below anything a state holds.
inline float decay_exp(float v) {
  v = std::min(std::max(v, -87.f), 88.f);
  const float n = std::floor(v * 1.44269504089f + 0.5f);
  float r = v - n * 0.693359375f;  // ln2 in two parts: the first exact in float
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  return p * std::bit_cast<float>((int32_t(n) + 127) << 23);
}

// torch.nn.functional.softplus (beta 1, threshold 20) and its derivative.
inline float softplus(float v) { return v > 20.f ? v : std::log1p(std::exp(v)); }
inline float softplus_grad(float v) { return v > 20.f ? 1.f : 1.f / (1.f + std::exp(-v)); }

void expect_shape(const char* op, const char* what, const Tensor& t, const Shape& want) {
  if (!t.defined() || !(t.shape() == want))
    fail(Status::Shape, std::string(op) + ": " + what + " must be " + want.str() + ", got " +
                            (t.defined() ? t.shape().str() : "none"));
}

// Channels per backward block: a block owns its channels' dA and dD rows outright and keeps
// its own partial dB, dC [B, T, S], summed over blocks in a fixed order afterwards (the same
// gradients whatever the thread count).
constexpr int64_t kChannelBlock = 32;

// The scan's sizes, and the per-channel forward both directions share.
struct ScanDims {
  int64_t B, T, I, S;
};

// Runs channel (b, i) forward from h (S floats, updated in place). hs, when given, receives
// h_{−1} … h_{T−1} as [T+1, S]; y, when given, receives y[b, :, i] (stride I).
inline void scan_channel(const ScanDims& d, int64_t b, int64_t i, const float* x, const float* dt, const float* A,
                         const float* Bm, const float* Cm, float Dv, float* h, float* hs, float* y) {
  const int64_t S = d.S, I = d.I;
  const float* a = A + i * S;
  if (hs) std::copy(h, h + S, hs);
  for (int64_t t = 0; t < d.T; ++t) {
    const int64_t row = b * d.T + t;
    const float xv = x[row * I + i], delta = softplus(dt[row * I + i]), dx = delta * xv;
    const float* bt = Bm + row * S;
    const float* ct = Cm + row * S;
#pragma omp simd
    for (int64_t s = 0; s < S; ++s) h[s] = decay_exp(a[s] * delta) * h[s] + dx * bt[s];
    float acc = 0.f;  // in order: the same sum whatever the vector width
    for (int64_t s = 0; s < S; ++s) acc += h[s] * ct[s];
    if (hs) std::copy(h, h + S, hs + (t + 1) * S);
    if (y) y[row * I + i] = acc + Dv * xv;
  }
}

// Channels per forward work item: one AVX2 vector of lanes, so that each time step reads
// x and dt as one contiguous run and the state update vectorises across channels (a single
// channel walks time with stride I: a cache line per step for a float).
constexpr int64_t kLanes = 8;

// Runs channels i0 … i0+n−1 (n ≤ kLanes) of batch b forward from their states h ([n, S]
// rows, updated in place), writing y. Per channel the arithmetic and the order of the output
// sum over s are scan_channel's; padding lanes (δ = 0, x = 0) stay at zero.
inline void scan_lanes(const ScanDims& d, int64_t b, int64_t i0, int64_t n, const float* x, const float* dt,
                       const float* A, const float* Bm, const float* Cm, const float* D, float* h, float* y) {
  const int64_t S = d.S, I = d.I;
  std::vector<float> a(size_t(S * kLanes), 0.f), st(size_t(S * kLanes), 0.f);  // [S, lanes]
  for (int64_t l = 0; l < n; ++l)
    for (int64_t s = 0; s < S; ++s) {
      a[size_t(s * kLanes + l)] = A[(i0 + l) * S + s];
      st[size_t(s * kLanes + l)] = h[l * S + s];
    }
  for (int64_t t = 0; t < d.T; ++t) {
    const int64_t row = b * d.T + t;
    const float* xr = x + row * I + i0;
    const float* dtr = dt + row * I + i0;
    float xv[kLanes] = {}, delta[kLanes] = {}, dx[kLanes], acc[kLanes] = {};
    for (int64_t l = 0; l < n; ++l) xv[l] = xr[l], delta[l] = softplus(dtr[l]);
    for (int64_t l = 0; l < kLanes; ++l) dx[l] = delta[l] * xv[l];
    const float* bt = Bm + row * S;
    const float* ct = Cm + row * S;
    for (int64_t s = 0; s < S; ++s) {
      float* hs = st.data() + s * kLanes;
      const float* as = a.data() + s * kLanes;
      const float bs = bt[s], cs = ct[s];
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l) {
        hs[l] = decay_exp(as[l] * delta[l]) * hs[l] + dx[l] * bs;
        acc[l] += hs[l] * cs;
      }
    }
    for (int64_t l = 0; l < n; ++l) y[row * I + i0 + l] = acc[l] + D[i0 + l] * xv[l];
  }
  for (int64_t l = 0; l < n; ++l)
    for (int64_t s = 0; s < S; ++s) h[l * S + s] = st[size_t(s * kLanes + l)];
}

// Saves x, dt, A, Bm, Cm, D, [h0] (f32, contiguous).
struct SelectiveScanNode final : autograd::Node {
  ScanDims d{};
  bool has_h0 = false;

  void backward(const Tensor& g_in, Tensor* gi) override {
    const float* x = saved(0).data<float>();
    const float* dt = saved(1).data<float>();
    const float* A = saved(2).data<float>();
    const float* Bm = saved(3).data<float>();
    const float* Cm = saved(4).data<float>();
    const float* Dp = saved(5).data<float>();
    const float* h0 = has_h0 ? saved(6).data<float>() : nullptr;
    const Tensor g = f32c(g_in);
    const float* gy = g.data<float>();
    const int64_t B = d.B, T = d.T, I = d.I, S = d.S;
    Tensor dx = Tensor::zeros({B, T, I}), ddt = Tensor::zeros({B, T, I}), dA = Tensor::zeros({I, S}),
           dD = Tensor::zeros({I});
    const int64_t blocks = (I + kChannelBlock - 1) / kChannelBlock;
    std::vector<float> dB_part(size_t(blocks * B * T * S), 0.f), dC_part(size_t(blocks * B * T * S), 0.f);
    float* pdx = dx.data<float>();
    float* pddt = ddt.data<float>();
    float* pdA = dA.data<float>();
    float* pdD = dD.data<float>();
    detail::parallel_for(blocks, 1, [&](int64_t k0, int64_t k1) {
      std::vector<float> hs(size_t((T + 1) * S), 0.f), h(size_t(S), 0.f), dh(size_t(S), 0.f);
      for (int64_t blk = k0; blk < k1; ++blk) {
        float* dBp = dB_part.data() + blk * B * T * S;
        float* dCp = dC_part.data() + blk * B * T * S;
        for (int64_t i = blk * kChannelBlock; i < std::min(I, (blk + 1) * kChannelBlock); ++i) {
          const float* a = A + i * S;
          float* da = pdA + i * S;
          for (int64_t b = 0; b < B; ++b) {
            if (h0) std::copy(h0 + (b * I + i) * S, h0 + (b * I + i + 1) * S, h.begin());
            else std::fill(h.begin(), h.end(), 0.f);
            scan_channel(d, b, i, x, dt, A, Bm, Cm, Dp[i], h.data(), hs.data(), nullptr);
            std::fill(dh.begin(), dh.end(), 0.f);  // h_last is data: no gradient flows in from it
            for (int64_t t = T - 1; t >= 0; --t) {
              const int64_t row = b * T + t;
              const float g_t = gy[row * I + i], xv = x[row * I + i], raw = dt[row * I + i];
              const float delta = softplus(raw);
              const float* bt = Bm + row * S;
              const float* ct = Cm + row * S;
              const float* h_t = hs.data() + (t + 1) * S;
              const float* h_prev = hs.data() + t * S;
              float* dbt = dBp + row * S;
              float* dct = dCp + row * S;
              // y_t = Σ h_t·C_t + D·x_t
              pdD[i] += g_t * xv;
              float gx = g_t * Dp[i], gdelta = 0.f;
              for (int64_t s = 0; s < S; ++s) {
                dct[s] += g_t * h_t[s];
                dh[s] += g_t * ct[s];  // now dL/dh_t
                // h_t = e·h_{t−1} + δ·B·x with e = exp(A·δ)
                const float e = decay_exp(a[s] * delta);
                gdelta += dh[s] * (a[s] * e * h_prev[s] + bt[s] * xv);
                da[s] += dh[s] * delta * e * h_prev[s];
                dbt[s] += dh[s] * delta * xv;
                gx += dh[s] * delta * bt[s];
                dh[s] *= e;  // dL/dh_{t−1}, before y_{t−1}'s share
              }
              pdx[row * I + i] += gx;
              pddt[row * I + i] = gdelta * softplus_grad(raw);
            }
          }
        }
      }
    });
    gi[0] = dx;
    gi[1] = ddt;
    gi[2] = dA;
    if (needs(3) || needs(4)) {
      Tensor dB = Tensor::zeros({B, T, S}), dC = Tensor::zeros({B, T, S});
      float* pdB = dB.data<float>();
      float* pdC = dC.data<float>();
      const int64_t n = B * T * S;
      for (int64_t blk = 0; blk < blocks; ++blk)
        for (int64_t e = 0; e < n; ++e) {
          pdB[e] += dB_part[size_t(blk * n + e)];
          pdC[e] += dC_part[size_t(blk * n + e)];
        }
      gi[3] = dB;
      gi[4] = dC;
    }
    gi[5] = dD;
  }
};

}  // namespace

Tensor selective_scan(const Tensor& x_in, const Tensor& dt_in, const Tensor& A_in, const Tensor& B_in,
                      const Tensor& C_in, const Tensor& D_in, const Tensor& h0_in, Tensor* h_last) {
  detail::UntracedScope untraced;  // raw kernels: a capture must not freeze their results
  const char* op = "selective_scan";
  if (!x_in.defined() || x_in.ndim() != 3) fail(Status::Shape, "selective_scan: x must be [B, T, I]");
  if (!A_in.defined() || A_in.ndim() != 2) fail(Status::Shape, "selective_scan: A must be [I, S]");
  const ScanDims d{x_in.shape()[0], x_in.shape()[1], x_in.shape()[2], A_in.shape()[1]};
  expect_shape(op, "dt", dt_in, {d.B, d.T, d.I});
  expect_shape(op, "A", A_in, {d.I, d.S});
  expect_shape(op, "B", B_in, {d.B, d.T, d.S});
  expect_shape(op, "C", C_in, {d.B, d.T, d.S});
  expect_shape(op, "D", D_in, {d.I});
  if (h0_in.defined()) expect_shape(op, "h0", h0_in, {d.B, d.I, d.S});
  const Tensor x = f32c(detach(x_in)), dt = f32c(detach(dt_in)), A = f32c(detach(A_in)), Bm = f32c(detach(B_in)),
               Cm = f32c(detach(C_in)), D = f32c(detach(D_in));
  const Tensor h0 = h0_in.defined() ? f32c(detach(h0_in)) : Tensor();
  Tensor y = Tensor::empty({d.B, d.T, d.I});
  Tensor hT = Tensor::empty({d.B, d.I, d.S});
  const float *px = x.data<float>(), *pdt = dt.data<float>(), *pA = A.data<float>(), *pB = Bm.data<float>(),
              *pC = Cm.data<float>(), *pD = D.data<float>();
  const float* ph0 = h0.defined() ? h0.data<float>() : nullptr;
  float* py = y.data<float>();
  float* phT = hT.data<float>();
  // kLanes channels of one batch row per work item: their states live in hT's rows
  if (ph0) std::copy(ph0, ph0 + d.B * d.I * d.S, phT);
  else std::fill(phT, phT + d.B * d.I * d.S, 0.f);
  const int64_t groups = (d.I + kLanes - 1) / kLanes;
  detail::parallel_for(d.B * groups, 2, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p / groups, i0 = (p % groups) * kLanes, n = std::min(kLanes, d.I - i0);
      scan_lanes(d, b, i0, n, px, pdt, pA, pB, pC, pD, phT + (b * d.I + i0) * d.S, py);
    }
  });
  if (auto* n = autograd::record<SelectiveScanNode>(y, "selective_scan", {&x_in, &dt_in, &A_in, &B_in, &C_in, &D_in})) {
    n->d = d;
    n->has_h0 = h0.defined();
    for (const Tensor* t : {&x, &dt, &A, &Bm, &Cm, &D}) n->save(*t);
    if (h0.defined()) n->save(h0);
  }
  if (h_last) *h_last = hT;
  return y;
}

namespace {

// Saves x, w and past (f32, contiguous; past only when given).
struct CausalConvNode final : autograd::Node {
  int64_t B = 0, T = 0, I = 0, K = 0;
  bool has_past = false;

  void backward(const Tensor& g_in, Tensor* gi) override {
    const float* x = saved(0).data<float>();
    const float* w = saved(1).data<float>();
    const float* past = has_past ? saved(2).data<float>() : nullptr;
    const Tensor g = f32c(g_in);
    const float* pg = g.data<float>();
    const int64_t B_ = B, T_ = T, I_ = I, K_ = K;
    if (needs(0)) {  // dx[b,τ,i] = Σ_k g[b, τ+K−1−k, i]·w[i,k]
      Tensor dx = Tensor::zeros({B_, T_, I_});
      float* pdx = dx.data<float>();
      detail::parallel_for(B_ * T_, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t b = r / T_, tau = r % T_;
          for (int64_t k = 0; k < K_; ++k) {
            const int64_t t = tau + K_ - 1 - k;
            if (t >= T_) continue;
            const float* gr = pg + (b * T_ + t) * I_;
            for (int64_t i = 0; i < I_; ++i) pdx[r * I_ + i] += gr[i] * w[i * K_ + k];
          }
        }
      });
      gi[0] = dx;
    }
    if (needs(1) || needs(2)) {  // dw[i,k] = Σ_{b,t} g[b,t,i]·x̄[b, t−(K−1)+k, i]; dbias[i] = Σ g
      Tensor dw = Tensor::zeros({I_, K_}), db = Tensor::zeros({I_});
      float* pdw = dw.data<float>();
      float* pdb = db.data<float>();
      detail::parallel_for(I_, 16, [&](int64_t i0, int64_t i1) {
        for (int64_t b = 0; b < B_; ++b)
          for (int64_t t = 0; t < T_; ++t) {
            const float* gr = pg + (b * T_ + t) * I_;
            for (int64_t i = i0; i < i1; ++i) {
              pdb[i] += gr[i];
              for (int64_t k = 0; k < K_; ++k) {
                const int64_t tau = t - (K_ - 1) + k;
                const float xv = tau >= 0 ? x[(b * T_ + tau) * I_ + i]
                                          : past ? past[(b * I_ + i) * (K_ - 1) + (K_ - 1) + tau] : 0.f;
                pdw[i * K_ + k] += gr[i] * xv;
              }
            }
          }
      });
      if (needs(1)) gi[1] = dw;
      if (needs(2)) gi[2] = db;
    }
  }
};

}  // namespace

Tensor causal_conv1d(const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in, const Tensor& past_in,
                     Tensor* window) {
  detail::UntracedScope untraced;  // raw kernels: a capture must not freeze their results
  const char* op = "causal_conv1d";
  if (!x_in.defined() || x_in.ndim() != 3) fail(Status::Shape, "causal_conv1d: x must be [B, T, I]");
  if (!w_in.defined() || w_in.ndim() != 2) fail(Status::Shape, "causal_conv1d: w must be [I, K]");
  const int64_t B = x_in.shape()[0], T = x_in.shape()[1], I = x_in.shape()[2], K = w_in.shape()[1];
  expect_shape(op, "w", w_in, {I, K});
  if (bias_in.defined()) expect_shape(op, "bias", bias_in, {I});
  if (past_in.defined()) expect_shape(op, "past", past_in, {B, I, K - 1});
  const Tensor x = f32c(detach(x_in)), w = f32c(detach(w_in));
  const Tensor bias = bias_in.defined() ? f32c(detach(bias_in)) : Tensor();
  const Tensor past = past_in.defined() ? f32c(detach(past_in)) : Tensor();
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
  const float* pp = past.defined() ? past.data<float>() : nullptr;
  // x̄[b, τ, i] for τ in [−(K−1), T)
  auto xbar = [&](int64_t b, int64_t tau, int64_t i) {
    return tau >= 0 ? px[(b * T + tau) * I + i] : pp ? pp[(b * I + i) * (K - 1) + (K - 1) + tau] : 0.f;
  };
  Tensor y = Tensor::empty({B, T, I});
  float* py = y.data<float>();
  detail::parallel_for(B * T, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / T, t = r % T;
      float* yr = py + r * I;
      for (int64_t i = 0; i < I; ++i) {
        float acc = pb ? pb[i] : 0.f;
        for (int64_t k = 0; k < K; ++k) acc += pw[i * K + k] * xbar(b, t - (K - 1) + k, i);
        yr[i] = acc;
      }
    }
  });
  if (window) {
    Tensor win = Tensor::empty({B, I, K - 1});
    float* pwin = win.data<float>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < I; ++i)
        for (int64_t j = 0; j < K - 1; ++j) pwin[(b * I + i) * (K - 1) + j] = xbar(b, T - (K - 1) + j, i);
    *window = win;
  }
  if (auto* n = autograd::record<CausalConvNode>(y, "causal_conv1d", {&x_in, &w_in, &bias_in})) {
    n->B = B, n->T = T, n->I = I, n->K = K;
    n->has_past = past.defined();
    n->save(x);
    n->save(w);
    if (past.defined()) n->save(past);
  }
  return y;
}

}  // namespace xla::mamba
