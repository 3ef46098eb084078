// autograd.hpp — define-by-run reverse-mode autodiff over xla::Tensor, PyTorch style.
// The ops in xla::ag compute exactly what their xla:: counterparts compute and, when grad
// mode is on and an input requires grad, record a node that knows how to send gradients
// back. xla::backward walks those nodes in reverse topological order (iteratively — a chain
// of 100,000 ops is fine) and accumulates into the .grad of the leaves.
//
// Invariants (the "autograd note" other files refer to):
// - A tensor requires grad if it is a leaf marked so, or the output of a recorded op.
// - Saved tensors remember their storage version; an in-place write after saving makes
//   backward fail with Status::InvalidArg instead of giving a wrong gradient.
// - Without retain_graph, backward frees what the nodes saved; a second backward through
//   the same nodes is an error.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "xla/ops.hpp"

namespace xla {

// ---- grad mode (per thread, on by default) ----
bool is_grad_enabled();
bool set_grad_enabled(bool on);  // returns the previous value
struct NoGradGuard {
  NoGradGuard() : prev(set_grad_enabled(false)) {}
  ~NoGradGuard() { set_grad_enabled(prev); }
  bool prev;
};
struct EnableGradGuard {
  EnableGradGuard() : prev(set_grad_enabled(true)) {}
  ~EnableGradGuard() { set_grad_enabled(prev); }
  bool prev;
};

// ---- per-tensor state ----
bool requires_grad(const Tensor& t);
// Marks a leaf (a tensor no recorded op produced) as a parameter whose .grad is wanted.
// Only floating tensors can require grad. Changing the flag of an op's output is an error.
void set_requires_grad(Tensor& t, bool on);
bool is_leaf(const Tensor& t);
Tensor grad(const Tensor& t);      // the accumulated gradient (undefined if none)
void zero_grad(Tensor& t);         // forgets the accumulated gradient
// Gives a leaf a preallocated gradient buffer: contiguous f32 of the leaf's shape, usually a
// view into one flat block that an optimizer keeps for all its parameters. Backward then
// writes the leaf's gradient there — copied in by the first contribution after zero_grad,
// added in place by the others — and .grad is the buffer. A leaf that no gradient reaches
// keeps an undefined .grad; zero_grad keeps the buffer. An undefined buffer removes it (any
// tensor, never an error; .grad stays as it is).
void set_grad_buffer(Tensor& t, const Tensor& buffer);
// Adds g (the leaf's shape) into its .grad as one contribution of a backward would, into
// its gradient buffer when it has one: for gradients computed elsewhere (a compiled graph's).
void accumulate_grad(Tensor& leaf, const Tensor& g);
Tensor detach(const Tensor& t);    // same data, no history, does not require grad
std::string grad_fn_name(const Tensor& t);  // "mul", "matmul", … ("" for leaves)

// Accumulates d(root)/d(leaf) into every leaf that requires grad. `seed` is d(loss)/d(root):
// optional when root holds one element (then 1), required otherwise.
void backward(const Tensor& root, const Tensor& seed = Tensor(), bool retain_graph = false);

// Central finite differences against backward for f at `inputs` (the ones that require grad
// are checked). Perturbs each element by ±eps; passes when |analytic - numeric| <= atol +
// rtol * |numeric| everywhere. Returns "" on success, else a report naming the worst entry.
// Our compute type is f32, so eps ~1e-2..1e-3 and tolerances ~1e-2 are the right scale.
std::string gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                      double eps = 1e-3, double atol = 1e-2, double rtol = 1e-2);

// ---- custom nodes: an op of your own in the graph ----
// A fused op computes its forward with plain kernels and records ONE node for backward: a
// struct derived from autograd::Node whose named fields are the op's parameters, with its
// backward beside the forward. RMSNorm, RoPE, GeGLU (src/nn/fused.cpp) and the fused LM-head
// loss (src/train/loss.cpp) are written this way:
//
//   struct ScaleNode final : autograd::Node {   // y = x · k
//     float k = 1;
//     void backward(const Tensor& g, Tensor* gi) override { gi[0] = mul(g, Tensor::scalar(k)); }
//   };
//   Tensor scale(const Tensor& x, float k) {
//     Tensor y = mul(x, Tensor::scalar(k));
//     if (auto* n = autograd::record<ScaleNode>(y, "scale", {&x})) n->k = k;
//     return y;
//   }
//
// Tensors backward needs go through save()/saved(), never a plain field: saved() refuses a
// tensor written in place since (the invariants above), and backward without retain_graph
// frees them. Part of the C++ API, which is usable but not frozen (docs/cpp.md).
namespace autograd {

class Node;

// Where a node sends the gradient of one input: into another node, or into a leaf's .grad.
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<AutogradMeta> leaf;
  bool valid() const { return node || leaf; }
};

// A tensor kept for backward, without autograd history (saving an op's own output must not
// make a cycle output → node → output), and its storage version when saved.
struct SavedTensor {
  Tensor data;
  uint64_t version = 0;
  bool taken = false;  // handed over by Node::take_saved
};

class Node {
 public:
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  virtual ~Node();  // iterative: dropping the head of a 100,000-node chain must not recurse

  // grad is d(root)/d(this op's output), f32. Set gi[i] to d(root)/d(input i), in input i's
  // shape, for the inputs that need it; leave the others undefined. Runs under no_grad.
  virtual void backward(const Tensor& grad, Tensor* gi) = 0;

