// graph.hpp — the compiler's graph IR: what a capture records and the passes rewrite.
// Nodes are kept in execution order (every input id is smaller than its user's id), so a
// pass is one walk over a vector and an id is a position in it.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "op_trace.hpp"
#include "xla/tensor.hpp"

namespace xla::compiler {

struct FusedLoop;  // fused_loop.hpp

enum class NodeKind {
  Input,     // the run's i-th argument
  Param,     // a tensor that existed before the capture (a weight): read live at each run
  Constant,  // a tensor the captured function made from values: fixed
  View,      // a strided window on in[0]'s buffer (in[0] is never a View itself)
  Op,        // one op of ops.hpp (or a fused layer's kernel, with several results)
  Fused,     // a loop computing several elementwise ops (and a row reduction) at once
  Output,    // result `index` of in[0], a Fused node or an Op with several results
  Effect,    // an in-place write into in[0] (a Param) from in[1…]: no value; kept, and never
             // moved past or merged across (the passes treat it as a barrier)
};

struct Node {
  NodeKind kind = NodeKind::Op;
  detail::OpKind op = detail::OpKind::Other;  // Op nodes
  int code = 0;                               // Op: a UnaryCode, BinaryCode or ReduceCode
  std::string name;                           // the op's name ("mul"), for dumps and errors
  std::vector<int> in;
  Shape shape;
  DType dtype = DType::F32;
  std::vector<int> axes;                  // Reduce
  bool keepdims = false;                  // Reduce
  int axis = 0;                           // Softmax, LogSoftmax
  int index = 0;                          // Input: argument position; Output: which result
  bool workspace = false;                 // Output: a kernel's workspace, live while its kernel is
  Dims strides;                           // View: in elements of in[0]'s buffer ...
  int64_t offset = 0;                     // ... from in[0]'s first element
  Tensor value;                           // Param (live), Constant (fixed)
  detail::EagerOp eager;                  // Op: reruns the op
  detail::EagerMultiOp eager_multi;       // Op with several results: reruns it (Output nodes pick them)
  std::vector<int> args;                  // … on argument k = in[args[k]], or undefined when -1
  detail::EagerInto into;                 // … when its kernel can write into planned buffers
  std::shared_ptr<const FusedLoop> loop;  // Fused
};

struct Graph {
  std::vector<Node> nodes;
  std::vector<int> inputs;   // Input node of each argument
  std::vector<int> outputs;  // node of each result

  int add(Node n) {
    nodes.push_back(std::move(n));
    return int(nodes.size()) - 1;
  }
};

// For each node, the nodes that read it (in execution order); outputs are not included.
std::vector<std::vector<int>> users_of(const Graph& g);

// Whether node n is an elementwise op, a reduction over trailing axes, … (for the passes).
bool is_elementwise(const Node& n);

}  // namespace xla::compiler
