// compiled_function.cpp — compile(): capture, passes, memory plan; run(): the replay.
// The replay walks the optimised graph in order with one slot per node. Buffers of the
// memory plan are tensors over the arena made once here, so a run that only touches them
// (fused loops, products, softmax rows) allocates nothing; other ops run as eagerly.
#include <algorithm>

#include "fused_loop.hpp"
#include "into.hpp"
#include "parallel.hpp"
#include "passes.hpp"
#include "rows.hpp"
#include "xla/compile.hpp"
#include "xla/ops.hpp"

namespace xla {

using compiler::Graph;
using compiler::Node;
using compiler::NodeKind;

struct CompiledFunction::Impl {
  Graph captured, graph;
  compiler::MemoryPlan plan;
  CompileStats stats;
  std::shared_ptr<Storage> arena;
  std::vector<Tensor> preset;                // per node: its arena tensor, Param or Constant value
  std::vector<std::vector<int>> outputs_of;  // per Fused node: its Output nodes
  std::vector<std::vector<int>> dead_after;  // per node: slots to drop once it ran
  std::vector<Tensor> slots, args, outs, results;
  std::vector<std::vector<Tensor>> multi;  // per Op with several results: its results
  std::vector<int> result_count;           // … and how many its kernel gives
  std::vector<char> in_arena;              // per node: compiler::writes_arena, once

  void build();
  void step(int i);
};

namespace {

// A tensor over `bytes` of the arena at `offset`, keeping the arena alive while it lives.
Tensor arena_tensor(const std::shared_ptr<Storage>& arena, int64_t offset, const Shape& shape, DType dtype) {
  auto* keep = new std::shared_ptr<Storage>(arena);
  return Tensor::borrow(
      static_cast<char*>(arena->data) + offset, shape, dtype,
      [](void* p) { delete static_cast<std::shared_ptr<Storage>*>(p); }, keep);
}

}  // namespace

void CompiledFunction::Impl::build() {
  const int N = int(graph.nodes.size());
  plan = compiler::plan_memory(graph);
  if (plan.arena_bytes) arena = std::make_shared<Storage>(plan.arena_bytes);
  preset.assign(size_t(N), Tensor());
  outputs_of.assign(size_t(N), {});
  dead_after.assign(size_t(N), {});
  slots.assign(size_t(N), Tensor());
  multi.assign(size_t(N), {});
  result_count.assign(size_t(N), 0);
  in_arena.assign(size_t(N), 0);
  for (int i = 0; i < N; ++i) in_arena[size_t(i)] = compiler::writes_arena(graph, i);
  std::vector<char> is_output(size_t(N), 0);
  for (int o : graph.outputs) is_output[size_t(o)] = 1;
  for (int i = 0; i < N; ++i) {
    const Node& n = graph.nodes[size_t(i)];
    if (plan.offset[size_t(i)] >= 0) preset[size_t(i)] = arena_tensor(arena, plan.offset[size_t(i)], n.shape, n.dtype);
    if (n.kind == NodeKind::Param || n.kind == NodeKind::Constant) preset[size_t(i)] = n.value;
    if (n.kind == NodeKind::Output) {  // a loop's or a kernel's
      outputs_of[size_t(n.in[0])].push_back(i);
      result_count[size_t(n.in[0])] = std::max(result_count[size_t(n.in[0])], n.index + 1);
    }
    if (plan.last_use[size_t(i)] >= 0 && plan.last_use[size_t(i)] < N && !is_output[size_t(i)])
      dead_after[size_t(plan.last_use[size_t(i)])].push_back(i);
    switch (n.kind) {
      case NodeKind::Fused:
        ++stats.fused_loops;
        for (const auto& in : n.loop->code)
          stats.fused_ops += in.step != compiler::FusedLoop::Step::Load && in.step != compiler::FusedLoop::Step::Imm;
        stats.fused_ops += n.loop->reduces;
        break;
      case NodeKind::Op:
        ++(in_arena[size_t(i)] || n.into ? stats.arena_steps : stats.eager_steps);
        break;
      case NodeKind::Effect:
        ++stats.effects;
        break;
      default:
        break;
    }
  }
  stats.nodes = N;
  stats.captured_nodes = int64_t(captured.nodes.size());
  stats.arena_bytes = plan.arena_bytes;
  stats.unplanned_bytes = plan.unplanned_bytes;
}

void CompiledFunction::Impl::step(int i) {
  const Node& n = graph.nodes[size_t(i)];
  Tensor& slot = slots[size_t(i)];
  auto gather_args = [&] {
    args.resize(n.in.size());
    for (size_t k = 0; k < n.in.size(); ++k) args[k] = slots[size_t(n.in[k])];
  };
  switch (n.kind) {
    case NodeKind::Input:
      return;  // bound by run()
    case NodeKind::Param:
    case NodeKind::Constant:
      slot = preset[size_t(i)];
      return;
    case NodeKind::Output:  // a loop's or a kernel's result: in the arena, or among the kernel's own
      slot = in_arena[size_t(i)] ? preset[size_t(i)] : multi[size_t(n.in[0])][size_t(n.index)];
      return;
    case NodeKind::View: {
      const Tensor& base = slots[size_t(n.in[0])];
      slot = base.as_strided(n.shape, n.strides, base.offset() + n.offset);
      return;
    }
    case NodeKind::Fused: {
      gather_args();
      outs.resize(outputs_of[size_t(i)].size());
      for (size_t k = 0; k < outs.size(); ++k) outs[k] = preset[size_t(outputs_of[size_t(i)][k])];
      compiler::run_fused_loop(*n.loop, args, outs);
      return;
    }
    case NodeKind::Effect:
      gather_args();
      n.eager(args);
      return;
    case NodeKind::Op:
      break;
  }
  if (n.eager_multi) {
    args.resize(n.args.size());
    for (size_t k = 0; k < n.args.size(); ++k)
      args[k] = n.args[k] >= 0 ? slots[size_t(n.in[size_t(n.args[k])])] : Tensor();
    if (!n.into) {
      multi[size_t(i)] = n.eager_multi(args);
      return;
    }
    // into the planned buffers of the results the graph reads; the others are not wanted
    std::vector<Tensor>& out = multi[size_t(i)];
    out.assign(size_t(result_count[size_t(i)]), Tensor());
    for (int o : outputs_of[size_t(i)]) out[size_t(graph.nodes[size_t(o)].index)] = preset[size_t(o)];
    n.into(args, out);
    return;
  }
  if (!in_arena[size_t(i)]) {
    gather_args();
    slot = n.eager(args);
    return;
  }
  Tensor& out = preset[size_t(i)];
  if (n.op == detail::OpKind::Matmul) {
    detail::matmul_into(slots[size_t(n.in[0])], slots[size_t(n.in[1])], out);
  } else {  // softmax or log_softmax over the last axis
    const Tensor& x = slots[size_t(n.in[0])];
    if (x.dtype() == DType::F32 && x.is_contiguous()) {
      const int64_t inner = x.shape().back(), outer = inner ? x.numel() / inner : 0;
      if (n.op == detail::OpKind::LogSoftmax)
        detail::for_each_row(x.data<float>(), out.data<float>(), outer, inner, detail::log_softmax_row);
      else
        detail::for_each_row(x.data<float>(), out.data<float>(), outer, inner, detail::softmax_row);
    } else {
      gather_args();
      out.copy_(n.eager(args));
    }
  }
  slot = out;
}

const std::vector<Tensor>& CompiledFunction::run(const std::vector<Tensor>& inputs) {
  Impl& m = *impl_;
  const Graph& g = m.graph;
  if (inputs.size() != g.inputs.size())
    fail(Status::InvalidArg, "compiled function",
         "takes " + std::to_string(g.inputs.size()) + " inputs, got " + std::to_string(inputs.size()));
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Node& want = g.nodes[size_t(g.inputs[k])];
    const Tensor& t = inputs[k];
    if (!t.defined()) fail(Status::InvalidArg, "compiled function", "input " + std::to_string(k) + " is undefined");
    if (!(t.shape() == want.shape))
      fail(Status::Shape, "compiled function",
           "input " + std::to_string(k) + " is " + t.shape().str() + " but was captured as " + want.shape.str() +
               " (compile again for new shapes)");
    if (t.dtype() != want.dtype)
      fail(Status::DType, "compiled function",
           "input " + std::to_string(k) + " is " + dtype_name(t.dtype()) + " but was captured as " +
               dtype_name(want.dtype));
    m.slots[size_t(g.inputs[k])] = t.is_contiguous() ? t.alias() : t.contiguous();
  }
  for (int i = 0; i < int(g.nodes.size()); ++i) {
    m.step(i);
    for (int d : m.dead_after[size_t(i)]) {
      m.slots[size_t(d)] = Tensor();
      m.multi[size_t(d)].clear();
    }
  }
  m.results.resize(g.outputs.size());
  for (size_t k = 0; k < g.outputs.size(); ++k) m.results[k] = m.slots[size_t(g.outputs[k])];
  m.args.clear();
  m.outs.clear();
  return m.results;
}

