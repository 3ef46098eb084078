// capture.cpp — records a function's ops as a graph while it runs once, eagerly.
// Every op reports (inputs, result) to the tracer (src/tensor/kernels/op_trace.hpp). The
// tracer knows a tensor by its storage: the buffer an op, a constant or an input brought
// in; a tensor over such a buffer with other geometry is a View of it. A buffer that was
// there before the capture began is a Param (a weight, read live at every run); one made
// during the capture that nobody reported is the trace of an op the capture cannot see,
// and using it is an error rather than a constant frozen in silently.
#include <map>
#include <tuple>

#include "passes.hpp"
#include "xla/ops.hpp"

namespace xla::compiler {
namespace {

using Geometry = std::tuple<std::vector<int64_t>, std::vector<int64_t>, int64_t, int>;

Geometry geometry_of(const Tensor& t) {
  return {std::vector<int64_t>(t.shape().begin(), t.shape().end()),
          std::vector<int64_t>(t.strides().begin(), t.strides().end()), t.offset(), int(t.dtype())};
}

// A node of `kind` whose value has t's shape and dtype.
Node node_like(NodeKind kind, const char* name, const Tensor& t) {
  Node n;
  n.kind = kind;
  n.name = name;
  n.shape = t.shape();
  n.dtype = t.dtype();
  return n;
}

class Tracer final : public detail::OpTracer {
 public:
  explicit Tracer(uint64_t first_serial) : first_serial_(first_serial) {}

  Graph graph;

  int add_input(const Tensor& t, int index) {
    Node n = node_like(NodeKind::Input, "input", t);
    n.index = index;
    return register_buffer(t, graph.add(std::move(n)));
  }

  // The node holding t's value, adding a View or Param node when needed.
  int value_of(const Tensor& t, const char* op) {
    if (!t.defined()) fail(Status::InvalidArg, "compile", std::string(op) + ": an undefined tensor");
    const Storage* s = t.storage().get();
    if (const Buffer* found = find(s)) {
      const Buffer& b = *found;
      if (s->version != b.version)
        fail(Status::Unsupported, "compile",
             std::string(op) + " reads a tensor " + t.shape().str() +
                 " that was written in place during the capture; a graph holds "
                 "values, so return the new tensor instead of writing into one");
      if (geometry_of(t) == b.geometry) return b.node;
      auto key = std::make_pair(b.node, geometry_of(t));
      if (auto v = views_.find(key); v != views_.end()) return v->second;
      Node n = node_like(NodeKind::View, "view", t);
      n.in = {b.node};
      n.strides = t.strides();
      n.offset = t.offset() - std::get<2>(b.geometry);
      return views_[key] = graph.add(std::move(n));
    }
    if (!s->borrowed && s->serial > first_serial_)
      fail(Status::Unsupported, "compile",
           std::string(op) + " reads a tensor " + t.shape().str() + " " + dtype_name(t.dtype()) +
               " made during the capture by code the capture cannot see (a raw kernel that does not report "
               "itself, such as Mamba's scan, a random draw, or a write into a new tensor)");
    auto key = std::make_pair(s, geometry_of(t));
    if (auto p = params_.find(key); p != params_.end()) {
      if (s->version != p->second.second)
        fail(Status::Unsupported, "compile",
             std::string(op) + " reads a weight " + t.shape().str() + " that was written in place during the capture");
      return p->second.first;
    }
    Node n = node_like(NodeKind::Param, "param", t);
    n.value = t.alias();
    int id = graph.add(std::move(n));
    params_[key] = {id, s->version};
    return id;
  }

  void op(detail::OpEvent&& e, const std::vector<Tensor>& inputs, const Tensor& out) override {
    std::vector<int> in;
    in.reserve(inputs.size());
    for (const Tensor& t : inputs) in.push_back(value_of(t, e.name));
    // A result over a buffer already known (sum_to of a tensor already that shape): no op ran.
    if (find(out.storage().get())) return;
    Node n = node_like(NodeKind::Op, e.name, out);
    n.op = e.kind;
    n.code = e.code;
    n.in = std::move(in);
    n.axes = std::move(e.axes);
    n.keepdims = e.keepdims;
    n.axis = e.axis;
    n.eager = std::move(e.eager);
    register_buffer(out, graph.add(std::move(n)));
  }

  void multi_op(detail::OpEvent&& e, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outs) override {
    std::vector<int> in;
    in.reserve(inputs.size());
    for (const Tensor& t : inputs) in.push_back(t.defined() ? value_of(t, e.name) : -1);
    // an undefined input (a gradient not wanted) stays undefined at replay: the op is rerun
    // with the same pattern, so the closure sees what it saw
    const int workspace = e.into ? e.workspace : 0;  // (only where a replay plans the results)
    Node n;
    n.kind = NodeKind::Op;
    n.op = e.kind;
    n.name = e.name;
    n.eager_multi = std::move(e.eager_multi);
    n.into = std::move(e.into);
    for (int j : in) {
      n.args.push_back(j >= 0 ? int(n.in.size()) : -1);
      if (j >= 0) n.in.push_back(j);
    }
    const int id = graph.add(std::move(n));
    for (size_t k = 0; k < outs.size(); ++k) {
      if (!outs[k].defined() || find(outs[k].storage().get())) continue;
      Node o = node_like(NodeKind::Output, e.name, outs[k]);
      o.in = {id};
      o.index = int(k);
      o.workspace = k + size_t(workspace) >= outs.size();
      register_buffer(outs[k], graph.add(std::move(o)));
    }
  }

