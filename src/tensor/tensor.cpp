// tensor.cpp — storage, tensor creation, copies and views. Views only compute new
// (shape, strides, offset) triples; data moves only in contiguous()/clone()/to().
#include "xla/tensor.hpp"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "block_cache.hpp"
#include "copy.hpp"
#include "op_trace.hpp"
#include "parallel.hpp"
#include "xla/ops.hpp"

namespace xla {

static std::atomic<uint64_t> g_storages{0};
uint64_t storages_created() { return g_storages.load(std::memory_order_relaxed); }

Storage::Storage(size_t n) : nbytes(n) {
  data = detail::acquire_block(n, &capacity);
  serial = g_storages.fetch_add(1, std::memory_order_relaxed) + 1;
}
Storage::Storage(void* d, size_t n, void (*rel)(void*), void* arg)
    : data(d), nbytes(n), capacity(n), borrowed(true), release(rel), release_arg(arg) {}
Storage::~Storage() {
  if (shared_block) return;  // the block's owner frees it
  if (!borrowed) detail::release_block(data, capacity);
  else if (release) release(release_arg);
}

void move_to_huge_pages(const std::vector<Tensor*>& tensors) {
  constexpr size_t kSmallest = size_t(64) << 10, kLeast = size_t(2) << 20;
  auto aligned = [](size_t n) { return (n + 63) / 64 * 64; };
  std::vector<Storage*> moving;
  size_t total = 0;
  for (const Tensor* t : tensors) {
    if (!t || !t->defined()) continue;
    Storage* s = t->storage().get();
    if (s->borrowed || s->shared_block || s->nbytes < kSmallest || detail::on_huge_pages(s->capacity) ||
        std::find(moving.begin(), moving.end(), s) != moving.end())
      continue;
    moving.push_back(s);
    total += aligned(s->nbytes);
  }
  if (total < kLeast) return;
  size_t capacity = 0;
  char* block = static_cast<char*>(detail::acquire_huge_block(total, &capacity));
  std::shared_ptr<void> owner(block, [capacity](void* p) { detail::release_block(p, capacity); });
  size_t offset = 0;
  for (Storage* s : moving) {
    std::memcpy(block + offset, s->data, s->nbytes);
    detail::release_block(s->data, s->capacity);
    s->data = block + offset;
    s->capacity = aligned(s->nbytes);
    s->shared_block = owner;
    offset += s->capacity;
  }
  release_cached_memory();  // the old blocks: nothing else is likely to want their sizes
}

static std::atomic<int> g_num_threads{0};

namespace detail {
OpTracer*& current_tracer() {
  thread_local OpTracer* tracer = nullptr;
  return tracer;
}
int& trace_depth() {
  thread_local int depth = 0;
  return depth;
}
}  // namespace detail

// The default thread count: XLA_NUM_THREADS, else OMP_NUM_THREADS (its first entry), as
// users of OpenMP programs expect; else every core this process may use. Read once: asking is not free.
static int default_threads() {
  for (const char* var : {"XLA_NUM_THREADS", "OMP_NUM_THREADS"}) {
    const char* v = std::getenv(var);
    if (!v || !*v) continue;
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (end != v && n > 0 && (*end == '\0' || *end == ',')) return int(std::min(n, 1024L));
  }
  cpu_set_t allowed;  // the cores this process may run on (taskset, cgroups), not the machine's
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) > 0) return CPU_COUNT(&allowed);
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

void set_num_threads(int n) { g_num_threads = n <= 0 ? 0 : n; }
int num_threads() {
  static const int fallback = default_threads();
  int n = g_num_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : fallback;
}

int normalize_axis(int axis, int ndim, const char* op) {
  int a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim)
    fail(Status::InvalidArg, op, "axis " + std::to_string(axis) + " is out of range for a " +
                                 std::to_string(ndim) + "-d tensor");
  return a;
}

static void check_shape(const Shape& shape, const char* op) {
  for (int i = 0; i < shape.size(); ++i)
    if (shape[i] < 0) fail(Status::Shape, op, "negative dimension in shape " + shape.str());
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  check_shape(shape, "empty");
  // bytes = numel · itemsize, refused past PTRDIFF_MAX (no allocation or pointer arithmetic reaches it)
  size_t bytes = 0;
  if (__builtin_mul_overflow(size_t(shape.numel()), dtype_size(dtype), &bytes) || bytes > size_t(PTRDIFF_MAX))
    fail(Status::Shape, "empty", "shape " + shape.str() + " of " + dtype_name(dtype) + " needs more than 2^63 bytes");
  Tensor t;
  t.storage_ = std::make_shared<Storage>(bytes);
  if (dtype == DType::Q8) t.storage_->q8_scales.assign((bytes + 31) / 32, 0);
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

const uint16_t* Tensor::q8_scales() const {
  if (dtype_ != DType::Q8) fail(Status::DType, "q8_scales", std::string("tensor is ") + dtype_name(dtype_) + ", not q8");
  if (offset_ % 32) fail(Status::InvalidArg, "q8_scales", "view does not start on a 32-element block");
  return storage_->q8_scales.data() + offset_ / 32;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.storage_->data, 0, t.storage_->nbytes);
  detail::trace_constant(t);
  return t;
}

