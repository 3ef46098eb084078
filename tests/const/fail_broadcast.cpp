// EXPECT-ERROR: xla::ConstTensor broadcast: shapes are not broadcast-compatible
// Must not compile: [2, 3] + [2] — trailing extents 3 and 2 differ and neither is 1.
#include "xla/const_tensor.hpp"

constexpr auto a = xla::ConstTensor<float, 2, 3>::iota();
constexpr auto b = xla::ConstTensor<float, 2>{1, 2};
constexpr auto c = a + b;
