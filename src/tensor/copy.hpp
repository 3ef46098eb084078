// copy.hpp — strided copy with dtype conversion: the one routine behind contiguous(),
// clone(), to(dtype), copy_to() and every "widen this input to f32" in the kernels.
#pragma once
#include "xla/tensor.hpp"

namespace xla::detail {

// Writes src's elements in row-major order to dst as `dst_dtype`.
void copy_strided(const Tensor& src, void* dst, DType dst_dtype);

// Throws Status::DType naming `op` when t is a Q8 (quantized weight) tensor: for the ops that
// move bytes without converting them, which would lose the block scales.
void refuse_q8(const Tensor& t, const char* op);

// src as a contiguous f32 tensor (src itself when it already is one).
Tensor as_f32_contiguous(const Tensor& src);

}  // namespace xla::detail