  void effect(detail::OpEvent&& e, const Tensor& target, const std::vector<Tensor>& inputs,
              uint64_t version_before) override {
    const Storage* s = target.storage().get();
    if (find(s))
      fail(Status::Unsupported, "compile",
           std::string(e.name) + " writes into a tensor " + target.shape().str() +
               " that the graph computes or takes as an input; a graph may write in place only into tensors "
               "from outside it (a cache buffer)");
    Node n = node_like(NodeKind::Effect, e.name, target);
    for (auto& [key, param] : params_)  // what the graph read of this buffer so far was read before the write
      if (key.first == s) {
        if (param.second != version_before)
          fail(Status::Unsupported, "compile",
               std::string(e.name) + " writes into a weight " + target.shape().str() +
                   " that was already written in place, unseen, during the capture");
        param.second = s->version;
      }
    n.in.push_back(value_of(target, e.name));  // a Param at the buffer's new version
    for (const Tensor& t : inputs) n.in.push_back(value_of(t, e.name));
    n.op = e.kind;
    n.eager = std::move(e.eager);
    graph.add(std::move(n));
  }

  void constant(const Tensor& t) override {
    if (find(t.storage().get())) return;
    Node n = node_like(NodeKind::Constant, "constant", t);
    n.value = t.alias();
    register_buffer(t, graph.add(std::move(n)));
  }

 private:
  struct Buffer {
    int node;
    Geometry geometry;  // the node's value's
    uint64_t version;
  };

  // Buffers are known by their allocation serial, so that the capture need not keep them
  // alive (a step's intermediates are freed as they are eagerly) and a freed buffer's
  // address, reused, is never mistaken for it. A borrowed buffer has no serial: it is known
  // by its address and kept alive.
  using BufferKey = std::pair<uint64_t, const Storage*>;
  static BufferKey key_of(const Storage* s) { return s->serial ? BufferKey{s->serial, nullptr} : BufferKey{0, s}; }
  const Buffer* find(const Storage* s) const {
    auto it = buffers_.find(key_of(s));
    return it == buffers_.end() ? nullptr : &it->second;
  }

  int register_buffer(const Tensor& t, int node) {
    buffers_[key_of(t.storage().get())] = {node, geometry_of(t), t.version()};
    if (!t.storage()->serial) borrowed_.push_back(t.alias());
    return node;
  }

  uint64_t first_serial_;
  std::map<BufferKey, Buffer> buffers_;
  std::vector<Tensor> borrowed_;
  std::map<std::pair<int, Geometry>, int> views_;
  std::map<std::pair<const Storage*, Geometry>, std::pair<int, uint64_t>> params_;
};

// Installs a tracer on this thread for its lifetime.
struct TracerScope {
  explicit TracerScope(Tracer* t) {
    if (detail::current_tracer())
      fail(Status::InvalidArg, "compile", "this thread is already capturing (a compile inside a compiled function)");
    detail::current_tracer() = t;
  }
  ~TracerScope() { detail::current_tracer() = nullptr; }
  TracerScope(const TracerScope&) = delete;
  TracerScope& operator=(const TracerScope&) = delete;
};

}  // namespace

Graph capture(const TensorFn& fn, const std::vector<Tensor>& inputs) {
  if (!fn) fail(Status::InvalidArg, "compile", "no function to capture");
  // Fresh packed copies: the graph's inputs are buffers of their own, whatever the caller passed.
  std::vector<Tensor> args;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) fail(Status::InvalidArg, "compile", "input " + std::to_string(i) + " is undefined");
    if (inputs[i].dtype() == DType::Q8)
      fail(Status::DType, "compile", "input " + std::to_string(i) + " is q8; pass weights by capture, not as inputs");
    args.push_back(inputs[i].clone());
  }
  Tracer tracer(storages_created());
  for (size_t i = 0; i < args.size(); ++i) tracer.graph.inputs.push_back(tracer.add_input(args[i], int(i)));
  std::vector<Tensor> results;
  {
    TracerScope scope(&tracer);
    results = fn(args);
    for (size_t i = 0; i < results.size(); ++i)
      tracer.graph.outputs.push_back(tracer.value_of(results[i], ("output " + std::to_string(i)).c_str()));
  }
  if (results.empty()) fail(Status::InvalidArg, "compile", "the function returned no tensors");
  return std::move(tracer.graph);
}

std::vector<std::vector<int>> users_of(const Graph& g) {
  std::vector<std::vector<int>> users(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (int j : g.nodes[i].in) users[size_t(j)].push_back(int(i));
  return users;
}

bool is_elementwise(const Node& n) {
  using detail::OpKind;
  return n.kind == NodeKind::Op &&
         (n.op == OpKind::Unary || n.op == OpKind::Binary || n.op == OpKind::Where || n.op == OpKind::Convert);
}

}  // namespace xla::compiler
