// compiled_function.cpp — compile(): capture, passes, memory plan; run(): the replay.
// The replay walks the optimised graph's working nodes in order with one slot per node.
// Buffers of the memory plan are tensors over the arena made once here, and so are the
// slots of weights, constants and views of them: a run that only touches them (fused
// loops, products, softmax rows) allocates nothing and copies no tensor handle, and
// other ops run as eagerly.
#include <algorithm>
#include <chrono>

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
  // One node the replay runs at each step. Its arguments that are the same tensors at every
  // run (weights, constants, buffers of the arena and views of them) are set once; the
  // others (`fresh`: inputs and what eager ops return) are gathered before it runs and
  // let go after.
  struct Work {
    int node = 0;
    std::vector<Tensor> args;
    std::vector<std::pair<int, int>> fresh;  // (argument, node whose slot it is)
    std::vector<Tensor> outs;                // a loop's outputs, or a kernel's results
    std::vector<int> dead;                   // slots no later node reads
  };

  Graph captured, graph;
  compiler::MemoryPlan plan;
  CompileStats stats;
  std::shared_ptr<Storage> arena;
  std::vector<Tensor> slots, results;
  std::vector<char> fixed;                 // per node: its slot holds the same tensor at every run
  std::vector<std::vector<Tensor>> multi;  // per Op with several results made eagerly: its results
  std::vector<Work> work;

  void build();
  void step(Work& w);
  void bind(const std::vector<Tensor>& inputs);
  void finish_step(const Work& w);
  const std::vector<Tensor>& collect();
  std::string kind_of(const Work& w) const;  // profile()'s grouping
};

