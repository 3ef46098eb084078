// test_compile.cpp — compile(): capture, replay equal to eager, allocation-free runs, errors.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "passes.hpp"
#include "xla/autograd.hpp"
#include "xla/compile.hpp"
#include "xla/ops.hpp"

using namespace xla;

namespace {

Tensor randn_tensor(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return randn(s, g);
}

// Bitwise equality of two f32 (or u8) tensors' values.
void expect_same_bits(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(std::memcmp(&x[i], &y[i], sizeof(float)), 0) << what << " at " << i << ": " << x[i] << " vs " << y[i];
}

// Gemma's RMSNorm written with plain ops: x · rsqrt(mean(x²) + ε) · (1 + w).
Tensor rms_norm_ops(const Tensor& x, const Tensor& w) {
  Tensor ms = mean(mul(x, x), {-1}, true);
  return mul(mul(x, rsqrt(add(ms, Tensor::scalar(1e-6f)))), add(Tensor::scalar(1.f), w));
}

}  // namespace

TEST(Compile, RmsNormFusesAndMatchesEagerBitwise) {
  Tensor w = randn_tensor({64}, 1);
  auto fn = [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{rms_norm_ops(in[0], w)}; };
  Tensor x = randn_tensor({8, 64}, 2);
  CompiledFunction f = compile(fn, {x});
  // two loops: mul → mean over [8, 64]; then x · r · (1 + w) over [8, 64], computing the
  // small producers inside it: rsqrt(mean + ε) per row, 1 + w per column (w is a weight,
  // read live, so it does not fold)
  EXPECT_EQ(f.stats().fused_loops, 2) << f.dump(GraphStage::Optimized, GraphFormat::Text);
  EXPECT_EQ(f.stats().eager_steps, 0);
  for (uint64_t seed : {3, 4, 5}) {
    Tensor x2 = randn_tensor({8, 64}, seed);
    expect_same_bits(f.run({x2})[0], fn({x2})[0], "rms_norm");
  }
}

// A reduced row longer than one block, of values computed in registers: each block's values
// are collected before the next block overwrites them.
TEST(Compile, ReductionsOfRowsLongerThanABlockMatchEagerBitwise) {
  auto fn = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{sum(mul(tanh(in[0]), Tensor::scalar(3.f)), {-2, -1})};
  };
  Tensor x = randn_tensor({2, 3, 1500}, 7);  // rows of 4500: blocks of 2048, 2048, 404
  CompiledFunction f = compile(fn, {x});
  EXPECT_EQ(f.stats().fused_loops, 1) << f.dump(GraphStage::Optimized, GraphFormat::Text);
  for (uint64_t seed : {8, 9}) {
    Tensor x2 = randn_tensor({2, 3, 1500}, seed);
    expect_same_bits(f.run({x2})[0], fn({x2})[0], "sum over 4500");
  }
}

// Results larger than the caches (8 MB and up) are written with non-temporal stores: the
// same bits, also where rows of 2053 leave blocks that start off any vector boundary, and
// for a product with one value.
TEST(Compile, ResultsWrittenPastTheCachesMatchEagerBitwise) {
  constexpr int64_t kFfn = 2053;
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor gate = in[0].slice(-1, 0, kFfn), up = in[0].slice(-1, kFfn, 2 * kFfn);
    return std::vector<Tensor>{mul(gelu_tanh(gate), up), mul(up, Tensor::scalar(0.5f))};
  };
  Tensor x = randn_tensor({1031, 2 * kFfn}, 11);  // results of 8.5 MB each
  CompiledFunction f = compile(fn, {x});
  const std::vector<Tensor> got = f.run({x}), want = fn({x});
  expect_same_bits(got[0], want[0], "geglu");
  expect_same_bits(got[1], want[1], "up / 2");
}

// Rows shorter than half a block (a softmax's gradient over 12 keys): whole rows to a block,
// each reduced where it lies, blocks ending mid-way through a thread's rows; and a strided u8
// mask broadcast over the batch, widened a run at a time.
TEST(Compile, ReductionsOfShortRowsMatchEagerBitwise) {
  Tensor mask = gt(randn_tensor({12, 70}, 10), Tensor::scalar(0.f)).transpose(0, 1);  // u8, strided
  auto fn = [&](const std::vector<Tensor>& in) {
    const Tensor &p = in[0], &dp = in[1];
    Tensor s = sum(mul(dp, p), {-1}, true);
    return std::vector<Tensor>{sum(mul(dp, p), {-1}), where(mask, mul(p, sub(dp, s)), Tensor::scalar(0.f))};
  };
  const Shape shape = {3, 5, 70, 12};  // 1050 rows of 12: 170 to a block
  CompiledFunction f = compile(fn, {randn_tensor(shape, 11), randn_tensor(shape, 12)});
  for (uint64_t seed : {13, 15}) {
    Tensor p = randn_tensor(shape, seed), dp = randn_tensor(shape, seed + 1);
    const std::vector<Tensor>& got = f.run({p, dp});
    std::vector<Tensor> want = fn({p, dp});
    expect_same_bits(got[0], want[0], "row sums");
    expect_same_bits(got[1], want[1], "masked gradient");
  }
}

