// tensor.hpp — the N-d tensor: a strided view (shape, strides, offset) over shared,
// reference-counted storage. Views (reshape, permute, slice, expand …) never copy;
// contiguous() and clone() are the only ways data gets copied, so costs stay visible.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "xla/dtype.hpp"
#include "xla/error.hpp"
#include "xla/shape.hpp"

namespace xla {

// A flat byte buffer (16-byte aligned; 64 from 256 KiB). Owned by shared_ptr: every view of it keeps it alive.
// Large buffers are recycled through a cache (src/tensor/block_cache.hpp).
struct Storage {
  explicit Storage(size_t nbytes);
  // Borrows a caller's buffer (never freed here): release(release_arg), when given, runs once
  // as the last view goes, so the owner (a NumPy array, a DLPack producer) can let it go.
  Storage(void* data, size_t nbytes, void (*release)(void*), void* release_arg);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data = nullptr;
  size_t nbytes = 0;    // what the tensor asked for
  size_t capacity = 0;  // what was allocated (>= nbytes)
  // Bumped by every in-place write to any view of this storage. Autograd records it when it
  // saves a tensor for backward and refuses to use the tensor if it moved (see autograd.hpp).
  uint64_t version = 0;
  bool borrowed = false;
  // Which allocation this is (1, 2, … in the process; 0 for a borrowed buffer): a capture
  // tells the buffers made while it ran from those that were there before.
  uint64_t serial = 0;
  // Q8 storage only: the f16 scale of the int8 value at byte i is q8_scales[i / 32].
  std::vector<uint16_t> q8_scales;
  // Set when `data` is a slice of a block shared with other storages (move_to_huge_pages):
  // the block goes when the last of them does.
  std::shared_ptr<void> shared_block;
  void (*release)(void*) = nullptr;
  void* release_arg = nullptr;
};

// Defined by the autograd layer (src/autograd/); the tensor layer only carries the pointer.
struct AutogradMeta;
class Tensor;

// Returns the storage blocks kept for reuse to the system; the bytes freed.
size_t release_cached_memory();
// Moves the bytes of these tensors' storages into one block on huge pages, each storage at
// its own 64-byte aligned offset; every view keeps its storage, so nothing else changes.
// For a model's weights once they are made: decode reads each of them once a token, and a
// layer's few-MB matrices on 4 KiB pages miss the TLB every 64 lines. Storages that are
// already on huge pages, borrowed or under 64 KiB stay where they are, and nothing moves
// when the rest comes to under 2 MiB. No other thread may use the tensors meanwhile.
void move_to_huge_pages(const std::vector<Tensor*>& tensors);
// How many storages this process has allocated so far (borrowed buffers not counted): a
// step's allocations are the difference across it.
uint64_t storages_created();

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (defined() is false)

  // ---- creation ----
  static Tensor empty(const Shape& shape, DType dtype = DType::F32);  // uninitialised
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  static Tensor from_data(const void* data, const Shape& shape, DType dtype);  // copies
  // Over the caller's row-major buffer, not copied (see Storage's borrowing constructor).
  static Tensor borrow(void* data, const Shape& shape, DType dtype, void (*release)(void*), void* release_arg);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);  // f32
  static Tensor scalar(float value);  // 0-d f32

  // ---- metadata ----
  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Dims& strides() const { return strides_; }  // in elements
  int64_t offset() const { return offset_; }        // in elements
  int ndim() const { return shape_.size(); }
  int64_t numel() const { return shape_.numel(); }
  int64_t size(int axis) const;  // negative axes count from the end
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;
  bool shares_storage(const Tensor& o) const { return storage_ == o.storage_; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Pointer to element [0, 0, …] (the view's offset applied). Checks the dtype.
  template <typename T> T* data();
  template <typename T> const T* data() const;
  // Q8: the scales of this view's blocks (its offset must be on a block boundary).
  const uint16_t* q8_scales() const;
  void* raw_data() { return static_cast<char*>(storage_->data) + offset_ * int64_t(dtype_size(dtype_)); }
  const void* raw_data() const { return static_cast<const char*>(storage_->data) + offset_ * int64_t(dtype_size(dtype_)); }

  // ---- copies ----
  Tensor contiguous() const;  // *this when already contiguous, else a packed copy
  Tensor clone() const;       // always a fresh packed copy
  Tensor to(DType dtype) const;  // cast (a copy, even to the same dtype: see clone)
  void copy_to(void* dst) const;  // row-major bytes of numel() * dtype_size
  std::vector<float> to_vector() const;  // values as f32, row-major, any dtype
  float item() const;  // the single element as f32

  // ---- views (no copy) ----
  Tensor view(const Shape& shape) const;     // -1 allowed once; must be expressible as a view
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a contiguous copy
  Tensor permute(const Dims& order) const;
  Tensor transpose(int a, int b) const;
  Tensor slice(int axis, int64_t start, int64_t stop, int64_t step = 1) const;  // Python rules, step > 0
  Tensor select(int axis, int64_t index) const;  // removes the axis
  Tensor expand(const Shape& shape) const;  // broadcast_to: -1 keeps a size
  Tensor squeeze() const;                   // all size-1 axes
  Tensor squeeze(int axis) const;
  Tensor unsqueeze(int axis) const;
  Tensor flatten() const { return reshape({numel()}); }

  // Low level: a view with explicit geometry over the same storage (bounds are checked).
  Tensor as_strided(const Shape& shape, const Dims& strides, int64_t offset) const;

  // A new tensor object over the same elements, without autograd history: views start
  // from this, so a view of a tensor that requires grad is, at this layer, plain data.
  Tensor alias() const;

  // ---- in place (each bumps the storage version) ----
  Tensor& copy_(const Tensor& src);  // src broadcast to this shape, converted to this dtype
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& add_(const Tensor& other, float alpha = 1.f);  // this += alpha * other (f32 only)
  Tensor& mul_(float factor);                            // f32 only
  uint64_t version() const { return storage_ ? storage_->version : 0; }
  void bump_version() { if (storage_) ++storage_->version; }

  // The autograd layer's record for this tensor (null for plain data).
  const std::shared_ptr<AutogradMeta>& autograd_meta() const { return autograd_; }
  void set_autograd_meta(std::shared_ptr<AutogradMeta> m) { autograd_ = std::move(m); }

 private:
  Tensor clone_impl() const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Dims strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::F32;
  std::shared_ptr<AutogradMeta> autograd_;
};

// Normalises a possibly negative axis against ndim; throws naming `op` when out of range.
int normalize_axis(int axis, int ndim, const char* op);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::BF16; }  // bf16 or f16: checked by size

template <typename T> T* Tensor::data() {
  constexpr DType want = dtype_of<T>();
  const bool ok = sizeof(T) == 2 ? (dtype_ == DType::BF16 || dtype_ == DType::F16) : dtype_ == want;
  if (!ok) fail(Status::DType, std::string("tensor data: tensor is ") + dtype_name(dtype_));
  return static_cast<T*>(raw_data());
}
template <typename T> const T* Tensor::data() const { return const_cast<Tensor*>(this)->data<T>(); }

// Threads used by libxla's own parallel loops (its own workers, not OpenMP's).
void set_num_threads(int n);  // <= 0: the default (XLA_NUM_THREADS, OMP_NUM_THREADS, or all cores)
int num_threads();

}  // namespace xla
