// op_trace.hpp — how the tensor ops report themselves to a capture (src/compile).
// While a thread captures, each op of ops.hpp (and the copying Tensor methods) hands the
// tracer what it did: its kind, its inputs, its result and a closure that reruns it on new
// inputs. Ops that call other ops report only themselves (a depth count). With no capture
// the cost is one thread-local load per op.
#pragma once
#include <functional>
#include <initializer_list>
#include <vector>

#include "xla/tensor.hpp"

namespace xla::detail {

enum class UnaryCode : int { Neg, Abs, Exp, Log, Sqrt, Rsqrt, Tanh, Sigmoid, Relu, Gelu, GeluTanh, Silu };
enum class BinaryCode : int { Add, Sub, Mul, Div, Maximum, Minimum, Pow, Eq, Ne, Lt, Le, Gt, Ge };
enum class ReduceCode : int { Sum, Mean, Max, Min };
inline bool is_comparison(BinaryCode c) { return c >= BinaryCode::Eq; }

// What the compiler understands natively; Other ops replay through their closure.
enum class OpKind : int { Unary, Binary, Where, Reduce, Softmax, LogSoftmax, Matmul, Convert, Other };

using EagerOp = std::function<Tensor(const std::vector<Tensor>&)>;
// An op with several results (a fused layer's kernel and the values it keeps for backward);
// results it was not asked for are undefined.
using EagerMultiOp = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
// The same kernel writing into results the caller allocated (contiguous, of the captured
// shapes and dtypes; an undefined one is not wanted): a replay then allocates nothing.
using EagerInto = std::function<void(const std::vector<Tensor>&, std::vector<Tensor>&)>;

struct OpEvent {
  OpKind kind = OpKind::Other;
  int code = 0;                   // a UnaryCode, BinaryCode or ReduceCode
  const char* name = "";          // the op's name, for dumps and errors
  std::vector<int> axes;          // Reduce: normalised, ascending
  bool keepdims = false;          // Reduce
  int axis = 0;                   // Softmax, LogSoftmax: normalised
  EagerOp eager;                  // reruns the op
  EagerMultiOp eager_multi = {};  // … or, for an op with several results, this
  EagerInto into = {};            // optional: the kernel into given results
  int workspace = 0;              // `into` kernels: the last this many results are its workspace
};

class OpTracer {
 public:
  virtual ~OpTracer() = default;
  virtual void op(OpEvent&& event, const std::vector<Tensor>& inputs, const Tensor& out) = 0;
  virtual void multi_op(OpEvent&& event, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outs) = 0;
  // A tensor made from values (from_data, zeros, and what builds on them): a constant.
  virtual void constant(const Tensor& t) = 0;
  // An op that wrote into `target` in place (inputs: what it read); target's storage was at
  // version `version_before` when it began. event.eager reruns the write (its arguments:
  // target, then the inputs) and returns nothing.
  virtual void effect(OpEvent&& event, const Tensor& target, const std::vector<Tensor>& inputs,
                      uint64_t version_before) = 0;
};

// The tracer of this thread (null when it is not capturing) and the op nesting depth.
OpTracer*& current_tracer();
int& trace_depth();

// Code whose results come from raw kernels that do not report themselves (a fused loss,
// a selective scan, data-dependent routing) runs inside one of these: nothing in it is
// recorded, not even the constants it makes, so a capture that uses its results fails
// (Status::Unsupported) instead of freezing them as constants. A traced op runs its own
// body inside one too: the ops it calls are its parts, not ops of the graph.
struct UntracedScope {
  UntracedScope() { ++trace_depth(); }
  ~UntracedScope() { --trace_depth(); }
  UntracedScope(const UntracedScope&) = delete;
  UntracedScope& operator=(const UntracedScope&) = delete;
};

// The tracer to report an op to: this thread's, when no traced op encloses this one.
inline OpTracer* reporting_tracer() { return trace_depth() > 0 ? nullptr : current_tracer(); }

// Runs compute() (an op over the tensors `inputs`); when there is a tracer to report to,
// reports the result with the event make_event() builds (built only then: closures cost).
template <typename Make, typename F>
Tensor traced_list(const std::vector<Tensor>& inputs, Make&& make_event, F&& compute) {
  OpTracer* tracer = reporting_tracer();
  if (!tracer) return compute();
  Tensor out;
  {
    UntracedScope body;  // the ops compute() calls are this op's parts
    out = compute();
  }
  tracer->op(make_event(), inputs, out);
  return out;
}

// The same for an op of a few named arguments.
template <typename Make, typename F>
Tensor traced(std::initializer_list<const Tensor*> inputs, Make&& make_event, F&& compute) {
  if (!reporting_tracer()) return compute();
  std::vector<Tensor> in;
  in.reserve(inputs.size());
  for (const Tensor* t : inputs) in.push_back(*t);
  return traced_list(in, std::forward<Make>(make_event), std::forward<F>(compute));
}

// The same for an op with several results (undefined ones allowed): a fused layer's raw
// kernel reports itself this way, so a capture replays the kernel instead of refusing it.
template <typename Make, typename F>
std::vector<Tensor> traced_multi(const std::vector<Tensor>& inputs, Make&& make_event, F&& compute) {
  OpTracer* tracer = reporting_tracer();
  if (!tracer) return compute();
  std::vector<Tensor> outs;
  {
    UntracedScope body;
    outs = compute();
  }
  tracer->multi_op(make_event(), inputs, outs);
  return outs;
}

// Runs write() (an in-place op into target) and reports it as an effect.
template <typename Make, typename F>
void traced_effect(const Tensor& target, std::initializer_list<const Tensor*> inputs, Make&& make_event, F&& write) {
  OpTracer* tracer = reporting_tracer();
  if (!tracer) return write();
  const uint64_t before = target.version();
  {
    UntracedScope body;
    write();
  }
  std::vector<Tensor> in;
  for (const Tensor* t : inputs) in.push_back(*t);
  tracer->effect(make_event(), target, in, before);
}

inline void trace_constant(const Tensor& t) {
  if (OpTracer* tracer = reporting_tracer()) tracer->constant(t);
}

// Events for the common shapes of op.
inline OpEvent unary_event(UnaryCode code, const char* name, Tensor (*fn)(const Tensor&)) {
  return {OpKind::Unary, int(code), name, {}, false, 0, [fn](const std::vector<Tensor>& v) { return fn(v[0]); }, {}};
}
inline OpEvent binary_event(BinaryCode code, const char* name, Tensor (*fn)(const Tensor&, const Tensor&)) {
  return {
      OpKind::Binary, int(code), name, {}, false, 0, [fn](const std::vector<Tensor>& v) { return fn(v[0], v[1]); }, {}};
}
inline OpEvent other_event(const char* name, EagerOp eager) {
  return {OpKind::Other, 0, name, {}, false, 0, std::move(eager), {}};
}
inline OpEvent multi_event(const char* name, EagerMultiOp eager) {
  return {OpKind::Other, 0, name, {}, false, 0, {}, std::move(eager), {}};
}

// Result k of an `into` kernel's results when it is wanted (defined), else null.
inline Tensor* wanted(std::vector<Tensor>& out, size_t k) {
  return k < out.size() && out[k].defined() ? &out[k] : nullptr;
}

// An op with several results whose kernel can write into given ones: `into` is the kernel,
// and rerunning it allocates results like `shapes_of(inputs)` (shape, dtype; an undefined
// tensor for a result not wanted). The last `workspace` of them are the kernel's own,
// which no caller reads: a replay plans them for the kernel's step like the results it reads.
template <typename Into, typename Shapes>
OpEvent multi_event_into(const char* name, Into into, Shapes shapes_of, int workspace = 0) {
  OpEvent e{OpKind::Other, 0, name, {}, false, 0, {}, {}, {}, workspace};
  e.eager_multi = [into, shapes_of](const std::vector<Tensor>& in) {
    std::vector<Tensor> out = shapes_of(in);
    into(in, out);
    return out;
  };
  e.into = into;
  return e;
}

// shapes_of for the ops whose one result is f32 and shaped like their first input.
inline std::vector<Tensor> one_like_first(const std::vector<Tensor>& in) { return {Tensor::empty(in[0].shape())}; }

// Runs such an op: eagerly into results allocated like `shapes_of(inputs)`, and, when a
// capture is on, reported with `into` so that a replay writes into planned buffers instead.
template <typename Into, typename Shapes>
std::vector<Tensor> traced_into(const char* name, const std::vector<Tensor>& inputs, Into into, Shapes shapes_of,
                                int workspace = 0) {
  return traced_multi(
      inputs, [&] { return multi_event_into(name, into, shapes_of, workspace); },
      [&] {
        std::vector<Tensor> out = shapes_of(inputs);
        into(inputs, out);
        return out;
      });
}

}  // namespace xla::detail