namespace {

// A tensor over `bytes` of the arena at `offset`, keeping the arena alive while it lives.
Tensor arena_tensor(const std::shared_ptr<Storage>& arena, int64_t offset, const Shape& shape, DType dtype) {
  if (!arena) return Tensor::empty(shape, dtype);  // every planned buffer is empty
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
  slots.assign(size_t(N), Tensor());
  fixed.assign(size_t(N), 0);
  multi.assign(size_t(N), {});
  std::vector<std::vector<int>> outputs_of(static_cast<size_t>(N));  // per Fused node or kernel: its Output nodes
  std::vector<int> result_count(size_t(N), 0);                       // … and how many results the kernel gives
  for (int i = 0; i < N; ++i) {
    const Node& n = graph.nodes[size_t(i)];
    if (n.kind != NodeKind::Output) continue;
    outputs_of[size_t(n.in[0])].push_back(i);
    result_count[size_t(n.in[0])] = std::max(result_count[size_t(n.in[0])], n.index + 1);
  }
  for (int i = 0; i < N; ++i) {
    const Node& n = graph.nodes[size_t(i)];
    if (plan.offset[size_t(i)] >= 0) {
      slots[size_t(i)] = arena_tensor(arena, plan.offset[size_t(i)], n.shape, n.dtype);
      fixed[size_t(i)] = 1;
    }
    switch (n.kind) {
      case NodeKind::Param:
      case NodeKind::Constant:
        slots[size_t(i)] = n.value;
        fixed[size_t(i)] = 1;
        break;
      case NodeKind::View:
        if (fixed[size_t(n.in[0])]) {
          const Tensor& base = slots[size_t(n.in[0])];
          slots[size_t(i)] = base.as_strided(n.shape, n.strides, base.offset() + n.offset);
          fixed[size_t(i)] = 1;
        }
        break;
      case NodeKind::Fused:
        ++stats.fused_loops;
        for (const auto& in : n.loop->code)
          stats.fused_ops += in.step != compiler::FusedLoop::Step::Load && in.step != compiler::FusedLoop::Step::Imm;
        stats.fused_ops += n.loop->reduces;
        break;
      case NodeKind::Op:
        ++(compiler::writes_arena(graph, i) || n.into ? stats.arena_steps : stats.eager_steps);
        break;
      case NodeKind::Effect:
        ++stats.effects;
        break;
      default:
        break;
    }
  }
  for (int i = 0; i < N; ++i) {  // (a loop's or a kernel's Output nodes follow it: their slots are set above)
    const Node& n = graph.nodes[size_t(i)];
    const bool runs = n.kind == NodeKind::Op || n.kind == NodeKind::Fused || n.kind == NodeKind::Effect ||
                      ((n.kind == NodeKind::View || n.kind == NodeKind::Output) && !fixed[size_t(i)]);
    if (!runs) continue;
    Work w;
    w.node = i;
    auto take = [&](int k, int from) {
      if (fixed[size_t(from)])
        w.args[size_t(k)] = slots[size_t(from)];
      else
        w.fresh.push_back({k, from});
    };
    if (n.kind == NodeKind::Op && n.eager_multi) {
      w.args.resize(n.args.size());  // argument k is in[args[k]], or undefined when -1
      for (size_t k = 0; k < n.args.size(); ++k)
        if (n.args[k] >= 0) take(int(k), n.in[size_t(n.args[k])]);
      if (n.into) {  // into the planned buffers of the results the graph reads; the others are not wanted
        w.outs.assign(size_t(result_count[size_t(i)]), Tensor());
        for (int o : outputs_of[size_t(i)]) w.outs[size_t(graph.nodes[size_t(o)].index)] = slots[size_t(o)];
      }
    } else if (n.kind != NodeKind::View && n.kind != NodeKind::Output) {
      w.args.resize(n.in.size());
      for (size_t k = 0; k < n.in.size(); ++k) take(int(k), n.in[k]);
      if (n.kind == NodeKind::Fused)
        for (int o : outputs_of[size_t(i)]) w.outs.push_back(slots[size_t(o)]);
    }
    work.push_back(std::move(w));
  }
  // A slot the replay fills is let go after the last node reading it (an output's is kept).
  std::vector<char> is_output(size_t(N), 0);
  for (int o : graph.outputs) is_output[size_t(o)] = 1;
  for (int i = 0; i < N; ++i) {
    const int last = plan.last_use[size_t(i)];
    if (fixed[size_t(i)] || is_output[size_t(i)] || last < 0 || last >= N) continue;
    auto after = std::upper_bound(work.begin(), work.end(), last, [](int v, const Work& w) { return v < w.node; });
    if (after != work.begin()) std::prev(after)->dead.push_back(i);
  }
  stats.nodes = N;
  stats.captured_nodes = int64_t(captured.nodes.size());
  stats.arena_bytes = plan.arena_bytes;
  stats.unplanned_bytes = plan.unplanned_bytes;
}

void CompiledFunction::Impl::step(Work& w) {
  const Node& n = graph.nodes[size_t(w.node)];
  Tensor& slot = slots[size_t(w.node)];
  for (auto [k, from] : w.fresh) w.args[size_t(k)] = slots[size_t(from)];
  switch (n.kind) {
    case NodeKind::View: {
      const Tensor& base = slots[size_t(n.in[0])];
      slot = base.as_strided(n.shape, n.strides, base.offset() + n.offset);
      return;
    }
    case NodeKind::Output:  // a result of a kernel that made its own
      slot = multi[size_t(n.in[0])][size_t(n.index)];
      return;
    case NodeKind::Fused:
      compiler::run_fused_loop(*n.loop, w.args, w.outs);
      break;
    case NodeKind::Effect:
      n.eager(w.args);
      break;
    case NodeKind::Op:
      if (n.eager_multi) {
        if (n.into)
          n.into(w.args, w.outs);
        else
          multi[size_t(w.node)] = n.eager_multi(w.args);
      } else if (!fixed[size_t(w.node)]) {
        slot = n.eager(w.args);
      } else if (n.op == detail::OpKind::Matmul) {
        detail::matmul_into(w.args[0], w.args[1], slot);
      } else {  // softmax or log_softmax over the last axis, into the arena
        const Tensor& x = w.args[0];
        if (x.dtype() == DType::F32 && x.is_contiguous()) {
          const int64_t inner = x.shape().back(), outer = inner ? x.numel() / inner : 0;
          if (n.op == detail::OpKind::LogSoftmax)
            detail::for_each_row(x.data<float>(), slot.data<float>(), outer, inner, detail::log_softmax_row);
          else
            detail::softmax_rows(x.data<float>(), slot.data<float>(), outer, inner);
        } else {
          slot.copy_(n.eager(w.args));
        }
      }
      break;
    default:
      break;
  }
  for (auto [k, from] : w.fresh) w.args[size_t(k)] = Tensor();
}

void CompiledFunction::Impl::bind(const std::vector<Tensor>& inputs) {
  const Graph& g = graph;
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
    slots[size_t(g.inputs[k])] = t.is_contiguous() ? t.alias() : t.contiguous();
  }
}