Tensor Tensor::from_data(const void* data, const Shape& shape, DType dtype) {
  if (dtype == DType::Q8) fail(Status::DType, "from_data", "q8 tensors come from quantize_q8(), not from bytes");
  Tensor t = empty(shape, dtype);
  if (t.nbytes()) std::memcpy(t.storage_->data, data, t.nbytes());
  detail::trace_constant(t);
  return t;
}

Tensor Tensor::borrow(void* data, const Shape& shape, DType dtype, void (*release)(void*), void* release_arg) {
  check_shape(shape, "borrow");
  if (dtype == DType::Q8) fail(Status::DType, "borrow", "q8 tensors come from quantize_q8(), not from bytes");
  size_t bytes = 0;
  if (__builtin_mul_overflow(size_t(shape.numel()), dtype_size(dtype), &bytes) || bytes > size_t(PTRDIFF_MAX))
    fail(Status::Shape, "borrow", "shape " + shape.str() + " of " + dtype_name(dtype) + " needs more than 2^63 bytes");
  if (bytes && !data) fail(Status::InvalidArg, "borrow", "data is NULL for " + std::to_string(bytes) + " bytes");
  if (reinterpret_cast<uintptr_t>(data) % dtype_size(dtype))
    fail(Status::InvalidArg, "borrow", "data is not aligned to the " + std::to_string(dtype_size(dtype)) +
                                           "-byte elements of " + dtype_name(dtype));
  Tensor t;
  t.storage_ = std::make_shared<Storage>(data, bytes, release, release_arg);
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  if (int64_t(values.size()) != shape.numel())
    fail(Status::Shape, "from_vector: " + std::to_string(values.size()) + " values for shape " + shape.str());
  return from_data(values.data(), shape, DType::F32);
}

Tensor Tensor::scalar(float value) { return from_data(&value, Shape{}, DType::F32); }

int64_t Tensor::size(int axis) const { return shape_[normalize_axis(axis, ndim(), "size")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int i = ndim() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return alias();
  return clone();
}

Tensor Tensor::clone() const {
  return detail::traced(
      {this}, [] { return detail::OpEvent{detail::OpKind::Convert, 0, "clone", {}, false, 0, [](const std::vector<Tensor>& v) { return v[0].clone(); }}; },
      [&] { return clone_impl(); });
}

Tensor Tensor::clone_impl() const {
  if (dtype_ == DType::Q8) {
    if (!is_contiguous() || offset_ % 32)
      fail(Status::DType, "clone", "a q8 tensor is copied only whole and contiguous; convert with to(DType::F32)");
    Tensor out = empty(shape_, dtype_);
    if (numel()) std::memcpy(out.raw_data(), raw_data(), nbytes());
    std::memcpy(out.storage_->q8_scales.data(), q8_scales(), out.storage_->q8_scales.size() * sizeof(uint16_t));
    return out;
  }
  Tensor out = empty(shape_, dtype_);
  detail::copy_strided(*this, out.raw_data(), dtype_);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == DType::Q8) return quantize_q8(*this);
  return detail::traced(
      {this},
      [dtype] {
        return detail::OpEvent{detail::OpKind::Convert, 0, "to", {}, false, 0,
                               [dtype](const std::vector<Tensor>& v) { return v[0].to(dtype); }};
      },
      [&] {
        Tensor out = empty(shape_, dtype);
        detail::copy_strided(*this, out.raw_data(), dtype);
        return out;
      });
}

void Tensor::copy_to(void* dst) const { detail::copy_strided(*this, dst, dtype_); }

std::vector<float> Tensor::to_vector() const {
  std::vector<float> v(static_cast<size_t>(numel()));
  detail::copy_strided(*this, v.data(), DType::F32);
  return v;
}

float Tensor::item() const {
  if (numel() != 1) fail(Status::Shape, "item: tensor of shape " + shape_.str() + " does not hold one element");
  return to_vector()[0];
}

// ---- views ----

Tensor Tensor::alias() const {
  Tensor t;
  t.storage_ = storage_;
  t.shape_ = shape_;
  t.strides_ = strides_;
  t.offset_ = offset_;
  t.dtype_ = dtype_;
  return t;
}

