// into.hpp — ops that write into a buffer the caller owns, for the compiler's replay
// (src/compile), which plans every buffer of a graph ahead and allocates none while it runs.
#pragma once
#include "xla/tensor.hpp"

namespace xla::detail {

// matmul(a, b) into out: contiguous f32 of the result's shape (checked: Status::Shape when
// the product does not fit, InvalidArg when out is not contiguous f32).
void matmul_into(const Tensor& a, const Tensor& b, Tensor& out);

}  // namespace xla::detail
