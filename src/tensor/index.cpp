// index.cpp — index_select, gather, embedding, concat, stack, split, tril and triu.
// These move elements without arithmetic, so they keep the input's dtype and copy bytes.
#include <cstring>

#include "copy.hpp"
#include "strided.hpp"
#include "op_trace.hpp"
#include "xla/ops.hpp"

namespace xla {
namespace {

void require(const Tensor& t, const char* op) {
  if (!t.defined()) fail(Status::InvalidArg, op, "undefined tensor");
}

// Index values as int64, checked against [0, n).
std::vector<int64_t> read_indices(const Tensor& index, int64_t n, const char* op) {
  if (index.dtype() != DType::I32 && index.dtype() != DType::I64)
    fail(Status::DType, op, std::string("index must be i32 or i64, got ") + dtype_name(index.dtype()));
  std::vector<int64_t> idx(static_cast<size_t>(index.numel()));
  detail::copy_strided(index, idx.data(), DType::I64);
  for (int64_t v : idx)
    if (v < 0 || v >= n)
      fail(Status::InvalidArg, op, "index " + std::to_string(v) + " is out of range [0, " +
                                   std::to_string(n) + ")");
  return idx;
}

int64_t prod(const Shape& s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= s[i];
  return p;
}

template <typename E>
void gather_typed(const Tensor& x, const Tensor& index, int axis, const std::vector<int64_t>& idx, Tensor& out) {
  Dims xs = x.strides();
  const int64_t axis_stride = xs[axis];
  xs[axis] = 0;
  // walk the index's shape: operand 0 = out (packed), 1 = positions in idx (packed), 2 = x
  Shape shape = index.shape();
  Dims packed = contiguous_strides(shape);
  detail::Walk<3> w(shape, {packed, packed, xs});
  const E* src = static_cast<const E*>(x.raw_data());
  E* dst = static_cast<E*>(out.raw_data());
  const int64_t sx = w.inner_stride(2);
  w.runs(0, w.numel(), [&](const int64_t* off, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[off[0] + i] = src[off[2] + i * sx + idx[off[1] + i] * axis_stride];
  });
}

}  // namespace

// index_select under the name of the op that called it (embedding errors say "embedding"),
// into `into` (the result's shape and dtype, packed) when given.
static Tensor select_rows(const Tensor& x, int axis, const Tensor& index, const char* op, const Tensor* into = nullptr) {
  require(x, op);
  require(index, op);
  detail::refuse_q8(x, op);
  if (index.ndim() != 1) fail(Status::Shape, op, "index must be 1-D, got " + index.shape().str());
  if (x.ndim() == 0) fail(Status::Shape, op, "input is 0-d");
  axis = normalize_axis(axis, x.ndim(), op);
  std::vector<int64_t> idx = read_indices(index, x.shape()[axis], op);
  Shape shape = x.shape();
  shape[axis] = int64_t(idx.size());
  Tensor out = into ? into->view(shape) : Tensor::empty(shape, x.dtype());
  Tensor xc = x.contiguous();
  const int64_t outer = prod(x.shape(), 0, axis), inner = prod(x.shape(), axis + 1, x.ndim());
  const int64_t n = x.shape()[axis], L = int64_t(idx.size());
  const size_t row = size_t(inner) * dtype_size(x.dtype());
  const char* src = static_cast<const char*>(xc.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  detail::parallel_for(outer * L, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      int64_t o = k / L, j = k % L;
      std::memcpy(dst + size_t(k) * row, src + size_t(o * n + idx[size_t(j)]) * row, row);
    }
  });
  return out;
}

// Rows `ids` of a Q8 matrix, dequantized to f32 (into `into`, packed f32, when given).
static Tensor q8_rows(const Tensor& table, const Tensor& ids, const char* op, const Tensor* into = nullptr) {
  const int64_t V = table.shape()[0], D = table.shape()[1];
  if (table.strides()[1] != 1 || table.strides()[0] % 32 || table.offset() % 32)
    fail(Status::Shape, op, "a q8 table must be a whole quantized matrix, got a view of " + table.shape().str());
  std::vector<int64_t> idx = read_indices(ids, V, op);
  Tensor out = into ? into->view({int64_t(idx.size()), D}) : Tensor::empty({int64_t(idx.size()), D});
  const int8_t* q = static_cast<const int8_t*>(table.raw_data());
  const uint16_t* scales = table.q8_scales();
  float* o = out.data<float>();
  const int64_t stride = table.strides()[0];
  detail::parallel_for(int64_t(idx.size()), 64, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t at = idx[size_t(r)] * stride;
      for (int64_t j = 0; j < D; ++j) o[r * D + j] = float(q[at + j]) * f16_to_f32(scales[(at + j) / 32]);
    }
  });
  return out;
}