namespace {

// A two-layer block with every kind of replay step: products, fused chains, softmax rows.
std::vector<Tensor> block(const std::vector<Tensor>& in, const Tensor& w1, const Tensor& b1, const Tensor& w2) {
  Tensor h = gelu_tanh(add(matmul(in[0], w1), b1));
  Tensor p = softmax(matmul(h, w2), -1);
  return {mul(p, Tensor::scalar(2.f)), sum(h, {-1})};
}

}  // namespace

TEST(Compile, ReplayAllocatesNoTensorAndMatchesEager) {
  Tensor w1 = randn_tensor({32, 48}, 1), b1 = randn_tensor({48}, 2), w2 = randn_tensor({48, 16}, 3);
  auto fn = [&](const std::vector<Tensor>& in) { return block(in, w1, b1, w2); };
  CompiledFunction f = compile(fn, {randn_tensor({4, 32}, 4)});
  EXPECT_EQ(f.stats().eager_steps, 0) << f.dump(GraphStage::Optimized, GraphFormat::Text);
  EXPECT_EQ(f.stats().arena_steps, 3);  // two products, one softmax
  Tensor x = randn_tensor({4, 32}, 5);
  f.run({x});
  const uint64_t before = storages_created();
  const std::vector<Tensor>& y = f.run({x});
  EXPECT_EQ(storages_created() - before, 0u);
  std::vector<Tensor> want = fn({x});
  expect_same_bits(y[0], want[0], "softmax output");
  expect_same_bits(y[1], want[1], "row sums");
}

TEST(Compile, WeightsAreReadLive) {
  Tensor w1 = randn_tensor({32, 48}, 1), b1 = randn_tensor({48}, 2), w2 = randn_tensor({48, 16}, 3);
  auto fn = [&](const std::vector<Tensor>& in) { return block(in, w1, b1, w2); };
  Tensor x = randn_tensor({4, 32}, 5);
  CompiledFunction f = compile(fn, {x});
  w1.mul_(0.5f);  // an optimizer step, in place
  b1.add_(Tensor::scalar(1.f));
  expect_same_bits(f.run({x})[0], fn({x})[0], "after the weights changed");
}

TEST(Compile, StridedInputsArePackedAndOtherShapesRefused) {
  Tensor w1 = randn_tensor({32, 48}, 1), b1 = randn_tensor({48}, 2), w2 = randn_tensor({48, 16}, 3);
  auto fn = [&](const std::vector<Tensor>& in) { return block(in, w1, b1, w2); };
  CompiledFunction f = compile(fn, {randn_tensor({4, 32}, 4)});
  Tensor xt = randn_tensor({32, 4}, 6).transpose(0, 1);  // [4, 32], strided
  expect_same_bits(f.run({xt})[0], fn({xt})[0], "strided input");
  try {
    f.run({randn_tensor({5, 32}, 7)});
    FAIL() << "a [5, 32] input ran a graph captured for [4, 32]";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::Shape);
    EXPECT_NE(std::string(e.what()).find("captured as [4, 32]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(f.run({}), Error);
  EXPECT_THROW(f.run({randn_tensor({4, 32}, 7).to(DType::BF16)}), Error);
}

TEST(Compile, ResultsOutliveTheCompiledFunction) {
  Tensor x = randn_tensor({16}, 1);
  Tensor y;
  {
    CompiledFunction f = compile([](const std::vector<Tensor>& in) { return std::vector<Tensor>{exp(in[0])}; }, {x});
    y = f.run({x})[0];
  }
  expect_same_bits(y, exp(x), "a result kept past its graph");
}

TEST(Capture, TensorsMadeByUnseenCodeAreRefused) {
  Generator gen(1);
  auto fn = [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{add(in[0], randn({4}, gen))}; };
  try {
    compile(fn, {randn_tensor({4}, 2)});
    FAIL() << "a random draw was frozen into the graph";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::Unsupported);
    EXPECT_NE(std::string(e.what()).find("cannot see"), std::string::npos) << e.what();
  }
}

TEST(Capture, InPlaceWritesAreRefused) {
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor y = mul(in[0], in[0]);
    y.add_(in[0]);
    return std::vector<Tensor>{add(y, Tensor::scalar(1.f))};
  };
  try {
    compile(fn, {randn_tensor({4}, 2)});
    FAIL() << "an in-place write was captured as if it had not happened";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::Unsupported);
    EXPECT_NE(std::string(e.what()).find("in place"), std::string::npos) << e.what();
  }
}

