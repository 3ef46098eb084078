// scan.hpp — Mamba's two sequence kernels, private to src/models/mamba: the selective scan
// (discretisation fused with the recurrence) and the causal depthwise conv. Both run as
// plain kernels under no-grad and record one autograd node each otherwise (scan.cpp).
#pragma once
#include "xla/autograd.hpp"

namespace xla::mamba {

// The selective scan, per batch b, channel i and state s (δ = softplus(dt)):
//   h_t[s] = exp(A[i,s]·δ_t)·h_{t−1}[s] + δ_t·B_t[s]·x_t      h_{−1} = h0 (zeros if undefined)
//   y_t    = Σ_s h_t[s]·C_t[s] + D[i]·x_t
// x, dt [B, T, I] (dt before the softplus); A [I, S]; Bm, Cm [B, T, S]; D [I]; h0 [B, I, S]
// or undefined. Returns y [B, T, I], f32; h_last (when given) receives h_{T−1} [B, I, S].
// Differentiable in x, dt, A, Bm, Cm and D; h0 and h_last are data (a state, not a weight).
Tensor selective_scan(const Tensor& x, const Tensor& dt, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                      const Tensor& D, const Tensor& h0, Tensor* h_last = nullptr);

// Causal depthwise conv, PyTorch's conv1d(groups = I, padding = K−1) cut to the first T:
//   y[b,t,i] = bias[i] + Σ_k w[i,k]·x̄[b, t−(K−1)+k, i]
// where x̄ before time 0 is `past` [B, I, K−1] (the inputs before this call; zeros when
// undefined). x [B, T, I]; w [I, K]; bias [I] or undefined. Returns [B, T, I], f32; window
// (when given) receives the last K−1 inputs of x̄ [B, I, K−1], the next call's past.
// Differentiable in x, w and bias; past is data.
Tensor causal_conv1d(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& past, Tensor* window = nullptr);

}  // namespace xla::mamba
