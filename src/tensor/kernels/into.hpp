// into.hpp — ops that write into a buffer the caller owns, for the compiler's replay
// (src/compile), which plans every buffer of a graph ahead and allocates none while it runs.
#pragma once
#include <vector>

#include "xla/tensor.hpp"

namespace xla::detail {

// matmul(a, b) into out: contiguous f32 of the result's shape (checked: Status::Shape when
// the product does not fit, InvalidArg when out is not contiguous f32).
void matmul_into(const Tensor& a, const Tensor& b, Tensor& out);

// x · w_iᵀ for each weight w_i [N_i, K] into out[i] (contiguous f32 [..., N_i]): for a few
// rows, one split of all the weights' rows across the cores (one parallel region, not one a
// weight), else one matmul_into each; the same bits either way.
void linears_into(const Tensor& x, const std::vector<Tensor>& weights, std::vector<Tensor>& out);

// t's numel() values in row-major order into dst as int64, converted on the way (any
// layout, i32 or i64): a kernel reads token ids this way without making a tensor.
void copy_as_i64(const Tensor& t, int64_t* dst);

}  // namespace xla::detail
