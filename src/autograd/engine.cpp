// engine.cpp — grad mode, per-tensor autograd state, recording, and backward.
// Backward is Kahn's algorithm over the nodes reachable from the root: count how many
// consumers each node has, then run a node once all of them have sent their gradient.
// No recursion anywhere (discovery, execution and destruction use explicit stacks).
#include <atomic>

#include "node.hpp"
#include "op_trace.hpp"  // src/tensor/kernels

namespace xla {

using autograd::Edge;
using autograd::Engine;
using autograd::Node;

// ---- grad mode ----
static thread_local bool t_grad_enabled = true;
bool is_grad_enabled() { return t_grad_enabled; }
bool set_grad_enabled(bool on) {
  bool prev = t_grad_enabled;
  t_grad_enabled = on;
  return prev;
}

// ---- per-tensor state ----
bool requires_grad(const Tensor& t) { return t.autograd_meta() && t.autograd_meta()->requires_grad; }
bool is_leaf(const Tensor& t) { return !t.autograd_meta() || !t.autograd_meta()->grad_fn; }

void set_requires_grad(Tensor& t, bool on) {
  if (!t.defined()) fail(Status::InvalidArg, "set_requires_grad: undefined tensor");
  if (!is_leaf(t))
    fail(Status::InvalidArg, std::string("set_requires_grad: only leaves can change it; this tensor is the output of ") +
                                 t.autograd_meta()->grad_fn->name() + " (use detach())");
  if (on && !is_floating(t.dtype()))
    fail(Status::DType, std::string("set_requires_grad: only floating tensors can require grad, got ") + dtype_name(t.dtype()));
  if (!t.autograd_meta()) {
    if (!on) return;
    t.set_autograd_meta(std::make_shared<AutogradMeta>());
  }
  t.autograd_meta()->requires_grad = on;
}

Tensor grad(const Tensor& t) { return t.autograd_meta() ? t.autograd_meta()->grad : Tensor(); }
void zero_grad(Tensor& t) {
  if (t.autograd_meta()) t.autograd_meta()->grad = Tensor();
}
Tensor detach(const Tensor& t) {
  if (!t.defined()) fail(Status::InvalidArg, "detach: undefined tensor");
  return t.alias();
}
void set_grad_buffer(Tensor& t, const Tensor& buffer) {
  if (!buffer.defined()) {  // removing one is always allowed (the flag may have changed since)
    if (t.defined() && t.autograd_meta()) t.autograd_meta()->grad_buffer = Tensor();
    return;
  }
  if (!t.defined() || !requires_grad(t) || !is_leaf(t))
    fail(Status::InvalidArg, "set_grad_buffer: the tensor must be a leaf that requires grad");
  if ((buffer.dtype() != DType::F32 || !buffer.is_contiguous() || !(buffer.shape() == t.shape())))
    fail(Status::InvalidArg, "set_grad_buffer: the buffer must be contiguous f32 of shape " + t.shape().str() + ", got " +
                                 dtype_name(buffer.dtype()) + " " + buffer.shape().str());
  AutogradMeta& m = *t.autograd_meta();
  m.grad_buffer = buffer;
  m.grad = Tensor();
}
std::string grad_fn_name(const Tensor& t) {
  return t.autograd_meta() && t.autograd_meta()->grad_fn ? t.autograd_meta()->grad_fn->name() : "";
}

// ---- nodes ----
namespace autograd {

Node::~Node() {
  std::vector<std::shared_ptr<Node>> stack;
  auto take_unique = [&stack](std::vector<Edge>& edges) {
    for (Edge& e : edges)
      if (e.node && e.node.use_count() == 1) stack.push_back(std::move(e.node));
  };
  take_unique(state_.next);
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    take_unique(n->state_.next);  // n is destroyed at the end of this iteration, childless
  }
}

const Tensor& Node::saved(size_t i) const {
  if (state_.released)
    fail(Status::InvalidArg, "backward", std::string("the graph through ") + state_.name +
                                 " was already freed by an earlier backward; pass retain_graph to backward twice");
  if (i >= state_.saved.size())
    fail(Status::InvalidArg, std::string("backward of ") + state_.name + ": saved tensor " + std::to_string(i) +
                                 " asked for, " + std::to_string(state_.saved.size()) + " saved");
  const SavedTensor& s = state_.saved[i];
  if (s.taken)
    fail(Status::InvalidArg, std::string("backward of ") + state_.name + ": saved tensor " + std::to_string(i) +
                                 " was handed over by an earlier backward; this node runs backward once");
  if (s.data.version() != s.version)
    fail(Status::InvalidArg, std::string("backward of ") + state_.name +
                                 ": a tensor it saved was modified in place (version " +
                                 std::to_string(s.data.version()) + ", saved at " + std::to_string(s.version) + ")");
  return s.data;
}

Tensor Node::take_saved(size_t i) {
  Tensor t = saved(i);  // the same checks
  state_.saved[i].data = Tensor();
  state_.saved[i].taken = true;
  return t;
}

static Edge edge_of(const Tensor& t) {
  const auto& m = t.autograd_meta();
  if (!m || !m->requires_grad) return {};
  if (m->grad_fn) return {m->grad_fn, nullptr};
  return {nullptr, m};
}

// Both argument forms share these bodies; `get` turns an element into the tensor it stands for.
template <typename Range, typename Get>
static bool any_requires_grad(const Range& inputs, Get get) {
  if (!t_grad_enabled) return false;
  for (const auto& t : inputs)
    if (requires_grad(get(t))) return true;
  return false;
}

template <typename Range, typename Get>
static void attach_range(Tensor& out, const char* name, std::shared_ptr<Node> node, const Range& inputs, Get get) {
  Node::State& s = Engine::state(*node);
  s.name = name;
  // made inside code a capture does not see (xla/compile.hpp): its backward is not seen either
  s.untraced = xla::detail::trace_depth() > 0;
  s.next.reserve(inputs.size());
  for (const auto& t : inputs) s.next.push_back(edge_of(get(t)));
  auto meta = std::make_shared<AutogradMeta>();
  meta->requires_grad = true;
  meta->grad_fn = std::move(node);
  out.set_autograd_meta(std::move(meta));
}

static const Tensor& deref(const Tensor* t) { return *t; }
static const Tensor& same(const Tensor& t) { return t; }

namespace detail {
bool should_record(std::initializer_list<const Tensor*> inputs) { return any_requires_grad(inputs, deref); }
bool should_record(const std::vector<Tensor>& inputs) { return any_requires_grad(inputs, same); }
void attach(Tensor& out, const char* name, std::shared_ptr<Node> node, std::initializer_list<const Tensor*> inputs) {
  attach_range(out, name, std::move(node), inputs, deref);
}
void attach(Tensor& out, const char* name, std::shared_ptr<Node> node, const std::vector<Tensor>& inputs) {
  attach_range(out, name, std::move(node), inputs, same);
}
}  // namespace detail

}  // namespace autograd

