// EXPECT-ERROR: xla::ConstTensor matmul: inner dimensions differ
// Must not compile: [2, 3] @ [2, 3] — the left operand's 3 columns meet 2 rows.
#include "xla/const_tensor.hpp"

constexpr xla::ConstTensor<float, 2, 3> a{1, 2, 3, 4, 5, 6};
constexpr auto c = xla::matmul(a, a);
