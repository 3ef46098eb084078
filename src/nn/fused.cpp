// fused.cpp — RMSNorm, RoPE and the GeGLU gate as single autograd nodes. Composed from ag
// ops they record 5–7 nodes each and save as many [tokens, width] tensors for backward;
// fused they save only their inputs (RMSNorm: x and one rsqrt per row; RoPE: nothing but
// the shared tables) and run in one or two passes over memory. Training Gemma 3 270M at
// 4 × 256 tokens holds ~1 GB less this way. Their kernels, forward and backward, are pure
// functions of tensors that report themselves to a capture (xla/compile.hpp).
#include <Eigen/Core>
#include <vector>

#include "blocked.hpp"         // src/tensor/kernels
#include "cpu_kernels.hpp"     // src/tensor/kernels
#include "op_trace.hpp"        // src/tensor/kernels
#include "parallel.hpp"        // src/tensor/kernels
#include "row_transforms.hpp"  // src/tensor/kernels
#include "xla/autograd.hpp"
#include "xla/nn.hpp"

namespace xla::nn {
namespace {

Tensor f32c(const Tensor& t) { return t.dtype() == DType::F32 && t.is_contiguous() ? t : t.to(DType::F32).contiguous(); }

// Rows are processed in fixed blocks, whatever the thread count, so that per-block partial
// sums (the weight gradient) combine in the same order on every machine.
constexpr int64_t kRowBlock = 64;

// dx and dw of y = x · rstd · (1 + w) from g, for in = {x, w, rstd, g}, into out = {dx, dw}
// (either undefined when not wanted). dw is summed over rows in fixed blocks.
void rms_norm_grad_into(const std::vector<Tensor>& in, std::vector<Tensor>& out) {
  const Tensor x = f32c(in[0]), w = f32c(in[1]), rstd = f32c(in[2]), g = f32c(in[3]);
  Tensor* dx = detail::wanted(out, 0);
  Tensor* dw = detail::wanted(out, 1);
  const int64_t C = w.numel(), rows = C ? x.numel() / C : 0;
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pr = rstd.data<float>();
  const float* pg = g.data<float>();
  const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
  std::vector<float> dw_part(dw ? size_t(blocks * C) : 0, 0.f);
  float* pdx = dx ? dx->data<float>() : nullptr;
  const detail::CpuKernels& cpu = detail::cpu_kernels();
  detail::parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t r0 = blk * kRowBlock, n = std::min(rows, r0 + kRowBlock) - r0;
      cpu.rms_norm_grad_rows(n, C, px + r0 * C, pw, pr + r0, pg + r0 * C, pdx ? pdx + r0 * C : nullptr,
                             dw_part.empty() ? nullptr : dw_part.data() + blk * C);
    }
  });
  if (dw) {
    dw->zero_();
    float* pdw = dw->data<float>();
    for (int64_t blk = 0; blk < blocks; ++blk)
      for (int64_t j = 0; j < C; ++j) pdw[j] += dw_part[size_t(blk * C + j)];
  }
}

// y = x · rstd · (1 + w) per row of C, rstd = 1/√(mean(x²) + eps), for in = {x, w}, into
// out = {y, rstd}.
void rms_norm_into(const std::vector<Tensor>& in, float eps, std::vector<Tensor>& out) {
  const Tensor x = f32c(in[0]), w = f32c(in[1]);
  Tensor* y = detail::wanted(out, 0);
  Tensor* rstd = detail::wanted(out, 1);
  const int64_t C = w.numel(), rows = C ? x.numel() / C : 0;
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  float* py = y ? y->data<float>() : nullptr;
  float* pr = rstd ? rstd->data<float>() : nullptr;
  const detail::CpuKernels& cpu = detail::cpu_kernels();
  detail::parallel_for(rows, 16, [&](int64_t b, int64_t e) {
    cpu.rms_norm_rows(e - b, C, px + b * C, pw, eps, py ? py + b * C : nullptr, pr ? pr + b : nullptr);
  });
}

// Saves x, w (f32) and rstd [rows]; backward gives dx and dw.
struct RmsNormNode final : autograd::Node {
  Shape x_shape;  // [..., C], the input's (dx is this shape)

  void backward(const Tensor& g, Tensor* gi) override {
    const bool want_dx = needs(0), want_dw = needs(1);
    const Shape shape = x_shape;
    auto results = [=](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{want_dx ? Tensor::empty(shape) : Tensor(), want_dw ? Tensor::empty({in[1].numel()}) : Tensor()};
    };
    const std::vector<Tensor> in = {saved(0), saved(1), saved(2), f32c(g)};
    std::vector<Tensor> d = detail::traced_into("rms_norm_grad", in, rms_norm_grad_into, results);
    gi[0] = d[0];
    gi[1] = d[1];
  }
};

}  // namespace

