// node.hpp — the autograd layer's own view of the graph: AutogradMeta (per tensor), the
// engine's access to a node's state, and OpNode, the node of a built-in op (typed parameters
// plus a backward written inline beside the forward). Private to src/autograd/; other layers
// write custom nodes with the public API of xla/autograd.hpp.
#pragma once
#include <memory>

#include "xla/autograd.hpp"

namespace xla {

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;                              // accumulated gradient (leaves only)
  Tensor grad_buffer;                       // where backward writes it when set (set_grad_buffer); .grad is then this
  std::shared_ptr<autograd::Node> grad_fn;  // the op that produced this tensor; null for leaves
};

namespace autograd {

// The engine's door into Node's private state (engine.cpp, and embedding's in-place add).
struct Engine {
  static Node::State& state(Node& n) { return n.state_; }
  static const Node::State& state(const Node& n) { return n.state_; }
};

// The node of a built-in op: its parameters P, a struct of named fields (the input's shape,
// the reduced axes …), and a backward function, a captureless lambda beside the forward.
struct NoParams {};
template <typename P>
struct OpNode final : Node {
  using Fn = void (*)(OpNode& n, const Tensor& grad, Tensor* gi);
  Fn fn = nullptr;
  P p{};
  void backward(const Tensor& grad, Tensor* gi) override { fn(*this, grad, gi); }
};

template <typename P = NoParams>
OpNode<P>* record_op(Tensor& out, const char* name, typename OpNode<P>::Fn fn,
                     std::initializer_list<const Tensor*> inputs) {
  OpNode<P>* n = record<OpNode<P>>(out, name, inputs);
  if (n) n->fn = fn;
  return n;
}
template <typename P = NoParams>
OpNode<P>* record_op(Tensor& out, const char* name, typename OpNode<P>::Fn fn, const std::vector<Tensor>& inputs) {
  OpNode<P>* n = record<OpNode<P>>(out, name, inputs);
  if (n) n->fn = fn;
  return n;
}

// Parameters several built-in ops share.
struct InputShape {
  Shape x;  // the input's shape, which the gradient is brought back to
};
struct BinaryShapes {
  Shape a, b;  // the two operands' shapes, which broadcasting gradients are summed back to
};

}  // namespace autograd
}  // namespace xla