static Tensor index_select_impl(const Tensor& x, int axis, const Tensor& index) {
  return select_rows(x, axis, index, "index_select");
}

static Tensor gather_impl(const Tensor& x, int axis, const Tensor& index) {
  require(x, "gather");
  require(index, "gather");
  detail::refuse_q8(x, "gather");
  if (index.ndim() != x.ndim())
    fail(Status::Shape, "gather", "index " + index.shape().str() + " must have as many dimensions as input " + x.shape().str());
  if (x.ndim() == 0) fail(Status::Shape, "gather", "input is 0-d");
  axis = normalize_axis(axis, x.ndim(), "gather");
  for (int d = 0; d < x.ndim(); ++d)
    if (d != axis && index.shape()[d] > x.shape()[d])
      fail(Status::Shape, "gather", "index " + index.shape().str() + " is larger than input " + x.shape().str() +
                              " in dimension " + std::to_string(d));
  std::vector<int64_t> idx = read_indices(index, x.shape()[axis], "gather");
  Tensor out = Tensor::empty(index.shape(), x.dtype());
  if (out.numel() == 0) return out;
  switch (dtype_size(x.dtype())) {
    case 1: gather_typed<uint8_t>(x, index, axis, idx, out); break;
    case 2: gather_typed<uint16_t>(x, index, axis, idx, out); break;
    case 4: gather_typed<uint32_t>(x, index, axis, idx, out); break;
    default: gather_typed<uint64_t>(x, index, axis, idx, out); break;
  }
  return out;
}

// The rows of weight [V, D] that ids pick, [..., D], into `into` (that shape, packed; f32
// for a q8 table, else the table's dtype) when given.
static Tensor embedding_impl(const Tensor& weight, const Tensor& ids, const Tensor* into = nullptr) {
  require(weight, "embedding");
  require(ids, "embedding");
  if (weight.ndim() != 2) fail(Status::Shape, "embedding", "weight must be [vocab, dim], got " + weight.shape().str());
  Shape shape = ids.shape();
  shape.push_back(weight.shape()[1]);
  if (weight.dtype() == DType::Q8) return q8_rows(weight, ids, "embedding", into).view(shape);
  return select_rows(weight, 0, ids.reshape({ids.numel()}), "embedding", into).view(shape);
}

void index_add_(Tensor& out, int axis, const Tensor& index, const Tensor& src) {
  require(out, "index_add_");
  require(index, "index_add");
  require(src, "index_add");
  if (out.dtype() != DType::F32 || !out.is_contiguous()) fail(Status::DType, "index_add_: out must be contiguous f32");
  const Shape& shape = out.shape();
  if (index.ndim() != 1) fail(Status::Shape, "index_add: index must be 1-D, got " + index.shape().str());
  axis = normalize_axis(axis, shape.size(), "index_add");
  Shape want = shape;
  want[axis] = index.numel();
  if (!(src.shape() == want))
    fail(Status::Shape, "index_add: source " + src.shape().str() + " should be " + want.str());
  std::vector<int64_t> idx = read_indices(index, shape[axis], "index_add");
  Tensor s = detail::as_f32_contiguous(src);
  const int64_t outer = prod(shape, 0, axis), inner = prod(shape, axis + 1, shape.size());
  const int64_t n = shape[axis], L = int64_t(idx.size());
  const float* ps = s.data<float>();
  float* po = out.data<float>();
  // Parallel over the outer/inner extent only: two rows of one index never race.
  detail::parallel_for(inner, 4096, [&](int64_t b, int64_t e) {
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < L; ++j) {
        float* dst = po + (o * n + idx[size_t(j)]) * inner;
        const float* x = ps + (o * L + j) * inner;
        for (int64_t i = b; i < e; ++i) dst[i] += x[i];
      }
  });
  out.bump_version();
}

