// passes.hpp — capture, the passes and the dumps, each a function from graph to graph, so
// that each can be run and tested alone (tests/compile).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "graph.hpp"

namespace xla::compiler {

using TensorFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// Runs fn(inputs) once, eagerly, recording every op it calls. Fails (Status::Unsupported)
// when fn uses a tensor that an op the capture cannot see made (a fused layer's raw kernel,
// a random draw), or writes in place into a tensor the graph reads.
Graph capture(const TensorFn& fn, const std::vector<Tensor>& inputs);

// Drops the nodes no output depends on (inputs stay: they are the signature).
Graph eliminate_dead_code(const Graph& g);
// Computes, once, the ops whose inputs are all constants.
Graph fold_constants(const Graph& g);
// Merges nodes that compute the same thing from the same inputs.
Graph eliminate_common_subexpressions(const Graph& g);
// Groups chains of elementwise ops of one shape, and a reduction over trailing axes at
// their end, into Fused nodes: one loop over memory instead of one per op.
Graph fuse_elementwise(const Graph& g);

// Where each buffer the replay writes lives in the graph's one arena: buffers whose lives
// do not overlap share bytes.
struct MemoryPlan {
  std::vector<int64_t> offset;  // per node: byte offset in the arena, -1 when none
  std::vector<int> last_use;    // per node: the last node reading it (outputs: past the end)
  size_t arena_bytes = 0;
  size_t unplanned_bytes = 0;  // what one buffer per node would take
};
// Whether node n writes into the arena at replay (fused loops, products, softmax rows).
bool writes_arena(const Graph& g, int n);
MemoryPlan plan_memory(const Graph& g);

std::string to_text(const Graph& g, const MemoryPlan* plan = nullptr);
std::string to_dot(const Graph& g);

}  // namespace xla::compiler
