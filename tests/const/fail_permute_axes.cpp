// EXPECT-ERROR: xla::ConstTensor permute: axes must be a permutation (an axis repeats)
// Must not compile: permute<0, 0, 1>() on a [2, 3, 4] tensor names axis 0 twice and drops axis 2.
#include "xla/const_tensor.hpp"

constexpr auto a = xla::ConstTensor<float, 2, 3, 4>::iota();
constexpr auto b = a.permute<0, 0, 1>();
