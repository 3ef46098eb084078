// nn_includes_autograd_node.cpp — must NOT compile (ctest layers.private_headers): a file of
// the nn layer naming a private header of the autograd layer. Fused ops use the public
// custom-node API of xla/autograd.hpp instead.
#include "node.hpp"