// ---- backward ----

// Adds g into a leaf's .grad. A gradient still referenced elsewhere (add sends one tensor
// to both inputs) or not packed is copied, so a .grad never aliases another tensor.
// Backward formulas already reduce every gradient to its input's shape.
static void accumulate(AutogradMeta& leaf, Tensor g) {
  if (leaf.grad_buffer.defined()) {  // set_grad_buffer: the gradient lives in the caller's block
    if (leaf.grad.defined()) leaf.grad.add_(g);
    else leaf.grad = leaf.grad_buffer.copy_(g);
    return;
  }
  if (leaf.grad.defined()) {
    // In place when nobody else holds the .grad (as PyTorch does): no second buffer the size
    // of a 262,144-row embedding while a tied head and its embedding both send gradient.
    // Under a capture (xla/compile.hpp) a graph holds values: the sum is a new tensor.
    const bool in_place = leaf.grad.storage().use_count() == 1 && leaf.grad.is_contiguous() &&
                          leaf.grad.dtype() == DType::F32 && g.shape() == leaf.grad.shape() &&
                          !xla::detail::current_tracer();
    if (in_place) leaf.grad.add_(g);
    else leaf.grad = add(leaf.grad, g);
  } else {
    leaf.grad = (g.is_contiguous() && g.storage().use_count() == 1 && g.offset() == 0) ? g.alias() : g.clone();
  }
}

static std::atomic<uint64_t> g_epoch{0};

