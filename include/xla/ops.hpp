// ops.hpp — tensor operations. Every op returns a new tensor and leaves its inputs alone.
// Binary and ternary ops broadcast as NumPy does. Floating ops compute in f32: bf16/f16
// (and integer) inputs are widened to f32 and the result is f32. Comparisons give u8 masks.
#pragma once
#include <cstdint>
#include <vector>

#include "xla/tensor.hpp"

namespace xla {

// ---- elementwise, unary ----
Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);       // exact: x/2 (1 + erf(x/√2))
Tensor gelu_tanh(const Tensor& x);  // tanh approximation (Gemma's hidden activation)
Tensor silu(const Tensor& x);

// ---- elementwise, binary (broadcasting) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
// Comparisons → u8 (1 where true).
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
// cond ? a : b, all three broadcast; cond of any dtype (nonzero = true).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// Output shape of broadcasting a with b (throws Status::Shape naming `op`).
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// ---- reductions: axes empty = all axes; negative axes allowed ----
Tensor sum(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
Tensor mean(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
Tensor max(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
Tensor min(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
Tensor logsumexp(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
// Variance with Bessel's correction by default (PyTorch's torch.var); correction=0 is NumPy's.
Tensor var(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false, int correction = 1);
// Index (i64) of the first maximum along one axis.
Tensor argmax(const Tensor& x, int axis, bool keepdims = false);

// ---- along an axis ----
Tensor softmax(const Tensor& x, int axis);
Tensor log_softmax(const Tensor& x, int axis);

// ---- linear algebra ----
// NumPy matmul: 1-D operands are promoted and the added axis removed; batch dims broadcast.
// Transposed views are consumed in place (no copy) when one of their last two strides is 1.
Tensor matmul(const Tensor& a, const Tensor& b);
// c += a @ b in place, 2-D only, c contiguous f32 (torch.addmm_): sums products over chunks
// without a temporary the size of c.
void addmm_(Tensor& c, const Tensor& a, const Tensor& b);

// ---- quantized weights ----
// w (f32, bf16 or f16, last axis a multiple of 32) in blocks of 32 along the last axis as int8
// with an f16 scale each: scale = max|w| / 127 over the block, q = round(w / scale), ties
// away from zero (a block of zeros has scale 0). The Q8 result is read by matmul (as B),
// embedding and to(); dequantized, each element is within scale / 2 of w.
Tensor quantize_q8(const Tensor& w);

// ---- indexing ----
Tensor index_select(const Tensor& x, int axis, const Tensor& index);  // index: 1-D i32/i64
Tensor gather(const Tensor& x, int axis, const Tensor& index);        // torch.gather
Tensor embedding(const Tensor& weight, const Tensor& ids);            // weight [V, D], ids any shape → [..., D]

// out = zeros of `shape`, then out[index[i]] += src[i] along axis (index 1-D, src's axis
// extent = len(index)): the backward of index_select / embedding.
Tensor index_add(const Shape& shape, int axis, const Tensor& index, const Tensor& src);
// The same into an existing contiguous f32 tensor (out += …), in place.
void index_add_(Tensor& out, int axis, const Tensor& index, const Tensor& src);
// out[index[i]] = src[i] along axis, in place (torch.index_copy_; src converted to out's
// dtype). The positions are values, not arguments: a capture records the write as an
// effect on out, replayed with each run's indices, so a compiled step can write into a
// buffer that outlives it (a KV cache) at a position known only when it runs.
void index_copy_(Tensor& out, int axis, const Tensor& index, const Tensor& src);
// out = zeros of `shape`, then out[..., index[...], ...] += src[...] (torch.scatter_add with
// src of index's shape): the backward of gather.
Tensor scatter_add(const Shape& shape, int axis, const Tensor& index, const Tensor& src);
// Sums x down to `shape` (which x's shape broadcasts from): the gradient of a broadcast.
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- joining and splitting ----
Tensor concat(const std::vector<Tensor>& xs, int axis);
Tensor stack(const std::vector<Tensor>& xs, int axis);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int axis);  // views

// ---- triangles: keep elements with col - row <= k (tril) or >= k (triu) on the last two axes ----
Tensor tril(const Tensor& x, int64_t k = 0);
Tensor triu(const Tensor& x, int64_t k = 0);

// ---- factories ----
Tensor arange(double start, double stop, double step = 1.0, DType dtype = DType::F32);
Tensor full(const Shape& shape, double value, DType dtype = DType::F32);
Tensor cast(const Tensor& x, DType dtype);

// Counter-based generator: element i of a draw depends only on (seed, offset + i), so the
// numbers are the same whatever the thread count. Each draw advances the offset.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; }
  uint64_t advance(uint64_t n) { uint64_t o = offset_; offset_ += n; return o; }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};
Tensor randn(const Shape& shape, Generator& gen, float mean = 0.f, float stddev = 1.f);
Tensor rand(const Shape& shape, Generator& gen, float low = 0.f, float high = 1.f);

}  // namespace xla