std::string CompiledFunction::dump(GraphStage stage, GraphFormat format) const {
  const Graph& g = stage == GraphStage::Captured ? impl_->captured : impl_->graph;
  const compiler::MemoryPlan* plan = stage == GraphStage::Optimized ? &impl_->plan : nullptr;
  return format == GraphFormat::Dot ? compiler::to_dot(g) : compiler::to_text(g, plan);
}

const CompileStats& CompiledFunction::stats() const { return impl_->stats; }

CompiledFunction::CompiledFunction(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CompiledFunction::CompiledFunction(CompiledFunction&&) noexcept = default;
CompiledFunction& CompiledFunction::operator=(CompiledFunction&&) noexcept = default;
CompiledFunction::~CompiledFunction() = default;

CompiledFunction compile(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                         const std::vector<Tensor>& example_inputs, const CompileOptions& options) {
  auto impl = std::make_unique<CompiledFunction::Impl>();
  impl->captured = compiler::capture(fn, example_inputs);
  Graph g = compiler::eliminate_dead_code(impl->captured);
  if (options.fold_constants) g = compiler::fold_constants(g);
  if (options.eliminate_common_subexpressions) g = compiler::eliminate_common_subexpressions(g);
  if (options.fuse) g = compiler::eliminate_dead_code(compiler::fuse_elementwise(g));  // constants now immediates
  impl->graph = std::move(g);
  impl->build();
  return CompiledFunction(std::move(impl));
}

}  // namespace xla
