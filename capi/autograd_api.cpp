// autograd_api.cpp — C entry points for autograd: requires_grad flags, backward, .grad,
// grad mode, detach. Ops called through the C API record themselves (see ops_api.cpp).
#include "handles.hpp"
#include "xla/autograd.hpp"

using namespace xla;
using namespace xla::capi;

extern "C" {

xla_status xla_tensor_set_requires_grad(xla_tensor* t, int32_t on) {
  return guard("xla_tensor_set_requires_grad", [&] {
    require_ptr(t, "t");
    set_requires_grad(t->t, on != 0);
  });
}

xla_status xla_tensor_requires_grad(const xla_tensor* t, int32_t* out) {
  return guard("xla_tensor_requires_grad", [&] {
    const Tensor& x = tensor_of(t, "t");
    require_ptr(out, "out");
    *out = requires_grad(x) ? 1 : 0;
  });
}

xla_status xla_backward(xla_tensor* root) {
  return guard("xla_backward", [&] { backward(tensor_of(root, "root")); });
}

xla_status xla_backward_seeded(xla_tensor* root, const xla_tensor* seed, int32_t retain_graph) {
  return guard("xla_backward_seeded", [&] {
    const Tensor& r = tensor_of(root, "root");
    backward(r, seed ? seed->t : Tensor(), retain_graph != 0);
  });
}

xla_status xla_tensor_grad(const xla_tensor* t, xla_tensor** out) {
  return guard("xla_tensor_grad", [&] {
    const Tensor& x = tensor_of(t, "t");
    require_ptr(out, "out");
    Tensor g = grad(x);
    *out = g.defined() ? wrap(detach(g)) : nullptr;
  });
}

xla_status xla_tensor_zero_grad(xla_tensor* t) {
  return guard("xla_tensor_zero_grad", [&] {
    require_ptr(t, "t");
    zero_grad(t->t);
  });
}

xla_status xla_tensor_detach(const xla_tensor* t, xla_tensor** out) {
  return make("xla_tensor_detach", out, [&] { return detach(tensor_of(t, "t")); });
}

int32_t xla_set_grad_enabled(int32_t on) { return set_grad_enabled(on != 0) ? 1 : 0; }

int32_t xla_is_grad_enabled(void) { return is_grad_enabled() ? 1 : 0; }

}  // extern "C"