// index_copy_ into a tensor from outside is an effect: it runs at its place in every replay
// with that run's indices, what follows reads the buffer as written, a read before it is
// not merged with the same read after it, and it is kept though no result depends on it.
TEST(Effects, IndexCopyIntoAnOutsideBufferReplaysInPlace) {
  Tensor cache = Tensor::zeros({4, 3});
  auto fn = [&](const std::vector<Tensor>& in) {
    Tensor before = sum(exp(cache), {0});  // read before the write …
    index_copy_(cache, 0, in[0], mul(in[1], Tensor::scalar(2.f)));
    Tensor after = sum(exp(cache), {0});  // … and the same read after it: not one value
    return std::vector<Tensor>{sub(after, before)};
  };
  auto row = [](float a, float b, float c) {
    const float v[3] = {a, b, c};
    return Tensor::from_data(v, {1, 3}, DType::F32);
  };
  auto index = [](int64_t i) { return Tensor::from_data(&i, {1}, DType::I64); };
  CompiledFunction f = compile(fn, {index(0), row(1, 2, 3)});
  EXPECT_EQ(f.stats().effects, 1);
  Tensor expect = Tensor::zeros({4, 3});
  auto eager = [&](int64_t i, const Tensor& r) {  // fn's arithmetic on a copy of the cache's state
    Tensor before = sum(exp(expect), {0});
    index_copy_(expect, 0, index(i), mul(r, Tensor::scalar(2.f)));
    return sub(sum(exp(expect), {0}), before);
  };
  eager(0, row(1, 2, 3));  // what the capture's own run wrote
  for (int64_t i : {2, 3, 2}) {
    Tensor r = row(float(i), -1.f, 0.5f);
    Tensor got = f.run({index(i), r})[0];
    expect_same_bits(got, eager(i, r), "result, row " + std::to_string(i));
    expect_same_bits(cache, expect, "cache, row " + std::to_string(i));
  }

  // no result reads the write: it still runs
  auto writes_only = [&](const std::vector<Tensor>& in) {
    index_copy_(cache, 0, in[0], in[1]);
    return std::vector<Tensor>{exp(in[1])};
  };
  CompiledFunction w = compile(writes_only, {index(1), row(0, 0, 0)});
  w.run({index(1), row(7, 8, 9)});
  EXPECT_EQ(cache.slice(0, 1, 2).to_vector(), (std::vector<float>{7, 8, 9}));
}

TEST(Effects, WritesIntoTheGraphsOwnTensorsAreRefused) {
  int64_t i = 0;
  Tensor at = Tensor::from_data(&i, {1}, DType::I64);
  auto into_a_value = [&](const std::vector<Tensor>& in) {
    Tensor y = mul(in[0], in[0]);
    index_copy_(y, 0, at, in[0].slice(0, 0, 1));
    return std::vector<Tensor>{y};
  };
  auto into_an_input = [&](const std::vector<Tensor>& in) {
    Tensor x = in[0];
    index_copy_(x, 0, at, exp(in[0].slice(0, 0, 1)));
    return std::vector<Tensor>{x};
  };
  for (const auto& fn : {std::function(into_a_value), std::function(into_an_input)}) {
    try {
      compile(fn, {randn_tensor({4}, 2)});
      ADD_FAILURE() << "a write into the graph's own tensor was captured";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), Status::Unsupported);
      EXPECT_NE(std::string(e.what()).find("index_copy_ writes into a tensor"), std::string::npos) << e.what();
    }
  }
}

TEST(Capture, ACompileInsideACapturedFunctionIsRefused) {
  auto inner = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{exp(in[0])}; };
  auto outer = [&](const std::vector<Tensor>& in) {
    compile(inner, in);
    return std::vector<Tensor>{exp(in[0])};
  };
  EXPECT_THROW(compile(outer, {randn_tensor({4}, 2)}), Error);
  // the failed capture left this thread able to capture again
  EXPECT_NO_THROW(compile(inner, {randn_tensor({4}, 2)}));
}

