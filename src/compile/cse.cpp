// cse.cpp — common-subexpression elimination: two nodes of the same op, attributes and
// inputs compute the same value, so the second becomes the first. Ops replayed by closure
// (OpKind::Other) carry attributes the graph cannot compare and are never merged; small
// constants merge by value. Nothing merges across an effect (an in-place write).
#include <cstring>
#include <map>

#include "passes.hpp"

namespace xla::compiler {
namespace {

constexpr int64_t kMaxMergedConstant = 64;  // elements

// A key naming everything that decides a node's value, or "" when it cannot be merged.
std::string key_of(const Node& n) {
  if (n.kind == NodeKind::Input || n.kind == NodeKind::Fused || n.kind == NodeKind::Output ||
      n.kind == NodeKind::Effect)
    return "";
  if (n.kind == NodeKind::Op && n.op == detail::OpKind::Other) return "";  // multi-result ops too
  if (n.kind == NodeKind::Constant && n.value.numel() > kMaxMergedConstant) return "";
  std::string k = std::to_string(int(n.kind)) + "|" + std::to_string(int(n.op)) + "|" + std::to_string(n.code) + "|" +
                  n.name + "|" + n.shape.str() + "|" + std::to_string(int(n.dtype)) + "|" + n.strides.str() + "|" +
                  std::to_string(n.offset) + "|" + std::to_string(n.keepdims) + "|" + std::to_string(n.axis) + "|";
  for (int a : n.axes) k += std::to_string(a) + ",";
  k += "|";
  for (int i : n.in) k += std::to_string(i) + ",";
  if (n.kind == NodeKind::Param) {
    k += "|" + std::to_string(reinterpret_cast<uintptr_t>(n.value.storage().get())) + "@" +
         std::to_string(n.value.offset()) + n.value.strides().str();
  } else if (n.kind == NodeKind::Constant) {
    std::string bytes(n.value.nbytes(), '\0');
    n.value.copy_to(bytes.data());
    k += "|" + bytes;
  }
  return k;
}

}  // namespace

Graph eliminate_common_subexpressions(const Graph& g) {
  Graph out;
  std::vector<int> id(g.nodes.size(), -1);
  std::map<std::string, int> seen;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node n = g.nodes[i];
    for (int& j : n.in) j = id[size_t(j)];
    std::string k = key_of(n);
    if (!k.empty()) {
      if (auto it = seen.find(k); it != seen.end()) {
        id[i] = it->second;
        continue;
      }
    }
    const bool effect = n.kind == NodeKind::Effect;
    id[i] = out.add(std::move(n));
    if (!k.empty()) seen[k] = id[i];
    if (effect) seen.clear();  // what was read before a write is not what is read after it
  }
  for (int i : g.inputs) out.inputs.push_back(id[size_t(i)]);
  for (int o : g.outputs) out.outputs.push_back(id[size_t(o)]);
  return eliminate_dead_code(out);
}

}  // namespace xla::compiler
