// EXPECT-ERROR: const_tensor_index_out_of_range
// Must not compile: row 2 of a [2, 3] tensor read in a constant expression. The bounds check
// calls a non-constexpr function, whose name is the diagnostic (at run time it throws).
#include "xla/const_tensor.hpp"

constexpr xla::ConstTensor<float, 2, 3> a{1, 2, 3, 4, 5, 6};
static_assert(a.at(2, 0) == 0);
