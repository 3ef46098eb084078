// dce.cpp — dead-code elimination: keeps what the outputs and the effects (in-place writes
// into buffers outside the graph) depend on, the inputs, and the workspace of every kernel kept.
#include "passes.hpp"

namespace xla::compiler {

Graph eliminate_dead_code(const Graph& g) {
  std::vector<char> live(g.nodes.size(), 0);
  for (int o : g.outputs) live[size_t(o)] = 1;
  for (int i : g.inputs) live[size_t(i)] = 1;
  for (size_t i = 0; i < g.nodes.size(); ++i) live[i] |= g.nodes[i].kind == NodeKind::Effect;
  for (size_t i = g.nodes.size(); i-- > 0;)  // users come after what they read
    if (live[i])
      for (int j : g.nodes[i].in) live[size_t(j)] = 1;
  for (size_t i = 0; i < g.nodes.size(); ++i)  // a kernel that runs has its workspace
    live[i] |= g.nodes[i].workspace && live[size_t(g.nodes[i].in[0])];
  Graph out;
  std::vector<int> id(g.nodes.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!live[i]) continue;
    Node n = g.nodes[i];
    for (int& j : n.in) j = id[size_t(j)];
    id[i] = out.add(std::move(n));
  }
  for (int i : g.inputs) out.inputs.push_back(id[size_t(i)]);
  for (int o : g.outputs) out.outputs.push_back(id[size_t(o)]);
  return out;
}

}  // namespace xla::compiler
