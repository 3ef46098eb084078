// EXPECT-ERROR: xla::ConstTensor matmul: batch dimensions are not broadcast-compatible
// Must not compile: [2, 2, 3] @ [3, 3, 4] — the matrices fit (3 == 3) but batch 2 vs 3 does not broadcast.
#include "xla/const_tensor.hpp"

constexpr auto a = xla::ConstTensor<float, 2, 2, 3>::iota();
constexpr auto b = xla::ConstTensor<float, 3, 3, 4>::iota();
constexpr auto c = xla::matmul(a, b);