Tensor Tensor::as_strided(const Shape& shape, const Dims& strides, int64_t offset) const {
  if (shape.size() != strides.size()) fail(Status::InvalidArg, "as_strided: shape and strides differ in length");
  check_shape(shape, "as_strided");
  int64_t lo = offset, hi = offset;
  if (shape.numel() > 0)
    for (int i = 0; i < shape.size(); ++i) {
      int64_t span = (shape[i] - 1) * strides[i];
      (span < 0 ? lo : hi) += span;
    }
  int64_t capacity = int64_t(storage_->nbytes / dtype_size(dtype_));
  if (offset < 0 || (shape.numel() > 0 && (lo < 0 || hi >= capacity)))
    fail(Status::InvalidArg, "as_strided: view " + shape.str() + " with strides " + strides.str() + " at offset " +
                            std::to_string(offset) + " leaves a storage of " + std::to_string(capacity) + " elements");
  Tensor t = alias();
  t.shape_ = shape;
  t.strides_ = strides;
  t.offset_ = offset;
  return t;
}

// Resolves a single -1 and checks the element count.
static Shape infer_shape(const Shape& want, int64_t numel, const Shape& have, const char* op) {
  Shape s = want;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) fail(Status::Shape, op, "more than one -1 in " + want.str());
      infer = i;
    } else if (s[i] < 0) {
      fail(Status::Shape, op, "negative dimension in " + want.str());
    } else if (__builtin_mul_overflow(known, s[i], &known)) {
      // past int64: no tensor has that many elements (nor strides for them)
      fail(Status::Shape, op, "cannot reshape " + have.str() + " into " + want.str() + ": more than 2^63 elements");
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      fail(Status::Shape, op, "cannot reshape " + have.str() + " into " + want.str());
    s[infer] = numel / known;
  }
  if (s.numel() != numel) fail(Status::Shape, op, "cannot reshape " + have.str() + " into " + want.str());
  return s;
}

// Strides that express `shape` over this view's memory without a copy, if any exist
// (the NumPy/PyTorch "compute stride" walk: match groups of old dims to groups of new dims).
static bool view_strides(const Shape& old_shape, const Dims& old_strides, const Shape& shape, Dims& out) {
  out = Dims::filled(shape.size(), 0);
  if (old_shape.numel() == 0) {
    out = contiguous_strides(shape);
    return true;
  }
  int oi = 0, ni = 0;
  const int on = old_shape.size(), nn = shape.size();
  while (ni < nn || oi < on) {
    // skip size-1 dims on either side
    if (ni < nn && shape[ni] == 1) { out[ni] = 1; ++ni; continue; }
    if (oi < on && old_shape[oi] == 1) { ++oi; continue; }
    if (ni >= nn || oi >= on) return false;
    // take a chunk of old dims that is contiguous among itself and matches a chunk of new dims
    int64_t old_prod = old_shape[oi], new_prod = shape[ni];
    int o_end = oi, n_end = ni;
    while (old_prod != new_prod) {
      if (old_prod < new_prod) {
        ++o_end;
        if (o_end >= on) return false;
        if (old_shape[o_end] == 1) continue;
        // old dims in one chunk must be laid out contiguously relative to each other
        int prev = o_end - 1;
        while (old_shape[prev] == 1) --prev;
        if (old_strides[prev] != old_strides[o_end] * old_shape[o_end]) return false;
        old_prod *= old_shape[o_end];
      } else {
        ++n_end;
        if (n_end >= nn) return false;
        new_prod *= shape[n_end];
      }
    }
    // the last old dim of the chunk gives the innermost stride
    int last = o_end;
    while (old_shape[last] == 1) --last;
    int64_t stride = old_strides[last];
    for (int k = n_end; k >= ni; --k) {
      out[k] = stride;
      stride *= shape[k];
    }
    oi = o_end + 1;
    ni = n_end + 1;
  }
  return true;
}

Tensor Tensor::view(const Shape& want) const {
  Shape s = infer_shape(want, numel(), shape_, "view");
  Dims st;
  if (!view_strides(shape_, strides_, s, st))
    fail(Status::Shape, "view: shape " + s.str() + " cannot view strided tensor " + shape_.str() + " (strides " +
                            strides_.str() + ") without a copy; use reshape");
  Tensor t = alias();
  t.shape_ = s;
  t.strides_ = st;
  return t;
}

Tensor Tensor::reshape(const Shape& want) const {
  Shape s = infer_shape(want, numel(), shape_, "reshape");
  Dims st;
  if (view_strides(shape_, strides_, s, st)) {
    Tensor t = alias();
    t.shape_ = s;
    t.strides_ = st;
    return t;
  }
  return clone().view(s);
}