void accumulate_grad(Tensor& leaf, const Tensor& g) {
  if (!leaf.defined() || !g.defined()) fail(Status::InvalidArg, "accumulate_grad: undefined tensor");
  if (!is_leaf(leaf) || !requires_grad(leaf))
    fail(Status::InvalidArg, "accumulate_grad: the tensor is not a leaf that requires grad");
  if (!(g.shape() == leaf.shape()))
    fail(Status::Shape, "accumulate_grad: gradient " + g.shape().str() + " for a leaf " + leaf.shape().str());
  accumulate(*leaf.autograd_meta(), g.dtype() == DType::F32 ? g : g.to(DType::F32));
}

void backward(const Tensor& root, const Tensor& seed, bool retain_graph) {
  if (!root.defined()) fail(Status::InvalidArg, "backward", "undefined tensor");
  if (!requires_grad(root))
    fail(Status::InvalidArg, "backward", "the root does not require grad (no input of the computation requires grad, "
                             "or it ran under no_grad)");
  Tensor g0;
  if (seed.defined()) {
    if (!(seed.shape() == root.shape()))
      fail(Status::Shape, "backward", "seed " + seed.shape().str() + " does not match root " + root.shape().str());
    g0 = seed.dtype() == DType::F32 ? seed.alias() : seed.to(DType::F32);
  } else {
    if (root.numel() != 1)
      fail(Status::InvalidArg, "backward", "root of shape " + root.shape().str() +
                                   " is not a single element; pass a seed gradient of its shape");
    g0 = full(root.shape(), 1.0);
  }
  NoGradGuard no_grad;  // backward formulas use the plain ops: nothing is recorded
  AutogradMeta& rm = *root.autograd_meta();
  if (!rm.grad_fn) {
    accumulate(rm, std::move(g0));
    return;
  }

  // 1. discover reachable nodes and count each one's consumers
  const uint64_t epoch = ++g_epoch;
  Node* first = rm.grad_fn.get();
  std::vector<Node*> order, stack{first};
  Engine::state(*first).epoch = epoch;
  Engine::state(*first).pending = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    Node::State& s = Engine::state(*n);
    if (s.released)
      fail(Status::InvalidArg, "backward", std::string("the graph through ") + s.name +
                                   " was already freed by an earlier backward; pass retain_graph to backward twice");
    // Saved tensors are checked before any gradient moves: a failed backward leaves every
    // .grad as it was, instead of half of them updated.
    for (size_t i = 0; i < s.saved.size(); ++i) n->saved(i);
    order.push_back(n);
    for (Edge& e : s.next) {
      if (!e.node) continue;
      Node::State& c = Engine::state(*e.node);
      if (c.epoch != epoch) {
        c.epoch = epoch;
        c.pending = 0;
        c.grad_in = Tensor();
        stack.push_back(e.node.get());
      }
      ++c.pending;
    }
  }

  // 2. run each node once every consumer has delivered its gradient
  Engine::state(*first).grad_in = g0;
  std::vector<Node*> ready{first};
  std::vector<Tensor> gi;
  try {
    while (!ready.empty()) {
      Node* n = ready.back();
      ready.pop_back();
      Node::State& s = Engine::state(*n);
      Tensor g = std::move(s.grad_in);
      s.grad_in = Tensor();
      gi.assign(s.next.size(), Tensor());
      if (g.defined()) {
        if (s.untraced) {
          xla::detail::UntracedScope untraced;
          n->backward(g, gi.data());
        } else {
          n->backward(g, gi.data());
        }
      }
      g = Tensor();
      for (size_t i = 0; i < s.next.size(); ++i) {
        Edge& e = s.next[i];
        if (e.leaf) {
          if (gi[i].defined()) accumulate(*e.leaf, std::move(gi[i]));
        } else if (e.node) {
          Node::State& c = Engine::state(*e.node);
          if (gi[i].defined()) c.grad_in = c.grad_in.defined() ? add(c.grad_in, gi[i]) : std::move(gi[i]);
          if (--c.pending == 0) ready.push_back(e.node.get());
        }
      }
    }
  } catch (...) {
    for (Node* n : order) Engine::state(*n).grad_in = Tensor();
    throw;
  }
  if (!retain_graph)
    for (Node* n : order) {
      Engine::state(*n).saved.clear();
      Engine::state(*n).released = true;
    }
}

}  // namespace xla