Tensor rms_norm(const Tensor& x_in, const Tensor& w_in, float eps) {
  if (!x_in.defined() || !w_in.defined()) fail(Status::InvalidArg, "rms_norm: undefined tensor");
  if (w_in.ndim() != 1 || x_in.ndim() == 0 || x_in.shape().back() != w_in.shape()[0])
    fail(Status::Shape, "rms_norm: weight " + w_in.shape().str() + " does not match input " + x_in.shape().str());
  // a bf16 weight goes through a differentiable cast: the node below sees f32
  const Tensor w_f = w_in.dtype() == DType::F32 ? w_in : ag::cast(w_in, DType::F32);
  const Tensor x = f32c(detach(x_in)), w = f32c(detach(w_f));
  const Shape shape = x_in.shape();
  // a capture replays the kernel, into planned buffers (op_trace.hpp)
  auto into = [eps](const std::vector<Tensor>& in, std::vector<Tensor>& out) { rms_norm_into(in, eps, out); };
  auto results = [shape](const std::vector<Tensor>& in) {
    const int64_t C = in[1].numel();
    return std::vector<Tensor>{Tensor::empty(shape), Tensor::empty({C ? shape.numel() / C : 0})};
  };
  const std::vector<Tensor> in = {x, w};
  std::vector<Tensor> yr = detail::traced_into("rms_norm", in, into, results);
  Tensor y = yr[0];
  const Tensor& rstd = yr[1];
  if (auto* n = autograd::record<RmsNormNode>(y, "rms_norm", {&x_in, &w_f})) {
    n->x_shape = x_in.shape();
    n->save(x);
    n->save(w);
    n->save(rstd);
  }
  return y;
}

namespace {

// y = x·cos + rotate_half(x)·sin over [..., T, D] planes, for in = {x, cos, sin} (tables
// [T, D]), into out = {y}; with transpose, the adjoint rotation g·cos + [g₂·sin₂, −g₁·sin₁]
// (RoPE's backward).
void rope_into(const std::vector<Tensor>& in, bool transpose, std::vector<Tensor>& out) {
  const Tensor x = f32c(in[0]), cs = f32c(in[1]), sn = f32c(in[2]);
  const int64_t D = cs.shape()[1], T = cs.shape()[0], half = D / 2, rows = D ? x.numel() / D : 0;
  const float* c = cs.data<float>();
  const float* s = sn.data<float>();
  const float* px = x.data<float>();
  float* py = out[0].data<float>();
  detail::parallel_for(rows, 64, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t t = row % T;
      const float* xi = px + row * D;
      const float* ct = c + t * D;
      const float* st = s + t * D;
      float* yo = py + row * D;
      if (!transpose) {
        for (int64_t i = 0; i < half; ++i) yo[i] = xi[i] * ct[i] - xi[i + half] * st[i];
        for (int64_t i = half; i < D; ++i) yo[i] = xi[i] * ct[i] + xi[i - half] * st[i];
      } else {
        for (int64_t i = 0; i < half; ++i) yo[i] = xi[i] * ct[i] + xi[i + half] * st[i + half];
        for (int64_t i = half; i < D; ++i) yo[i] = xi[i] * ct[i] - xi[i - half] * st[i - half];
      }
    }
  });
}

// rope_into on a new result, reported to a capture as "rope" (or "rope_grad").
Tensor traced_rope(const Tensor& x, const Tensor& cs, const Tensor& sn, bool transpose) {
  auto into = [transpose](const std::vector<Tensor>& in, std::vector<Tensor>& out) { rope_into(in, transpose, out); };
  const std::vector<Tensor> in = {x, cs, sn};
  return detail::traced_into(transpose ? "rope_grad" : "rope", in, into, detail::one_like_first)[0];
}

// Saves the tables [T, D]; the backward is the adjoint rotation.
struct RopeNode final : autograd::Node {
  void backward(const Tensor& g, Tensor* gi) override { gi[0] = traced_rope(f32c(g), saved(0), saved(1), true); }
};

}  // namespace

Tensor apply_rope(const Tensor& x_in, const RopeTables& rope) {
  if (!x_in.defined() || x_in.ndim() < 2) fail(Status::Shape, "rope: x must be [..., T, D]");
  const int64_t D = x_in.shape().back(), T = x_in.shape()[x_in.ndim() - 2];
  if (!(rope.cos.shape() == Shape{T, D}) || !(rope.sin.shape() == Shape{T, D}))
    fail(Status::Shape, "rope: tables " + rope.cos.shape().str() + " do not fit x " + x_in.shape().str());
  const Tensor cs = f32c(rope.cos), sn = f32c(rope.sin);
  // packed before the kernel, so that a capture plans the copy (op_trace.hpp)
  Tensor y = traced_rope(f32c(detach(x_in)), cs, sn, false);
  if (auto* n = autograd::record<RopeNode>(y, "rope", {&x_in})) {
    n->save(cs);
    n->save(sn);
  }
  return y;
}

