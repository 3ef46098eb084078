// compile.hpp — capture a function of tensors once, optimise its graph, replay it.
//
//   auto f = xla::compile([&](const std::vector<Tensor>& in) {
//     Tensor x = in[0];
//     return std::vector<Tensor>{mul(mul(x, rsqrt(add(mean(mul(x, x), {-1}, true), eps))), w)};
//   }, {example_x});
//   const std::vector<Tensor>& y = f.run({x});   // no tensor allocated, one loop per fused chain
//
// compile() runs fn once, eagerly, and records every op of ops.hpp it calls (autograd's
// backward included: its ops are these ops), as a graph over the inputs, the tensors fn
// reads from outside (weights: read live at each run, so training them in place is seen)
// and the constants fn makes. The passes then remove dead code, fold constants, merge
// common subexpressions and fuse chains of elementwise ops, and a reduction over trailing
// axes at their end, into single loops; a memory plan puts every buffer the replay writes
// into one arena, reused by liveness. run() replays the graph on new inputs of the same
// shapes and dtypes: fused loops, products, softmax rows and the fused layers' kernels write
// into the arena, the other ops run as they do eagerly. Results equal eager ones bit for bit (the fused loops share
// the eager ops' arithmetic and summation order) — but where eager code would add into a
// tensor in place (a tied embedding's rows into the head's gradient), a capture records a
// new sum instead, whose rounding may differ in the last bit.
//
// One kind of in-place write is captured: index_copy_ into a tensor from outside (a KV
// cache's buffer) at positions given as values. It is an effect: it runs at its place in
// every replay, what follows reads the buffer as written, and no pass moves or merges
// anything across it. That is how a decode step, whose cache slot changes every token,
// compiles once (Model::compile_decode).
//
// What cannot be captured fails at compile() with Status::Unsupported, naming the op: a
// tensor made by code that does not report to the capture (the fused layers of nn.hpp,
// random draws), or any other in-place write into a tensor the graph reads. Control flow that
// depends on values is frozen as it went during the capture, as in every tracing compiler.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "xla/tensor.hpp"

namespace xla {

struct CompileOptions {
  bool fold_constants = true;
  bool eliminate_common_subexpressions = true;
  bool fuse = true;  // off: every op runs as its own step, as eagerly
};

enum class GraphStage { Captured, Optimized };
enum class GraphFormat { Text, Dot };  // Dot: Graphviz, `dot -Tsvg`

struct CompileStats {
  int64_t captured_nodes = 0;  // ops, inputs, weights and constants recorded
  int64_t nodes = 0;           // after the passes
  int64_t fused_loops = 0;     // loops replacing elementwise chains
  int64_t fused_ops = 0;       // ops inside them
  int64_t arena_steps = 0;     // products, softmax rows and fused layers' kernels writing into the arena
  int64_t eager_steps = 0;     // ops that run as they do eagerly (allocating their result)
  int64_t effects = 0;         // in-place writes into tensors from outside (index_copy_ into a cache)
  size_t arena_bytes = 0;      // the one buffer of the graph
  size_t unplanned_bytes = 0;  // the same buffers without reuse
};

// Where a compiled function's time goes: its steps grouped by what they run (an op's name
// such as "matmul", "fused loop", "view"), with their time summed over the profiled runs.
struct StepTime {
  std::string name;
  int64_t steps = 0;   // steps of this kind, over all runs
  double seconds = 0;  // their time, summed
};

struct RunProfile {
  int runs = 0;
  double seconds = 0;                                // the runs' whole time: the steps and what lies between them
  std::vector<StepTime> kinds;                       // most time first
  double seconds_in(const std::string& name) const;  // 0 for a kind the graph lacks
};

class CompiledFunction {
 public:
  CompiledFunction(CompiledFunction&&) noexcept;
  CompiledFunction& operator=(CompiledFunction&&) noexcept;
  ~CompiledFunction();

  // Runs the graph. inputs: as many as at compile(), of the same shapes and dtypes (any
  // strides: a strided one is packed first). The results are views of the graph's buffers,
  // valid until the next run (clone() one to keep it). One run at a time per object.
  const std::vector<Tensor>& run(const std::vector<Tensor>& inputs);

  // Runs the graph `runs` times (≥ 1) on these inputs as run() does, timing every step (a
  // clock read per step: some tens of ns).
  RunProfile profile(const std::vector<Tensor>& inputs, int runs = 1);

  std::string dump(GraphStage stage, GraphFormat format) const;
  const CompileStats& stats() const;

 private:
  friend CompiledFunction compile(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>&,
                                  const std::vector<Tensor>&, const CompileOptions&);
  struct Impl;
  explicit CompiledFunction(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

CompiledFunction compile(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                         const std::vector<Tensor>& example_inputs, const CompileOptions& options = {});

}  // namespace xla
