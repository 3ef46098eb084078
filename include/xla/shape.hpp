// shape.hpp — Dims: a small inline vector of up to 8 int64 extents or strides.
// Tensors are created and viewed millions of times in a training step, so shapes live
// inline (no heap) — the same choice ggml makes with its fixed ne[4]/nb[4] arrays.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

#include "xla/error.hpp"

namespace xla {

constexpr int kMaxDims = 8;

class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int64_t> v) { assign(v.begin(), v.size()); }
  explicit Dims(std::span<const int64_t> v) { assign(v.data(), v.size()); }
  static Dims filled(int n, int64_t value) {
    Dims d;
    d.resize(n);
    for (int i = 0; i < n; ++i) d.v_[i] = value;
    return d;
  }

  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t& operator[](int i) { return v_[i]; }
  int64_t operator[](int i) const { return v_[i]; }
  const int64_t* data() const { return v_.data(); }
  int64_t* data() { return v_.data(); }
  const int64_t* begin() const { return v_.data(); }
  const int64_t* end() const { return v_.data() + n_; }
  int64_t back() const { return v_[n_ - 1]; }
  std::span<const int64_t> span() const { return {v_.data(), size_t(n_)}; }

  void resize(int n) {
    if (n < 0 || n > kMaxDims) fail(Status::Shape, "a tensor has at most 8 dimensions, asked for " + std::to_string(n));
    for (int i = n_; i < n; ++i) v_[i] = 0;
    n_ = n;
  }
  void push_back(int64_t x) { resize(n_ + 1); v_[n_ - 1] = x; }
  void insert(int pos, int64_t x) {
    resize(n_ + 1);
    for (int i = n_ - 1; i > pos; --i) v_[i] = v_[i - 1];
    v_[pos] = x;
  }
  void erase(int pos) {
    for (int i = pos; i + 1 < n_; ++i) v_[i] = v_[i + 1];
    --n_;
  }

  // The product of the extents; a product past int64 is a Status::Shape error, never a
  // wrapped count that would size a too-small buffer.
  int64_t numel() const {
    int64_t p = 1;
    for (int i = 0; i < n_; ++i)
      if (__builtin_mul_overflow(p, v_[i], &p)) fail(Status::Shape, "shape " + str() + " holds more than 2^63 elements");
    return p;
  }
  friend bool operator==(const Dims& a, const Dims& b) {
    return a.n_ == b.n_ && std::equal(a.begin(), a.end(), b.begin());
  }
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < n_; ++i) s += (i ? ", " : "") + std::to_string(v_[i]);
    return s + "]";
  }

 private:
  void assign(const int64_t* p, size_t n) {
    resize(int(std::min<size_t>(n, size_t(kMaxDims) + 1)));
    std::copy(p, p + n, v_.begin());
  }
  std::array<int64_t, kMaxDims> v_{};
  int n_ = 0;
};

using Shape = Dims;

// Row-major (C-order) strides, in elements. A size-0 axis counts as 1 (the strides stay
// meaningful), and the extents' product so counted must fit in int64 too, since kernels
// multiply subsets of the axes: [2^62, 0, 2^62] holds no element, yet is Status::Shape.
inline Dims contiguous_strides(const Dims& shape) {
  Dims s = Dims::filled(shape.size(), 1);
  int64_t all = 1;
  for (int i = shape.size() - 1; i >= 0; --i) {
    if (i + 1 < shape.size()) s[i] = all;
    if (__builtin_mul_overflow(all, std::max<int64_t>(shape[i], 1), &all))
      fail(Status::Shape, "shape " + shape.str() + ": its extents (size-0 axes counted as 1) multiply past 2^63");
  }
  return s;
}

}  // namespace xla