void CompiledFunction::Impl::finish_step(const Work& w) {
  for (int d : w.dead) {
    slots[size_t(d)] = Tensor();
    multi[size_t(d)].clear();
  }
}

const std::vector<Tensor>& CompiledFunction::Impl::collect() {
  results.resize(graph.outputs.size());
  for (size_t k = 0; k < graph.outputs.size(); ++k) results[k] = slots[size_t(graph.outputs[k])];
  return results;
}

std::string CompiledFunction::Impl::kind_of(const Work& w) const {
  const Node& n = graph.nodes[size_t(w.node)];
  switch (n.kind) {
    case NodeKind::Fused:
      return "fused loop";
    case NodeKind::Effect:
      return "write " + n.name + " into";
    case NodeKind::View:
      return "view";
    case NodeKind::Output:
      return "result";
    default:
      return n.name;
  }
}

const std::vector<Tensor>& CompiledFunction::run(const std::vector<Tensor>& inputs) {
  Impl& m = *impl_;
  m.bind(inputs);
  for (Impl::Work& w : m.work) {
    m.step(w);
    m.finish_step(w);
  }
  return m.collect();
}

RunProfile CompiledFunction::profile(const std::vector<Tensor>& inputs, int runs) {
  if (runs < 1)
    fail(Status::InvalidArg, "compiled function profile", "runs is " + std::to_string(runs) + ", must be at least 1");
  Impl& m = *impl_;
  std::vector<StepTime> times;              // one per kind, in order of first appearance
  std::vector<size_t> kind(m.work.size());  // each step's entry in times
  for (size_t i = 0; i < m.work.size(); ++i) {
    const std::string name = m.kind_of(m.work[i]);
    const auto at = std::find_if(times.begin(), times.end(), [&](const StepTime& t) { return t.name == name; });
    kind[i] = size_t(at - times.begin());
    if (at == times.end()) times.push_back({name, 0, 0});
  }
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  RunProfile p;
  p.runs = runs;
  for (int r = 0; r < runs; ++r) {
    const auto start = Clock::now();
    m.bind(inputs);
    auto before = Clock::now();
    for (size_t i = 0; i < m.work.size(); ++i) {
      m.step(m.work[i]);
      m.finish_step(m.work[i]);
      const auto after = Clock::now();
      StepTime& t = times[kind[i]];
      ++t.steps;
      t.seconds += seconds(before, after);
      before = after;
    }
    m.collect();
    p.seconds += seconds(start, Clock::now());
  }
  std::stable_sort(times.begin(), times.end(),
                   [](const StepTime& a, const StepTime& b) { return a.seconds > b.seconds; });
  p.kinds = std::move(times);
  return p;
}

double RunProfile::seconds_in(const std::string& name) const {
  for (const StepTime& t : kinds)
    if (t.name == name) return t.seconds;
  return 0;
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
