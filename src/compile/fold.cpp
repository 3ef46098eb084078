// fold.cpp — constant folding: an op whose inputs are all constants runs once, now, and
// becomes a constant (a View of a constant becomes the viewed constant; the results of an
// op with several results, such as RoPE's tables of constant positions, become constants).
#include <map>

#include "passes.hpp"

namespace xla::compiler {
namespace {

Node constant_node(const Tensor& value) {
  Node c;
  c.kind = NodeKind::Constant;
  c.name = "constant";
  c.shape = value.shape();
  c.dtype = value.dtype();
  c.value = value;
  return c;
}

// The arguments of op n (already in `out`) when they are all constants; else false.
bool constant_args(const Graph& out, const Node& n, std::vector<Tensor>& args) {
  if (n.in.empty()) return false;
  args.clear();
  for (int j : n.in) {
    if (out.nodes[size_t(j)].kind != NodeKind::Constant) return false;
    args.push_back(out.nodes[size_t(j)].value);
  }
  return true;
}

}  // namespace

Graph fold_constants(const Graph& g) {
  Graph out;
  std::vector<int> id(g.nodes.size(), -1);
  std::map<int, std::vector<Tensor>> results;  // an op with several results, folded: by its node in g
  std::vector<Tensor> args;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node n = g.nodes[i];
    for (int& j : n.in) j = id[size_t(j)];
    if (n.kind == NodeKind::View && out.nodes[size_t(n.in[0])].kind == NodeKind::Constant) {
      const Tensor& base = out.nodes[size_t(n.in[0])].value;
      n = constant_node(base.as_strided(n.shape, n.strides, base.offset() + n.offset));
    } else if (n.kind == NodeKind::Op && constant_args(out, n, args)) {
      if (!n.eager_multi) {
        n = constant_node(n.eager(args));
      } else if (n.args.size() == args.size()) {  // every argument defined: run it once, keep its results
        results[int(i)] = n.eager_multi(args);
      }
    } else if (n.kind == NodeKind::Output && results.count(g.nodes[i].in[0])) {
      n = constant_node(results[g.nodes[i].in[0]][size_t(n.index)]);
    }
    id[i] = out.add(std::move(n));
  }
  for (int i : g.inputs) out.inputs.push_back(id[size_t(i)]);
  for (int o : g.outputs) out.outputs.push_back(id[size_t(o)]);
  return eliminate_dead_code(out);
}

}  // namespace xla::compiler