void index_copy_(Tensor& out, int axis, const Tensor& index, const Tensor& src) {
  require(out, "index_copy_");
  require(index, "index_copy_");
  require(src, "index_copy_");
  if (index.ndim() != 1) fail(Status::Shape, "index_copy_: index must be 1-D, got " + index.shape().str());
  axis = normalize_axis(axis, out.ndim(), "index_copy_");
  Shape want = out.shape();
  want[axis] = index.numel();
  if (!(src.shape() == want))
    fail(Status::Shape, "index_copy_: source " + src.shape().str() + " should be " + want.str());
  detail::traced_effect(
      out, {&index, &src},
      [axis] {
        return detail::other_event("index_copy_", [axis](const std::vector<Tensor>& v) {
          Tensor o = v[0];
          index_copy_(o, axis, v[1], v[2]);
          return Tensor();
        });
      },
      [&] {
        std::vector<int64_t> idx = read_indices(index, out.shape()[axis], "index_copy_");
        if (out.is_contiguous() && src.is_contiguous() && out.dtype() == src.dtype()) {
          // runs of `inner` elements, one per outer index and source row (a decode step's new
          // key into the cache: a few hundred floats, where a view and a copy per row cost
          // more than the copying)
          const int64_t outer = prod(out.shape(), 0, axis), inner = prod(out.shape(), axis + 1, out.ndim());
          const int64_t n = out.shape()[axis], rows = int64_t(idx.size());
          const size_t bytes = size_t(inner) * dtype_size(out.dtype());
          char* po = static_cast<char*>(out.raw_data());
          const char* ps = static_cast<const char*>(src.raw_data());
          for (int64_t o = 0; o < outer; ++o)
            for (int64_t j = 0; j < rows; ++j)
              std::memcpy(po + size_t(o * n + idx[size_t(j)]) * bytes, ps + size_t(o * rows + j) * bytes, bytes);
          out.bump_version();
          return;
        }
        for (size_t j = 0; j < idx.size(); ++j)
          out.slice(axis, idx[j], idx[j] + 1).copy_(src.slice(axis, int64_t(j), int64_t(j) + 1));
      });
}

static Tensor scatter_add_impl(const Shape& shape, int axis, const Tensor& index, const Tensor& src) {
  require(index, "scatter_add");
  require(src, "scatter_add");
  if (!(index.shape() == src.shape()))
    fail(Status::Shape, "scatter_add: index " + index.shape().str() + " and source " + src.shape().str() + " differ");
  if (index.ndim() != shape.size())
    fail(Status::Shape, "scatter_add: index " + index.shape().str() + " does not match the rank of " + shape.str());
  axis = normalize_axis(axis, shape.size(), "scatter_add");
  for (int d = 0; d < shape.size(); ++d)
    if (d != axis && index.shape()[d] > shape[d])
      fail(Status::Shape, "scatter_add: index " + index.shape().str() + " is larger than " + shape.str());
  std::vector<int64_t> idx = read_indices(index, shape[axis], "scatter_add");
  Tensor out = Tensor::zeros(shape, DType::F32);
  if (index.numel() == 0) return out;
  Tensor s = detail::as_f32_contiguous(src);
  Dims os = out.strides();
  const int64_t axis_stride = os[axis];
  os[axis] = 0;
  Dims packed = contiguous_strides(index.shape());
  detail::Walk<2> w(index.shape(), {packed, os});  // serial: several sources may hit one element
  const float* ps = s.data<float>();
  float* po = out.data<float>();
  w.runs(0, w.numel(), [&](const int64_t* off, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      po[off[1] + i * w.inner_stride(1) + idx[size_t(off[0] + i)] * axis_stride] += ps[off[0] + i];
  });
  return out;
}

// The shape of concat's result, the inputs checked; `axis` normalised.
static Shape concat_shape(const std::vector<Tensor>& xs, int& axis) {
  if (xs.empty()) fail(Status::InvalidArg, "concat", "no tensors");
  for (const Tensor& t : xs) require(t, "concat");
  const Tensor& first = xs[0];
  if (first.ndim() == 0) fail(Status::Shape, "concat", "0-d tensors cannot be concatenated; use stack");
  axis = normalize_axis(axis, first.ndim(), "concat");
  Shape shape = first.shape();
  shape[axis] = 0;
  detail::refuse_q8(first, "concat");
  for (const Tensor& t : xs) {
    if (t.dtype() != first.dtype())
      fail(Status::DType, "concat", std::string("dtypes differ: ") + dtype_name(first.dtype()) + " and " + dtype_name(t.dtype()));
    bool ok = t.ndim() == first.ndim();
    for (int d = 0; ok && d < t.ndim(); ++d) ok = d == axis || t.shape()[d] == first.shape()[d];
    if (!ok) fail(Status::Shape, "concat", "shapes " + first.shape().str() + " and " + t.shape().str() +
                                     " differ outside axis " + std::to_string(axis));
    if (__builtin_add_overflow(shape[axis], t.shape()[axis], &shape[axis]))
      fail(Status::Shape, "concat", "axis " + std::to_string(axis) + " of the result would hold more than 2^63 elements");
  }
  return shape;
}