  const char* name() const { return state_.name; }
  int num_inputs() const { return int(state_.next.size()); }
  // Whether a gradient for input i is wanted (it requires grad).
  bool needs(int input) const {
    return input >= 0 && input < num_inputs() && state_.next[size_t(input)].valid();
  }
  // Keeps t for backward: an alias without history, with its storage version.
  void save(const Tensor& t) { state_.saved.push_back({t.alias(), t.version()}); }
  // Saved tensor i, in save() order; fails (InvalidArg) when it was written in place since,
  // when an earlier backward without retain_graph freed it, or when take_saved took it.
  const Tensor& saved(size_t i) const;
  // Moves saved tensor i out (asking for it again is then an error): for a node that hands
  // over a buffer it filled in forward instead of copying it.
  Tensor take_saved(size_t i);

  // The engine's per-node state (src/autograd/engine.cpp); ops never touch it.
  struct State {
    const char* name = "";
    std::vector<Edge> next;  // one per input, in the op's argument order
    std::vector<SavedTensor> saved;
    bool released = false;  // saved data freed by a backward without retain_graph
    bool untraced = false;  // recorded where a capture sees nothing: its backward is hidden too
    // valid during one backward
    uint64_t epoch = 0;
    int64_t pending = 0;
    Tensor grad_in;
  };

 private:
  friend struct Engine;
  State state_;
};

namespace detail {
// Whether a node is due: grad mode is on and some input requires grad.
bool should_record(std::initializer_list<const Tensor*> inputs);
bool should_record(const std::vector<Tensor>& inputs);
// Makes node the producer of out, with an edge per input.
void attach(Tensor& out, const char* name, std::shared_ptr<Node> node, std::initializer_list<const Tensor*> inputs);
void attach(Tensor& out, const char* name, std::shared_ptr<Node> node, const std::vector<Tensor>& inputs);
}  // namespace detail

namespace detail {
template <typename N, typename Inputs>
N* record_node(Tensor& out, const char* name, const Inputs& inputs) {
  static_assert(std::is_base_of_v<Node, N>, "record<N>: N must derive from autograd::Node");
  if (!should_record(inputs)) return nullptr;
  auto node = std::make_shared<N>();
  N* raw = node.get();
  attach(out, name, std::move(node), inputs);
  return raw;
}
}  // namespace detail

// Records `out` as the output of a new N over `inputs` (the op's arguments, in order) when
// grad mode is on and some input requires grad. Returns the node, to fill in its fields and
// save tensors, or null when nothing was recorded (then nothing is allocated). `name` (kept
// by pointer: a string literal) is what grad_fn_name() and error messages show.
template <typename N>
N* record(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs) {
  return detail::record_node<N>(out, name, inputs);
}
template <typename N>
N* record(Tensor& out, const char* name, const std::vector<Tensor>& inputs) {
  return detail::record_node<N>(out, name, inputs);
}

}  // namespace autograd

// ---- differentiable ops: the same semantics as the xla:: ops of ops.hpp ----
namespace ag {

Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);
Tensor gelu_tanh(const Tensor& x);
Tensor silu(const Tensor& x);

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);  // ties send half the gradient each way
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// Comparisons are not differentiable; these return masks that never require grad.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

Tensor sum(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
Tensor mean(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
Tensor max(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);  // ties share
Tensor min(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
Tensor logsumexp(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
Tensor var(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false, int correction = 1);
Tensor argmax(const Tensor& x, int axis, bool keepdims = false);  // not differentiable
Tensor softmax(const Tensor& x, int axis);
Tensor log_softmax(const Tensor& x, int axis);

Tensor matmul(const Tensor& a, const Tensor& b);

Tensor reshape(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const Dims& order);
Tensor transpose(const Tensor& x, int a, int b);
Tensor slice(const Tensor& x, int axis, int64_t start, int64_t stop, int64_t step = 1);
Tensor select(const Tensor& x, int axis, int64_t index);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x, int axis);
Tensor unsqueeze(const Tensor& x, int axis);
Tensor contiguous(const Tensor& x);
Tensor cast(const Tensor& x, DType dtype);  // differentiable between floating dtypes

Tensor index_select(const Tensor& x, int axis, const Tensor& index);
Tensor gather(const Tensor& x, int axis, const Tensor& index);
// Backward adds into the used rows only (index_add): no one-hot, no per-row loop over V.
Tensor embedding(const Tensor& weight, const Tensor& ids);
Tensor concat(const std::vector<Tensor>& xs, int axis);
Tensor stack(const std::vector<Tensor>& xs, int axis);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int axis);
Tensor tril(const Tensor& x, int64_t k = 0);
Tensor triu(const Tensor& x, int64_t k = 0);

// Mean cross-entropy of logits [..., C] against integer targets [...]: rows whose target
// is ignore_index count for nothing (and not in the mean); label_smoothing ε mixes the
// one-hot target with the uniform distribution (PyTorch's semantics). The backward is
// fused: softmax per row minus the smoothed target, never a one-hot or a [N, C] copy
// beyond the gradient itself. A batch where every row is ignored gives NaN (0/0), as PyTorch.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100,
                     float label_smoothing = 0.f);

}  // namespace ag
}  // namespace xla
