// matmul.cpp — NumPy matmul on top of detail::gemm: 1-D promotion, broadcast batch
// dimensions, and operands consumed in place when their last two axes are row- or
// column-major (a transposed weight is a column-major view: no copy).
#include "copy.hpp"
#include "gemm.hpp"
#include "into.hpp"
#include "op_trace.hpp"
#include "parallel.hpp"
#include "xla/ops.hpp"

namespace xla {
namespace {

// The inner matrix of t (last two axes) as a MatRef, or false when neither axis is unit-stride.
bool as_matref(const Tensor& t, detail::MatRef& m) {
  int n = t.ndim();
  int64_t rows = t.shape()[n - 2], cols = t.shape()[n - 1];
  int64_t rs = t.strides()[n - 2], cs = t.strides()[n - 1];
  if (t.dtype() == DType::BF16) m.bf16 = t.data<uint16_t>();
  else if (t.dtype() == DType::Q8) {  // a weight: whole blocks along its rows, read as they lie
    const int64_t block_axis = t.strides()[n - 1] == 1 ? cols : rows;
    if (t.offset() % 32 || block_axis % 32 || (t.strides()[n - 1] != 1 && t.strides()[n - 2] != 1))
      fail(Status::Shape, "matmul", "a q8 operand must be a whole quantized matrix or its transpose, got " + t.shape().str());
    m.q8 = static_cast<const int8_t*>(t.raw_data());
    m.q8_scales = t.q8_scales();
  } else m.ptr = t.data<float>();
  if (cols == 1 || cs == 1) {
    if (rows == 1 || rs >= cols) {
      m.col_major = false;
      m.ld = rows == 1 ? cols : rs;
      return m.ld >= std::max<int64_t>(cols, 1);
    }
  }
  if (rows == 1 || rs == 1) {
    if (cols == 1 || cs >= rows) {
      m.col_major = true;
      m.ld = cols == 1 ? rows : cs;
      return m.ld >= std::max<int64_t>(rows, 1);
    }
  }
  return false;
}

// Element offset of batch index `flat` (over batch shape `bshape`) in t, broadcasting.
int64_t batch_offset(const Tensor& t, const Shape& bshape, int64_t flat) {
  int64_t off = 0;
  int tb = t.ndim() - 2, lead = bshape.size() - tb;
  for (int d = bshape.size() - 1; d >= 0; --d) {
    int64_t i = flat % bshape[d];
    flat /= bshape[d];
    int td = d - lead;
    if (td >= 0 && t.shape()[td] != 1) off += i * t.strides()[td];
  }
  return off;
}

}  // namespace

// The product into `into` (contiguous f32 of the result's shape) when given, else a new tensor.
static Tensor matmul_impl(const Tensor& a_in, const Tensor& b_in, Tensor* into) {
  if (!a_in.defined() || !b_in.defined()) fail(Status::InvalidArg, "matmul", "undefined tensor");
  if (a_in.ndim() == 0 || b_in.ndim() == 0)
    fail(Status::Shape, "matmul", "operands must have at least 1 dimension, got " + a_in.shape().str() + " and " +
                            b_in.shape().str());
  Tensor a = a_in.dtype() == DType::F32 ? a_in : a_in.to(DType::F32);
  // a bf16 or q8 right operand (a weight kept in bf16 or 8 bits) is read as it is by the kernels
  Tensor b = b_in.dtype() == DType::F32 || b_in.dtype() == DType::BF16 || b_in.dtype() == DType::Q8 ? b_in : b_in.to(DType::F32);
  if (b.dtype() == DType::Q8 && b.ndim() != 2)
    fail(Status::Shape, "matmul", "a q8 right operand must be a matrix, got " + b.shape().str());
  const bool a_vec = a.ndim() == 1, b_vec = b.ndim() == 1;
  if (a_vec) a = a.unsqueeze(0);
  if (b_vec) b = b.unsqueeze(1);
  const int64_t M = a.shape()[a.ndim() - 2], K = a.shape().back(), N = b.shape().back();
  if (b.shape()[b.ndim() - 2] != K)
    fail(Status::Shape, "matmul", "inner dimensions differ: " + a_in.shape().str() + " @ " + b_in.shape().str());

  Shape ab, bb;
  for (int i = 0; i + 2 < a.ndim(); ++i) ab.push_back(a.shape()[i]);
  for (int i = 0; i + 2 < b.ndim(); ++i) bb.push_back(b.shape()[i]);
  Shape batch = broadcast_shapes(ab, bb, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = into ? into->view(out_shape) : Tensor::empty(out_shape, DType::F32);

  if (out.numel() > 0) {
    detail::MatRef A, B;
    if (!as_matref(a, A)) { a = a.contiguous(); as_matref(a, A); }
    if (!as_matref(b, B)) { b = b.contiguous(); as_matref(b, B); }
    const int64_t nbatch = batch.numel();
    bool b_shared = true;  // b is the same matrix for every batch entry
    for (int i = 0; i + 2 < b.ndim(); ++i) b_shared &= b.shape()[i] == 1 || b.strides()[i] == 0;
    // One tall GEMM when a's batch entries are row-major matrices spaced evenly, one after
    // another, and b is shared: x @ W for a [B, T, C] input is one [B·T, C] product.
    bool a_flat = !A.col_major && b_shared && a.ndim() - 2 == batch.size();
    int64_t expected = A.ld * M;
    for (int i = a.ndim() - 3; a_flat && i >= 0; --i) {
      a_flat = a.shape()[i] == batch[i] && (a.shape()[i] == 1 || a.strides()[i] == expected);
      expected *= a.shape()[i];
    }
    float* C = out.data<float>();
    if (a_flat) {
      int64_t rows = nbatch * M;
      detail::gemm(rows, N, K, A, B, C, N, detail::gemm_threads(rows, N, K));
    } else if (nbatch >= num_threads() &&
               (M <= detail::kFewRowsByBytes || detail::gemm_threads(M, N, K) < num_threads())) {
      // many small products (attention heads, or a decode step's kv heads): one serial GEMM
      // per batch entry, in parallel
      detail::parallel_for(nbatch, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t i = b0; i < b1; ++i) {
          detail::MatRef Ai = A, Bi = B;
          Ai.advance(batch_offset(a, batch, i));
          Bi.advance(batch_offset(b, batch, i));
          detail::gemm(M, N, K, Ai, Bi, C + i * M * N, N, 1);
        }
      });
    } else {
      int threads = detail::gemm_threads(M, N, K);
      for (int64_t i = 0; i < nbatch; ++i) {
        detail::MatRef Ai = A, Bi = B;
        Ai.advance(batch_offset(a, batch, i));
        Bi.advance(batch_offset(b, batch, i));
        detail::gemm(M, N, K, Ai, Bi, C + i * M * N, N, threads);
      }
    }
  }
  if (a_vec && b_vec) return out.reshape(batch);
  if (a_vec) return out.squeeze(out.ndim() - 2);
  if (b_vec) return out.squeeze(out.ndim() - 1);
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  return detail::traced(
      {&a, &b},
      [] {
        return detail::OpEvent{detail::OpKind::Matmul, 0, "matmul", {}, false, 0,
                               [](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); }};
      },
      [&] { return matmul_impl(a, b, nullptr); });
}