namespace {

// da, db of y = gelu_tanh(a) · b from g, for in = {a, b, g}, into out = {da, db} (either
// undefined when not wanted); tanh is recomputed in one pass.
void gelu_tanh_mul_grad_into(const std::vector<Tensor>& in, std::vector<Tensor>& out) {
  const Tensor a = f32c(in[0]), b = f32c(in[1]), g = f32c(in[2]);
  const int64_t N = a.numel();
  Tensor* da = detail::wanted(out, 0);
  Tensor* db = detail::wanted(out, 1);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const float* pg = g.data<float>();
  float* pda = da ? da->data<float>() : nullptr;
  float* pdb = db ? db->data<float>() : nullptr;
  detail::parallel_for(N, detail::kHeavyElementGrain, [&](int64_t s, int64_t e) {
    constexpr int64_t kBlock = 512;
    alignas(64) float slope[kBlock], gelu[kBlock];
    for (int64_t i0 = s; i0 < e; i0 += kBlock) {
      const int64_t m = std::min(kBlock, e - i0);
      // gelu(a) as the forward computed it, so that db is its product with g bit for bit
      if (pda) detail::gelu_tanh_slope(pa + i0, slope, m);
      if (pdb) detail::cpu_kernels().gelu_tanh_f32(pa + i0, gelu, m);
      // one loop per result: with both stores under conditions in one loop, it stays scalar
      if (pdb)
        for (int64_t j = 0; j < m; ++j) pdb[i0 + j] = pg[i0 + j] * gelu[j];
      if (pda)
        for (int64_t j = 0; j < m; ++j) pda[i0 + j] = pg[i0 + j] * pb[i0 + j] * slope[j];
    }
  });
}

// y = gelu_tanh(a) · b for in = {a, b}, into out = {y}: GELU's kernel over a block, then the
// product, in one pass (the bits of the two ops, which round each element alike).
void gelu_tanh_mul_into(const std::vector<Tensor>& in, std::vector<Tensor>& out) {
  const Tensor a = f32c(in[0]), b = f32c(in[1]);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* py = out[0].data<float>();
  detail::parallel_for(a.numel(), detail::kHeavyElementGrain, [=](int64_t s, int64_t e) {
    constexpr int64_t kBlock = 512;
    alignas(64) float gelu[kBlock];
    for (int64_t i0 = s; i0 < e; i0 += kBlock) {
      const int64_t m = std::min(kBlock, e - i0);
      detail::cpu_kernels().gelu_tanh_f32(pa + i0, gelu, m);
      for (int64_t j = 0; j < m; ++j) py[i0 + j] = gelu[j] * pb[i0 + j];
    }
  });
}

// y = gelu_tanh(a) · b. Saves a and b (f32).
struct GeluTanhMulNode final : autograd::Node {
  void backward(const Tensor& g, Tensor* gi) override {
    const bool want_da = needs(0), want_db = needs(1);
    auto results = [=](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{want_da ? Tensor::empty(in[0].shape()) : Tensor(),
                                 want_db ? Tensor::empty(in[0].shape()) : Tensor()};
    };
    const std::vector<Tensor> in = {saved(0), saved(1), f32c(g)};
    std::vector<Tensor> d = detail::traced_into("gelu_tanh_mul_grad", in, gelu_tanh_mul_grad_into, results);
    gi[0] = d[0];
    gi[1] = d[1];
  }
};

}  // namespace

Tensor gelu_tanh_mul(const Tensor& a_in, const Tensor& b_in) {
  if (!a_in.defined() || !b_in.defined()) fail(Status::InvalidArg, "gelu_tanh_mul: undefined tensor");
  if (!(a_in.shape() == b_in.shape()))
    fail(Status::Shape, "gelu_tanh_mul: shapes " + a_in.shape().str() + " and " + b_in.shape().str() + " differ");
  const Tensor a = f32c(detach(a_in)), b = f32c(detach(b_in));
  // the forward values of the unfused ops, bit for bit; a capture replays the kernel
  Tensor y = detail::traced_into("gelu_tanh_mul", {a, b}, gelu_tanh_mul_into, detail::one_like_first)[0];
  if (auto* n = autograd::record<GeluTanhMulNode>(y, "gelu_tanh_mul", {&a_in, &b_in})) {
    n->save(a);
    n->save(b);
  }
  return y;
}

}  // namespace xla::nn