TEST(Passes, DeadCodeIsRemoved) {
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor unused = exp(in[0]);
    return std::vector<Tensor>{neg(in[0])};
  };
  compiler::Graph g = compiler::capture(fn, {randn_tensor({4}, 1)});
  auto count = [](const compiler::Graph& gr, const std::string& name) {
    int c = 0;
    for (const auto& n : gr.nodes) c += n.name == name;
    return c;
  };
  EXPECT_EQ(count(g, "exp"), 1);
  compiler::Graph d = compiler::eliminate_dead_code(g);
  EXPECT_EQ(count(d, "exp"), 0);
  EXPECT_EQ(count(d, "neg"), 1);
}

TEST(Passes, CommonSubexpressionsMerge) {
  auto fn = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{add(mul(in[0], in[1]), mul(in[0], in[1]))};
  };
  compiler::Graph g = compiler::capture(fn, {randn_tensor({4}, 1), randn_tensor({4}, 2)});
  compiler::Graph c = compiler::eliminate_common_subexpressions(g);
  int muls = 0;
  for (const auto& n : c.nodes) muls += n.name == "mul";
  EXPECT_EQ(muls, 1);
  const compiler::Node& sum_node = c.nodes[size_t(c.outputs[0])];
  EXPECT_EQ(sum_node.in[0], sum_node.in[1]);
}

TEST(Passes, ConstantsFold) {
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor five = add(Tensor::scalar(2.f), Tensor::scalar(3.f));
    return std::vector<Tensor>{mul(in[0], exp(five))};
  };
  compiler::Graph f = compiler::fold_constants(compiler::capture(fn, {randn_tensor({4}, 1)}));
  ASSERT_EQ(f.nodes.size(), 3u) << compiler::to_text(f);  // input, constant e⁵, mul
  const compiler::Node& c = f.nodes[1];
  ASSERT_EQ(c.kind, compiler::NodeKind::Constant);
  EXPECT_EQ(c.value.item(), exp(Tensor::scalar(5.f)).item());
}

TEST(Passes, FusionNeverWaitsOnItsOwnConsumer) {
  // b reads a after a product read it: b cannot join a's loop (the product needs a first)
  Tensor w = randn_tensor({8, 8}, 1);
  auto fn = [&](const std::vector<Tensor>& in) {
    Tensor a = exp(in[0]);
    Tensor m = matmul(a, w);
    Tensor b = add(a, m);
    return std::vector<Tensor>{b};
  };
  Tensor x = randn_tensor({8, 8}, 2);
  CompiledFunction f = compile(fn, {x});
  EXPECT_EQ(f.stats().fused_loops, 2) << f.dump(GraphStage::Optimized, GraphFormat::Text);
  expect_same_bits(f.run({x})[0], fn({x})[0], "a, a·w, a + a·w");
}

TEST(Plan, BuffersAliveTogetherNeverShareBytes) {
  Tensor w = randn_tensor({16, 16}, 1);
  auto fn = [&](const std::vector<Tensor>& in) {
    Tensor h = in[0];
    std::vector<Tensor> keep;
    for (int i = 0; i < 6; ++i) {
      h = tanh(matmul(h, w));
      if (i % 2) keep.push_back(softmax(h, -1));
    }
    keep.push_back(h);
    return keep;
  };
  Tensor x = randn_tensor({8, 16}, 2);
  compiler::Graph g = compiler::fuse_elementwise(compiler::capture(fn, {x}));
  compiler::MemoryPlan p = compiler::plan_memory(g);
  EXPECT_LT(p.arena_bytes, p.unplanned_bytes);
  const int N = int(g.nodes.size());
  auto life = [&](int i) {
    int born = g.nodes[size_t(i)].kind == compiler::NodeKind::Output ? g.nodes[size_t(i)].in[0] : i;
    return std::make_pair(born, std::max(p.last_use[size_t(i)], i));
  };
  for (int a = 0; a < N; ++a)
    for (int b = a + 1; b < N; ++b) {
      if (p.offset[size_t(a)] < 0 || p.offset[size_t(b)] < 0) continue;
      auto [ba, da] = life(a);
      auto [bb, db] = life(b);
      if (ba > db || bb > da) continue;  // never alive together
      const int64_t sa = g.nodes[size_t(a)].shape.numel() * 4, sb = g.nodes[size_t(b)].shape.numel() * 4;
      const bool apart =
          p.offset[size_t(a)] + sa <= p.offset[size_t(b)] || p.offset[size_t(b)] + sb <= p.offset[size_t(a)];
      EXPECT_TRUE(apart) << "%" << a << " and %" << b << " overlap\n" << compiler::to_text(g, &p);
    }
  CompiledFunction f = compile(fn, {x});
  std::vector<Tensor> got = f.run({x}), want = fn({x});
  for (size_t k = 0; k < want.size(); ++k) expect_same_bits(got[k], want[k], "result " + std::to_string(k));
}

