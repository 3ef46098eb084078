// graph_dot.cpp — writes the Graphviz dumps of the book's example (chapter 15: a residual
// add and Gemma's RMSNorm) before and after the passes: OUT/before.dot and OUT/after.dot.
// ctest compile.graphviz renders both with `dot`; the book's figures are these, rendered.
#include <cstdio>
#include <fstream>

#include "xla/compile.hpp"
#include "xla/ops.hpp"

using namespace xla;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: compile_graph_dot OUT_DIR\n");
    return 2;
  }
  Generator gen(1);
  Tensor w = randn({8}, gen);
  auto add_norm = [&](const std::vector<Tensor>& in) {
    Tensor h = add(in[0], in[1]);
    Tensor r = rsqrt(add(mean(mul(h, h), {-1}, true), Tensor::scalar(1e-6f)));
    return std::vector<Tensor>{h, mul(mul(h, r), add(Tensor::scalar(1.f), w))};
  };
  CompiledFunction f = compile(add_norm, {randn({4, 8}, gen), randn({4, 8}, gen)});
  const std::string dir = argv[1];
  for (auto [name, stage] : {std::pair{"before", GraphStage::Captured}, std::pair{"after", GraphStage::Optimized}}) {
    std::ofstream out(dir + "/" + name + ".dot");
    out << f.dump(stage, GraphFormat::Dot);
    if (!out) {
      std::fprintf(stderr, "compile_graph_dot: cannot write %s/%s.dot\n", dir.c_str(), name);
      return 1;
    }
  }
  return 0;
}
