// dump.cpp — a graph as text (one line per node) and as Graphviz.
#include <sstream>

#include "fused_loop.hpp"
#include "passes.hpp"

namespace xla::compiler {
namespace {

std::string type_of(const Node& n) { return n.shape.str() + " " + dtype_name(n.dtype); }

std::string args_of(const Node& n) {
  std::string s;
  for (size_t k = 0; k < n.in.size(); ++k) s += (k ? ", %" : "%") + std::to_string(n.in[k]);
  return s;
}

// What a node does, in a few words: "mul", "sum axes=[1]", "view strides=[…]".
std::string op_of(const Node& n) {
  switch (n.kind) {
    case NodeKind::Input:
      return "input " + std::to_string(n.index);
    case NodeKind::Param:
      return "param";
    case NodeKind::Constant: {
      std::string s = "constant";
      if (n.value.numel() == 1) {
        std::ostringstream v;
        v << n.value.to_vector()[0];
        s += " " + v.str();
      }
      return s;
    }
    case NodeKind::View:
      return "view strides=" + n.strides.str() + " offset=" + std::to_string(n.offset);
    case NodeKind::Output:
      return (n.workspace ? "workspace " : "result ") + std::to_string(n.index) + " (" + n.name + ")";
    case NodeKind::Fused: {
      std::string s = "fused loop " + n.shape.str() + " {";
      bool first = true;
      for (const auto& in : n.loop->code) {
        if (in.name.empty()) continue;
        s += (first ? "" : " ") + in.name;
        first = false;
      }
      if (n.loop->reduces) s += std::string(first ? "" : " ") + "→ " + n.loop->reduce_name;
      return s + "}";
    }
    case NodeKind::Effect:
      return "write " + n.name + " into";
    case NodeKind::Op:
      break;
  }
  std::string s = n.name;
  if (n.op == detail::OpKind::Reduce) {
    s += " axes=[";
    for (size_t k = 0; k < n.axes.size(); ++k) s += (k ? "," : "") + std::to_string(n.axes[k]);
    s += "]";
    if (n.keepdims) s += " keepdims";
  }
  if (n.op == detail::OpKind::Softmax || n.op == detail::OpKind::LogSoftmax) s += " axis=" + std::to_string(n.axis);
  return s;
}

}  // namespace

std::string to_text(const Graph& g, const MemoryPlan* plan) {
  std::ostringstream o;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    o << "%" << i << " = " << op_of(n);
    if (!n.in.empty()) o << "(" << args_of(n) << ")";
    if (n.kind != NodeKind::Fused && !n.eager_multi) o << " : " << type_of(n);
    if (plan && plan->offset[i] >= 0) o << "  @" << plan->offset[i];
    o << "\n";
  }
  o << "return ";
  for (size_t k = 0; k < g.outputs.size(); ++k) o << (k ? ", %" : "%") << g.outputs[k];
  o << "\n";
  if (plan) o << "arena " << plan->arena_bytes << " bytes (" << plan->unplanned_bytes << " without reuse)\n";
  return o.str();
}

std::string to_dot(const Graph& g) {
  std::ostringstream o;
  o << "digraph G {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n";
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    std::string style;
    switch (n.kind) {
      case NodeKind::Input:
        style = ", shape=ellipse, style=filled, fillcolor=\"#dbeafe\"";
        break;
      case NodeKind::Param:
        style = ", shape=ellipse, style=filled, fillcolor=\"#fef3c7\"";
        break;
      case NodeKind::Constant:
        style = ", shape=ellipse, style=filled, fillcolor=\"#f3f4f6\"";
        break;
      case NodeKind::Fused:
        style = ", style=filled, fillcolor=\"#dcfce7\"";
        break;
      case NodeKind::Effect:
        style = ", style=filled, fillcolor=\"#fee2e2\"";
        break;
      default:
        break;
    }
    std::string label = "%" + std::to_string(i) + " " + op_of(n);
    if (n.kind != NodeKind::Fused && !n.eager_multi) label += "\\n" + type_of(n);
    std::string escaped;
    for (char c : label) escaped += c == '"' ? std::string("\\\"") : std::string(1, c);
    o << "  n" << i << " [label=\"" << escaped << "\"" << style << "];\n";
    for (int j : n.in) o << "  n" << j << " -> n" << i << ";\n";
  }
  for (size_t k = 0; k < g.outputs.size(); ++k)
    o << "  out" << k << " [label=\"result " << k << "\", shape=plaintext];\n  n" << g.outputs[k] << " -> out" << k
      << ";\n";
  o << "}\n";
  return o.str();
}

}  // namespace xla::compiler