TEST(Dump, TextAndGraphviz) {
  Tensor w = randn_tensor({64}, 1);
  auto fn = [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{rms_norm_ops(in[0], w)}; };
  CompiledFunction f = compile(fn, {randn_tensor({2, 64}, 2)});
  std::string before = f.dump(GraphStage::Captured, GraphFormat::Text);
  std::string after = f.dump(GraphStage::Optimized, GraphFormat::Text);
  EXPECT_NE(before.find("= rsqrt(%"), std::string::npos) << before;
  EXPECT_EQ(before.find("fused"), std::string::npos) << before;
  EXPECT_NE(after.find("fused loop [2, 64] {mul → mean}"), std::string::npos) << after;
  EXPECT_NE(after.find("arena "), std::string::npos) << after;
  std::string dot = f.dump(GraphStage::Optimized, GraphFormat::Dot);
  EXPECT_EQ(dot.rfind("digraph G {", 0), 0u) << dot;
  EXPECT_NE(dot.find("n0 -> n1;"), std::string::npos) << dot;
}

TEST(Compile, TrainingStepGradientsEqualEager) {
  Tensor w1 = randn_tensor({16, 32}, 1), w2 = randn_tensor({32, 4}, 2);
  set_requires_grad(w1, true);
  set_requires_grad(w2, true);
  auto step = [&](const std::vector<Tensor>& in) {
    zero_grad(w1);
    zero_grad(w2);
    Tensor h = ag::relu(ag::matmul(in[0], w1));
    Tensor d = ag::sub(ag::matmul(h, w2), in[1]);
    Tensor loss = ag::mean(ag::mul(d, d));
    backward(loss);
    return std::vector<Tensor>{detach(loss), grad(w1), grad(w2)};
  };
  Tensor x = randn_tensor({8, 16}, 3), t = randn_tensor({8, 4}, 4);
  CompiledFunction f = compile(step, {x, t});
  Tensor x2 = randn_tensor({8, 16}, 5), t2 = randn_tensor({8, 4}, 6);
  std::vector<Tensor> got = f.run({x2, t2});
  std::vector<Tensor> want = step({x2, t2});
  expect_same_bits(got[0], want[0], "loss");
  expect_same_bits(got[1], want[1], "dL/dw1");
  expect_same_bits(got[2], want[2], "dL/dw2");
}

// profile() runs the graph as run() does and counts each step once a run under its kind: two
// products, one fused loop, a softmax. A run after it gives eager's bits.
TEST(Compile, ProfileCountsEveryStepByKind) {
  Tensor w1 = randn_tensor({16, 32}, 21), w2 = randn_tensor({32, 8}, 22);
  auto fn = [&](const std::vector<Tensor>& in) {
    Tensor h = mul(gelu_tanh(matmul(in[0], w1)), Tensor::scalar(0.5f));
    return std::vector<Tensor>{softmax(matmul(h, w2), -1)};
  };
  Tensor x = randn_tensor({4, 16}, 23);
  CompiledFunction f = compile(fn, {x});
  const RunProfile p = f.profile({x}, 3);
  EXPECT_EQ(p.runs, 3);
  std::map<std::string, int64_t> steps;
  double summed = 0;
  for (const StepTime& t : p.kinds) {
    steps[t.name] = t.steps;
    EXPECT_GE(t.seconds, 0) << t.name;
    EXPECT_EQ(p.seconds_in(t.name), t.seconds) << t.name;
    summed += t.seconds;
  }
  EXPECT_EQ(steps, (std::map<std::string, int64_t>{{"matmul", 6}, {"fused loop", 3}, {"softmax", 3}}))
      << f.dump(GraphStage::Optimized, GraphFormat::Text);
  EXPECT_LE(summed, p.seconds);
  for (size_t k = 1; k < p.kinds.size(); ++k) EXPECT_GE(p.kinds[k - 1].seconds, p.kinds[k].seconds);
  EXPECT_EQ(p.seconds_in("attention"), 0);

  Tensor x2 = randn_tensor({4, 16}, 24);
  f.profile({x2}, 2);
  expect_same_bits(f.run({x2})[0], fn({x2})[0], "a run after profiling");

  try {
    f.profile({x}, 0);
    ADD_FAILURE() << "no runs profiled without an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::InvalidArg);
    EXPECT_NE(std::string(e.what()).find("runs is 0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(f.profile({x, x}, 1), Error);
}