// xs laid end to end along `axis` into out (contiguous, of concat_shape's shape).
static void concat_into(const std::vector<Tensor>& xs, int axis, Tensor& out) {
  int a = axis;
  const Shape shape = concat_shape(xs, a);
  if (out.numel() == 0) return;  // nothing to copy (and `outer` may be near 2^63)
  const size_t es = dtype_size(out.dtype());
  const int64_t outer = prod(shape, 0, a), inner = prod(shape, a + 1, shape.size());
  const size_t out_row = size_t(shape[a] * inner) * es;
  char* dst = static_cast<char*>(out.raw_data());
  size_t col = 0;
  for (const Tensor& t : xs) {
    Tensor c = t.contiguous();
    const size_t chunk = size_t(t.shape()[a] * inner) * es;
    const char* src = static_cast<const char*>(c.raw_data());
    for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + size_t(o) * out_row + col, src + size_t(o) * chunk, chunk);
    col += chunk;
  }
}

static Tensor stack_impl(const std::vector<Tensor>& xs, int axis) {
  if (xs.empty()) fail(Status::InvalidArg, "stack", "no tensors");
  for (const Tensor& t : xs) {
    require(t, "stack");
    if (!(t.shape() == xs[0].shape()))
      fail(Status::Shape, "stack", "shapes " + xs[0].shape().str() + " and " + t.shape().str() + " differ");
  }
  axis = normalize_axis(axis, xs[0].ndim() + 1, "stack");
  std::vector<Tensor> us;
  us.reserve(xs.size());
  for (const Tensor& t : xs) us.push_back(t.unsqueeze(axis));
  return concat(us, axis);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int axis) {
  require(x, "split");
  if (x.ndim() == 0) fail(Status::Shape, "split", "input is 0-d");
  axis = normalize_axis(axis, x.ndim(), "split");
  const int64_t n = x.shape()[axis];
  std::vector<int64_t> parts = sizes;
  if (sizes.size() == 1) {  // one size: equal pieces, the last may be smaller
    if (sizes[0] <= 0) fail(Status::InvalidArg, "split", "piece size must be positive, got " + std::to_string(sizes[0]));
    parts.clear();
    for (int64_t s = 0; s < n; s += sizes[0]) parts.push_back(std::min(sizes[0], n - s));
    if (n == 0) parts.push_back(0);
  }
  int64_t total = 0;
  for (int64_t s : parts) {
    if (s < 0) fail(Status::InvalidArg, "split", "negative piece size " + std::to_string(s));
    if (__builtin_add_overflow(total, s, &total))
      fail(Status::Shape, "split", "piece sizes sum past 2^63");
  }
  if (total != n)
    fail(Status::Shape, "split", "sizes sum to " + std::to_string(total) + " but axis " + std::to_string(axis) + " of " +
                            x.shape().str() + " has " + std::to_string(n));
  std::vector<Tensor> out;
  int64_t start = 0;
  for (int64_t s : parts) {
    out.push_back(x.slice(axis, start, start + s));
    start += s;
  }
  return out;
}

static Tensor triangle(const Tensor& x, int64_t k, bool lower, const char* op) {
  require(x, op);
  if (x.ndim() < 2) fail(Status::Shape, op, "needs at least 2 dimensions, got " + x.shape().str());
  Tensor out = x.clone();
  const int64_t R = x.shape()[x.ndim() - 2], C = x.shape().back();
  const int64_t mats = (R > 0 && C > 0) ? out.numel() / (R * C) : 0;
  const size_t es = dtype_size(x.dtype());
  char* p = static_cast<char*>(out.raw_data());
  for (int64_t m = 0; m < mats; ++m)
    for (int64_t r = 0; r < R; ++r) {
      // tril keeps c - r <= k: zero columns [r + k + 1, C); triu keeps c - r >= k: zero [0, r + k)
      int64_t lo = lower ? std::clamp<int64_t>(r + k + 1, 0, C) : 0;
      int64_t hi = lower ? C : std::clamp<int64_t>(r + k, 0, C);
      char* row = p + size_t((m * R + r) * C) * es;
      if (hi > lo) std::memset(row + size_t(lo) * es, 0, size_t(hi - lo) * es);
    }
  return out;
}

