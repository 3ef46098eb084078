// compile_api.cpp — C entry points for the compiler (xla/compile.hpp): a C callback is the
// function captured, its handles become tensors and the graph replays them.
#include <charconv>
#include <cstring>

#include "handles.hpp"
#include "xla/compile.hpp"

struct xla_graph {
  xla::CompiledFunction f;
  int32_t n_outputs;
};

using namespace xla;
using namespace xla::capi;

namespace {

void check_count(int32_t n, const char* name) {
  if (n < 0 || n > 4096) invalid(std::string(name) + " is " + std::to_string(n) + ", outside [0, 4096]");
}

std::vector<Tensor> tensors_of(const xla_tensor* const* ts, int32_t n, const char* name) {
  if (n > 0) require_ptr(ts, name);
  std::vector<Tensor> v;
  for (int32_t i = 0; i < n; ++i)
    v.push_back(tensor_of(ts[i], (std::string(name) + "[" + std::to_string(i) + "]").c_str()));
  return v;
}

// Seconds as text with nine significant digits, with a decimal point whatever the locale.
std::string seconds_text(double s) {
  char out[32];
  const auto end = std::to_chars(out, out + sizeof out, s, std::chars_format::general, 9).ptr;
  return std::string(out, end);
}

}  // namespace

extern "C" {

xla_status xla_compile(xla_graph_fn fn, void* user_data, const xla_tensor* const* example_inputs, int32_t n_inputs,
                       int32_t n_outputs, uint32_t flags, xla_graph** out) {
  return guard("xla_compile", "compile", [&] {
    require_ptr(out, "out");
    if (!fn) invalid("fn is NULL");
    check_count(n_inputs, "n_inputs");
    check_count(n_outputs, "n_outputs");
    if (n_outputs == 0) invalid("n_outputs is 0: a graph computes at least one tensor");
    if (flags & ~(XLA_COMPILE_NO_FOLD | XLA_COMPILE_NO_CSE | XLA_COMPILE_NO_FUSE))
      invalid("flags " + std::to_string(flags) + " has bits other than XLA_COMPILE_NO_FOLD | _NO_CSE | _NO_FUSE");
    std::vector<Tensor> examples = tensors_of(example_inputs, n_inputs, "example_inputs");
    CompileOptions options;
    options.fold_constants = !(flags & XLA_COMPILE_NO_FOLD);
    options.eliminate_common_subexpressions = !(flags & XLA_COMPILE_NO_CSE);
    options.fuse = !(flags & XLA_COMPILE_NO_FUSE);
    auto captured = [&](const std::vector<Tensor>& in) {
      std::vector<xla_tensor> handles(in.size());
      std::vector<xla_tensor*> args(in.size());
      for (size_t i = 0; i < in.size(); ++i) {
        handles[i].t = in[i];
        args[i] = &handles[i];
      }
      std::vector<xla_tensor*> results(size_t(n_outputs), nullptr);
      const int32_t rc = fn(args.data(), n_inputs, results.data(), n_outputs, user_data);
      std::vector<Tensor> values;
      std::vector<xla_tensor*> taken;
      bool missing = false;
      for (xla_tensor* r : results) {
        missing = missing || !r;
        if (!r) continue;
        values.push_back(r->t);
        const bool is_input = r >= handles.data() && r < handles.data() + handles.size();
        if (!is_input && std::find(taken.begin(), taken.end(), r) == taken.end()) taken.push_back(r);
      }
      for (xla_tensor* r : taken) xla_tensor_free(r);
      if (rc != 0) fail(Status::Aborted, "fn returned " + std::to_string(rc));
      if (missing) invalid("fn left an output NULL");
      return values;
    };
    auto g = std::make_unique<xla_graph>(xla_graph{compile(captured, examples, options), n_outputs});
    *out = g.release();
  });
}

xla_status xla_graph_run(xla_graph* g, const xla_tensor* const* inputs, int32_t n_inputs, xla_tensor** outputs,
                         int32_t n_outputs) {
  return guard("xla_graph_run", [&] {
    require_ptr(g, "g");
    check_count(n_inputs, "n_inputs");
    if (n_outputs != g->n_outputs)
      invalid("n_outputs is " + std::to_string(n_outputs) + ", the graph computes " + std::to_string(g->n_outputs));
    require_ptr(outputs, "outputs");
    const std::vector<Tensor>& r = g->f.run(tensors_of(inputs, n_inputs, "inputs"));
    std::vector<std::unique_ptr<xla_tensor>> made;  // all handed out, or none
    for (const Tensor& t : r) made.push_back(std::make_unique<xla_tensor>(xla_tensor{t}));
    for (size_t k = 0; k < made.size(); ++k) outputs[k] = made[k].release();
  });
}

xla_status xla_graph_dump(const xla_graph* g, int32_t stage, int32_t format, char* buf, size_t cap, size_t* len_out) {
  return guard("xla_graph_dump", [&] {
    require_ptr(g, "g");
    require_ptr(len_out, "len_out");
    if (stage != XLA_GRAPH_CAPTURED && stage != XLA_GRAPH_OPTIMIZED)
      invalid("stage " + std::to_string(stage) + " is not XLA_GRAPH_CAPTURED or XLA_GRAPH_OPTIMIZED");
    if (format != XLA_GRAPH_TEXT && format != XLA_GRAPH_DOT)
      invalid("format " + std::to_string(format) + " is not XLA_GRAPH_TEXT or XLA_GRAPH_DOT");
    write_text(g->f.dump(stage == XLA_GRAPH_CAPTURED ? GraphStage::Captured : GraphStage::Optimized,
                         format == XLA_GRAPH_DOT ? GraphFormat::Dot : GraphFormat::Text),
               buf, cap, len_out);
  });
}

xla_status xla_graph_profile(xla_graph* g, const xla_tensor* const* inputs, int32_t n_inputs, int32_t runs, char* buf,
                             size_t cap, size_t* len_out) {
  return guard("xla_graph_profile", [&] {
    require_ptr(g, "g");
    require_ptr(len_out, "len_out");
    check_count(n_inputs, "n_inputs");
    const RunProfile p = g->f.profile(tensors_of(inputs, n_inputs, "inputs"), runs);
    std::string text = "runs\t" + std::to_string(p.runs) + "\t" + seconds_text(p.seconds) + "\n";
    for (const StepTime& k : p.kinds)
      text += k.name + "\t" + std::to_string(k.steps) + "\t" + seconds_text(k.seconds) + "\n";
    write_text(text, buf, cap, len_out);
  });
}

void xla_graph_free(xla_graph* g) { delete g; }

}  // extern "C"
