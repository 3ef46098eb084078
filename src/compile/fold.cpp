// fold.cpp — constant folding: an op whose inputs are all constants runs once, now, and
// becomes a constant (a View of a constant becomes the viewed constant).
#include "passes.hpp"

namespace xla::compiler {

Graph fold_constants(const Graph& g) {
  Graph out;
  std::vector<int> id(g.nodes.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node n = g.nodes[i];
    for (int& j : n.in) j = id[size_t(j)];
    bool all_constant = ((n.kind == NodeKind::Op && !n.eager_multi) || n.kind == NodeKind::View) && !n.in.empty();
    for (int j : n.in) all_constant = all_constant && out.nodes[size_t(j)].kind == NodeKind::Constant;
    if (all_constant) {
      Tensor value;
      if (n.kind == NodeKind::View) {
        const Tensor& base = out.nodes[size_t(n.in[0])].value;
        value = base.as_strided(n.shape, n.strides, base.offset() + n.offset);
      } else {
        std::vector<Tensor> args;
        for (int j : n.in) args.push_back(out.nodes[size_t(j)].value);
        value = n.eager(args);
      }
      Node c;
      c.kind = NodeKind::Constant;
      c.name = "constant";
      c.shape = value.shape();
      c.dtype = value.dtype();
      c.value = value;
      n = std::move(c);
    }
    id[i] = out.add(std::move(n));
  }
  for (int i : g.inputs) out.inputs.push_back(id[size_t(i)]);
  for (int o : g.outputs) out.outputs.push_back(id[size_t(o)]);
  return eliminate_dead_code(out);
}

}  // namespace xla::compiler