// ---- the public ops: each reports itself to a capture (op_trace.hpp), replayed by closure ----

using detail::other_event;
using detail::traced;
using Args = std::vector<Tensor>;

Tensor index_select(const Tensor& x, int axis, const Tensor& index) {
  return traced(
      {&x, &index},
      [axis] {
        return other_event("index_select", [axis](const Args& v) { return index_select_impl(v[0], axis, v[1]); });
      },
      [&] { return index_select_impl(x, axis, index); });
}
Tensor gather(const Tensor& x, int axis, const Tensor& index) {
  return traced(
      {&x, &index},
      [axis] { return other_event("gather", [axis](const Args& v) { return gather_impl(v[0], axis, v[1]); }); },
      [&] { return gather_impl(x, axis, index); });
}
Tensor embedding(const Tensor& weight, const Tensor& ids) {
  // a capture replays it into a planned buffer (op_trace.hpp)
  auto into = [](const std::vector<Tensor>& in, std::vector<Tensor>& out) { embedding_impl(in[0], in[1], &out[0]); };
  auto results = [](const std::vector<Tensor>& in) {
    Shape shape = in[1].shape();
    shape.push_back(in[0].shape()[1]);
    return std::vector<Tensor>{Tensor::empty(shape, in[0].dtype() == DType::Q8 ? DType::F32 : in[0].dtype())};
  };
  return detail::traced_multi(
      {weight, ids}, [&] { return detail::multi_event_into("embedding", into, results); },
      [&] { return std::vector<Tensor>{embedding_impl(weight, ids)}; })[0];
}
Tensor index_add(const Shape& shape, int axis, const Tensor& index, const Tensor& src) {
  // into a result of `shape` zeroed in place: a replayed graph (an embedding's backward)
  // writes it into a planned buffer
  auto into = [axis](const Args& v, std::vector<Tensor>& out) {
    if (Tensor* o = detail::wanted(out, 0)) index_add_(o->zero_(), axis, v[0], v[1]);
  };
  auto result = [shape](const Args&) { return std::vector<Tensor>{Tensor::empty(shape)}; };
  return detail::traced_into("index_add", {index, src}, into, result)[0];
}
Tensor scatter_add(const Shape& shape, int axis, const Tensor& index, const Tensor& src) {
  return traced(
      {&index, &src},
      [&shape, axis] {
        return other_event("scatter_add",
                           [shape, axis](const Args& v) { return scatter_add_impl(shape, axis, v[0], v[1]); });
      },
      [&] { return scatter_add_impl(shape, axis, index, src); });
}
Tensor concat(const std::vector<Tensor>& xs, int axis) {
  // into a result it is given: a replay (attention's blocks of queries joined) writes into
  // a planned buffer
  auto into = [axis](const Args& v, std::vector<Tensor>& out) {
    if (Tensor* o = detail::wanted(out, 0)) concat_into(v, axis, *o);
  };
  auto result = [axis](const Args& v) {
    int a = axis;
    const Shape shape = concat_shape(v, a);
    return std::vector<Tensor>{Tensor::empty(shape, v[0].dtype())};
  };
  return detail::traced_into("concat", xs, into, result)[0];
}
Tensor stack(const std::vector<Tensor>& xs, int axis) {
  return detail::traced_list(
      xs, [axis] { return other_event("stack", [axis](const Args& v) { return stack_impl(v, axis); }); },
      [&] { return stack_impl(xs, axis); });
}
Tensor tril(const Tensor& x, int64_t k) {
  return traced(
      {&x}, [k] { return other_event("tril", [k](const Args& v) { return triangle(v[0], k, true, "tril"); }); },
      [&] { return triangle(x, k, true, "tril"); });
}
Tensor triu(const Tensor& x, int64_t k) {
  return traced(
      {&x}, [k] { return other_event("triu", [k](const Args& v) { return triangle(v[0], k, false, "triu"); }); },
      [&] { return triangle(x, k, false, "triu"); });
}

}  // namespace xla
