// plan.cpp — memory planning. Every buffer the replay writes gets a byte range of one
// arena; two buffers share bytes when one is dead before the other is written. Lives are
// node positions: a buffer is born at the node that writes it and dies at the last node
// that reads it (through any View of it); the graph's outputs live past the end. Placing
// the largest buffers first, each at the lowest offset free for its whole life, is the
// greedy-by-size heuristic of TensorFlow Lite's arena planner.
#include <algorithm>

#include "passes.hpp"

namespace xla::compiler {
namespace {

constexpr size_t kAlign = 64;

size_t buffer_bytes(const Node& n) {
  size_t bytes = size_t(n.shape.numel()) * dtype_size(n.dtype);
  return (bytes + kAlign - 1) / kAlign * kAlign;
}

}  // namespace

bool writes_arena(const Graph& g, int i) {
  const Node& n = g.nodes[size_t(i)];
  if (n.kind == NodeKind::Output) {
    const Node& producer = g.nodes[size_t(n.in[0])];
    return producer.kind == NodeKind::Fused || bool(producer.into);
  }
  if (n.kind != NodeKind::Op) return false;
  if (n.op == detail::OpKind::Matmul) return true;
  if (n.op == detail::OpKind::Softmax || n.op == detail::OpKind::LogSoftmax)
    return n.shape.size() >= 1 && n.axis == n.shape.size() - 1;
  return false;
}

MemoryPlan plan_memory(const Graph& g) {
  const int N = int(g.nodes.size());
  MemoryPlan plan;
  plan.offset.assign(size_t(N), -1);
  plan.last_use.assign(size_t(N), -1);
  for (int o : g.outputs) plan.last_use[size_t(o)] = N;
  for (int i = N - 1; i >= 0; --i) {
    const Node& n = g.nodes[size_t(i)];
    const int reach = n.kind == NodeKind::View ? plan.last_use[size_t(i)] : i;  // a view's reads are its base's
    for (int j : n.in) plan.last_use[size_t(j)] = std::max(plan.last_use[size_t(j)], reach);
  }

  struct Buffer {
    int node, born, dies;
    size_t bytes;
  };
  std::vector<Buffer> buffers;
  for (int i = 0; i < N; ++i) {
    if (!writes_arena(g, i)) continue;
    const Node& n = g.nodes[size_t(i)];
    const int born = n.kind == NodeKind::Output ? n.in[0] : i;
    buffers.push_back({i, born, std::max(plan.last_use[size_t(i)], i), buffer_bytes(n)});
    plan.unplanned_bytes += buffer_bytes(n);
  }
  std::stable_sort(buffers.begin(), buffers.end(), [](const Buffer& a, const Buffer& b) { return a.bytes > b.bytes; });
  std::vector<const Buffer*> placed;
  for (const Buffer& b : buffers) {
    std::vector<std::pair<size_t, size_t>> taken;  // [begin, end) of the buffers alive with b
    for (const Buffer* p : placed)
      if (p->born <= b.dies && b.born <= p->dies) {
        size_t at = size_t(plan.offset[size_t(p->node)]);
        taken.push_back({at, at + p->bytes});
      }
    std::sort(taken.begin(), taken.end());
    size_t at = 0;
    for (auto [begin, end] : taken) {
      if (at + b.bytes <= begin) break;
      at = std::max(at, end);
    }
    plan.offset[size_t(b.node)] = int64_t(at);
    plan.arena_bytes = std::max(plan.arena_bytes, at + b.bytes);
    placed.push_back(&b);
  }
  return plan;
}

}  // namespace xla::compiler
