// EXPECT-ERROR: xla::ConstTensor reshape: element count differs (numel must match)
// Must not compile: [2, 3] (6 elements) reshaped to [4, 2] (8 elements).
#include "xla/const_tensor.hpp"

constexpr auto a = xla::ConstTensor<float, 2, 3>::iota();
constexpr auto b = a.reshape<4, 2>();
