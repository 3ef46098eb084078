// state.cpp — MambaState: per layer the conv window and the SSM state of a batch of
// sequences. Fixed size; a copy is a copy of 2 · layers small tensors.
#include "xla/mamba.hpp"

namespace xla {

size_t MambaState::nbytes() const {
  size_t n = 0;
  for (const Tensor& t : conv) n += t.defined() ? t.nbytes() : 0;
  for (const Tensor& t : ssm) n += t.defined() ? t.nbytes() : 0;
  return n;
}

std::unique_ptr<ModelState> MambaState::clone() const {
  auto out = std::make_unique<MambaState>();
  out->batch = batch;
  out->seen = seen;
  for (const Tensor& t : conv) out->conv.push_back(t.defined() ? t.clone() : Tensor());
  for (const Tensor& t : ssm) out->ssm.push_back(t.defined() ? t.clone() : Tensor());
  return out;
}

}  // namespace xla