void detail::matmul_into(const Tensor& a, const Tensor& b, Tensor& out) {
  if (out.dtype() != DType::F32 || !out.is_contiguous())
    fail(Status::InvalidArg, "matmul_into", "the destination must be contiguous f32");
  matmul_impl(a, b, &out);
  out.bump_version();
}

void detail::linears_into(const Tensor& x_in, const std::vector<Tensor>& weights, std::vector<Tensor>& out) {
  const int64_t K = x_in.shape().back(), M = K ? x_in.numel() / K : 0;
  const Tensor x = (x_in.dtype() == DType::F32 ? x_in : x_in.to(DType::F32)).contiguous();
  std::vector<detail::GroupedProduct> parts(weights.size());
  bool grouped = M > 0 && out.size() == weights.size();
  for (size_t i = 0; grouped && i < weights.size(); ++i) {
    const Tensor& w = weights[i];
    grouped = w.ndim() == 2 && w.shape()[1] == K && out[i].dtype() == DType::F32 && out[i].is_contiguous() &&
              out[i].numel() == M * w.shape()[0] &&
              (w.dtype() == DType::F32 || w.dtype() == DType::BF16 || w.dtype() == DType::Q8) &&
              as_matref(w.transpose(0, 1), parts[i].B);
    parts[i].N = grouped ? w.shape()[0] : 0;
    parts[i].C = grouped ? out[i].data<float>() : nullptr;
    parts[i].ldc = parts[i].N;
  }
  detail::MatRef A;
  if (grouped && as_matref(x.reshape({M, K}), A) &&
      detail::gemm_grouped_dots(M, K, A, parts.data(), int(parts.size()))) {
    for (Tensor& o : out) o.bump_version();
    return;
  }
  for (size_t i = 0; i < weights.size(); ++i) matmul_into(x_in, weights[i].transpose(0, 1), out[i]);
}

}  // namespace xla

namespace xla {

void addmm_(Tensor& c, const Tensor& a_in, const Tensor& b_in) {
  if (!c.defined() || !a_in.defined() || !b_in.defined()) fail(Status::InvalidArg, "addmm_: undefined tensor");
  if (c.ndim() != 2 || a_in.ndim() != 2 || b_in.ndim() != 2)
    fail(Status::Shape, "addmm_: c, a, b must be 2-D, got " + c.shape().str() + ", " + a_in.shape().str() + ", " +
                            b_in.shape().str());
  const int64_t M = a_in.shape()[0], K = a_in.shape()[1], N = b_in.shape()[1];
  if (b_in.shape()[0] != K || c.shape()[0] != M || c.shape()[1] != N)
    fail(Status::Shape, "addmm_: " + c.shape().str() + " += " + a_in.shape().str() + " @ " + b_in.shape().str() +
                            " does not fit");
  if (c.dtype() != DType::F32 || !c.is_contiguous()) fail(Status::DType, "addmm_: c must be a contiguous f32 tensor");
  Tensor a = a_in.dtype() == DType::F32 ? a_in : a_in.to(DType::F32);
  Tensor b = b_in.dtype() == DType::F32 || b_in.dtype() == DType::BF16 || b_in.dtype() == DType::Q8 ? b_in : b_in.to(DType::F32);
  if (c.numel() == 0 || K == 0) return;
  detail::MatRef A, B;
  if (!as_matref(a, A)) { a = a.contiguous(); as_matref(a, A); }
  if (!as_matref(b, B)) { b = b.contiguous(); as_matref(b, B); }
  detail::gemm(M, N, K, A, B, c.data<float>(), N, detail::gemm_threads(M, N, K), true);
  c.bump_version();
}

}  // namespace xla