Tensor Tensor::permute(const Dims& order) const {
  if (order.size() != ndim())
    fail(Status::InvalidArg, "permute", "order " + order.str() + " does not match a " + std::to_string(ndim()) + "-d tensor");
  Tensor t = alias();
  bool seen[kMaxDims] = {};
  for (int i = 0; i < ndim(); ++i) {
    int a = normalize_axis(int(order[i]), ndim(), "permute");
    if (seen[a]) fail(Status::InvalidArg, "permute", "axis " + std::to_string(a) + " repeated in " + order.str());
    seen[a] = true;
    t.shape_[i] = shape_[a];
    t.strides_[i] = strides_[a];
  }
  return t;
}

Tensor Tensor::transpose(int a, int b) const {
  a = normalize_axis(a, ndim(), "transpose");
  b = normalize_axis(b, ndim(), "transpose");
  Tensor t = alias();
  std::swap(t.shape_[a], t.shape_[b]);
  std::swap(t.strides_[a], t.strides_[b]);
  return t;
}

Tensor Tensor::slice(int axis, int64_t start, int64_t stop, int64_t step) const {
  axis = normalize_axis(axis, ndim(), "slice");
  if (step <= 0) fail(Status::InvalidArg, "slice", "step must be positive, got " + std::to_string(step));
  int64_t n = shape_[axis];
  auto clamp = [n](int64_t i) { return i < 0 ? std::max<int64_t>(i + n, 0) : std::min(i, n); };
  start = clamp(start);
  stop = clamp(stop);
  // a step past the axis takes one element at most, as a step of n does: clamping it keeps
  // step - 1 and the view's stride (stride · step) from overflowing
  step = std::min(step, std::max<int64_t>(n, 1));
  int64_t len = stop > start ? (stop - start - 1) / step + 1 : 0;  // ceil, without overflow near INT64_MAX
  Tensor t = alias();
  if (len > 0) t.offset_ += start * strides_[axis];
  t.shape_[axis] = len;
  t.strides_[axis] = strides_[axis] * step;
  return t;
}

Tensor Tensor::select(int axis, int64_t index) const {
  axis = normalize_axis(axis, ndim(), "select");
  int64_t n = shape_[axis];
  if (index < -n || index >= n)
    fail(Status::InvalidArg, "select: index " + std::to_string(index) + " out of range for axis of size " + std::to_string(n));
  if (index < 0) index += n;
  Tensor t = alias();
  t.offset_ += index * strides_[axis];
  t.shape_.erase(axis);
  t.strides_.erase(axis);
  return t;
}

Tensor Tensor::expand(const Shape& want) const {
  if (want.size() < ndim())
    fail(Status::Shape, "expand", "cannot expand " + shape_.str() + " to fewer dimensions " + want.str());
  Tensor t = alias();
  t.shape_ = want;
  t.strides_ = Dims::filled(want.size(), 0);
  int lead = want.size() - ndim();
  for (int i = 0; i < want.size(); ++i) {
    if (i < lead) {
      if (want[i] < 0) fail(Status::Shape, "expand", "-1 not allowed in new leading dimension of " + want.str());
      continue;
    }
    int64_t have = shape_[i - lead];
    int64_t w = want[i] == -1 ? have : want[i];
    t.shape_[i] = w;
    if (have == w) {
      t.strides_[i] = strides_[i - lead];
    } else if (have != 1) {
      fail(Status::Shape, "expand", "cannot broadcast " + shape_.str() + " to " + want.str());
    }
  }
  // a view, but its extents must still describe a tensor: the product (size-0 axes counted as
  // 1, as the kernels' loops over subsets of axes multiply them) fits in int64
  contiguous_strides(t.shape_);
  return t;
}

Tensor Tensor::squeeze() const {
  Tensor t = alias();
  for (int i = t.ndim() - 1; i >= 0; --i)
    if (t.shape_[i] == 1) {
      t.shape_.erase(i);
      t.strides_.erase(i);
    }
  return t;
}

Tensor Tensor::squeeze(int axis) const {
  axis = normalize_axis(axis, ndim(), "squeeze");
  if (shape_[axis] != 1)
    fail(Status::Shape, "squeeze", "axis " + std::to_string(axis) + " of " + shape_.str() + " is not of size 1");
  Tensor t = alias();
  t.shape_.erase(axis);
  t.strides_.erase(axis);
  return t;
}

Tensor Tensor::unsqueeze(int axis) const {
  axis = normalize_axis(axis, ndim() + 1, "unsqueeze");
  Tensor t = alias();
  int64_t stride = axis < ndim() ? strides_[axis] * shape_[axis] : 1;
  t.shape_.insert(axis, 1);
  t.strides_.insert(axis, stride);
  return t;
}

}  // namespace xla
