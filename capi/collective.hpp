// collective.hpp — an xla_collective (the C struct of callbacks) as an xla::Collective, for the
// trainers' data-parallel options and the pipeline model. Internal to capi/.
#pragma once
#include <memory>

#include "xla/collective.hpp"
#include "xla/xla.h"

namespace xla::capi {

// Copies *c after checking its struct_size, rank and world size, and that the callbacks
// `needs` are set ("all_reduce": the two all-reduces; "pipeline": every callback):
// Status::InvalidArg naming what is wrong. A callback's error status is thrown as that status,
// naming the callback. Null c: null.
std::unique_ptr<Collective> collective_from_c(const xla_collective* c, const char* needs);

}  // namespace xla::capi
