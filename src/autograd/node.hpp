// node.hpp — the recorded graph: AutogradMeta (per tensor), Node (per recorded op), Edge
// (where a node sends the gradient of one input), SavedTensor (data backward needs, with
// the storage version at save time). Internal to src/autograd/.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "xla/autograd.hpp"

namespace xla {

struct Node;

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;                    // accumulated gradient (leaves only)
  Tensor grad_buffer;             // where backward writes it when set (set_grad_buffer); .grad is then this
  std::shared_ptr<Node> grad_fn;  // the op that produced this tensor; null for leaves
};

namespace autograd {

// Where the gradient of one input goes: into another node, or into a leaf's .grad.
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<AutogradMeta> leaf;
  bool valid() const { return node || leaf; }
};

// Data saved for backward, without autograd history (saving an op's own output must not
// make a cycle output → node → output), and with the storage version when saved.
struct SavedTensor {
  Tensor data;
  uint64_t version = 0;
};

// gi[i] receives the gradient of input i (left undefined when none flows there).
using BackwardFn = void (*)(Node& node, const Tensor& grad, Tensor* gi);

}  // namespace autograd

struct Node {
  const char* name = "";
  autograd::BackwardFn backward = nullptr;
  std::vector<autograd::Edge> next;  // one per input, in the op's argument order
  std::vector<autograd::SavedTensor> saved;
  Shape shape_a, shape_b;  // input shapes the backward reduces to
  Dims ints;               // op parameters: axes, order …
  std::vector<int64_t> sizes;  // per-input extents of an N-ary op (concat)
  double scalar = 0;       // op parameter: correction, k, label smoothing …
  bool flag = false;       // op parameter: keepdims …
  bool released = false;   // saved data freed by a backward without retain_graph
  // engine bookkeeping, valid during one backward
  uint64_t epoch = 0;
  int64_t pending = 0;
  Tensor grad_in;

  ~Node();  // iterative: dropping the head of a 100,000-node chain must not recurse
  void save(const Tensor& t) { saved.push_back({t.alias(), t.version()}); }
  bool needs(int input) const { return input < int(next.size()) && next[size_t(input)].valid(); }
  // The saved tensor i, checked against in-place modification since it was saved.
  const Tensor& get(size_t i) const;
};

namespace autograd {

// Records `out` as the output of a new node over `inputs` when grad mode is on and some
// input requires grad; returns the node (for saving tensors and parameters) or null.
Node* record(Tensor& out, const char* name, BackwardFn fn, std::initializer_list<const Tensor*> inputs);
Node* record(Tensor& out, const char* name, BackwardFn fn, const std::vector<Tensor>& inputs);

}  // namespace autograd
}  // namespace xla
