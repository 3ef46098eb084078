// test_engine.cpp — the backward engine: accumulation, deep chains, shared subgraphs,
// retain_graph, errors, grad mode, detach, in-place detection, freeing saved tensors, and
// flat memory over many iterations. Every expectation is derived by hand in a comment.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <thread>

#include "xla/autograd.hpp"

using xla::Status;
using xla::Tensor;
namespace ag = xla::ag;

namespace {

Tensor leaf(std::vector<float> v, xla::Shape s) {
  Tensor t = Tensor::from_vector(v, s);
  xla::set_requires_grad(t, true);
  return t;
}

void expect_near_all(const Tensor& t, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_TRUE(t.defined());
  std::vector<float> got = t.to_vector();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

template <typename F>
void expect_error(F f, Status status, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const xla::Error& e) {
    EXPECT_EQ(int(e.status()), int(status)) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

long resident_kb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * 4;  // 4 KiB pages
}

}  // namespace

TEST(Backward, SquareSumGivesTwoX) {
  // y = Σ x², dy/dx = 2x
  Tensor x = leaf({1, -2, 3}, {3});
  xla::backward(ag::sum(ag::mul(x, x)));
  expect_near_all(xla::grad(x), {2, -4, 6});
  EXPECT_TRUE(xla::is_leaf(x));
  EXPECT_EQ(xla::grad_fn_name(ag::mul(x, x)), "mul");
}

TEST(Backward, AccumulatesAcrossCallsUntilZeroGrad) {
  // y = Σ 3x: each backward adds 3 to every entry
  Tensor x = leaf({1, 2}, {2});
  Tensor three = Tensor::scalar(3.f);
  xla::backward(ag::sum(ag::mul(x, three)));
  xla::backward(ag::sum(ag::mul(x, three)));
  expect_near_all(xla::grad(x), {6, 6});
  xla::zero_grad(x);
  EXPECT_FALSE(xla::grad(x).defined());
  xla::backward(ag::sum(ag::mul(x, three)));
  expect_near_all(xla::grad(x), {3, 3});
}

TEST(Backward, SharedSubgraphSumsBothPaths) {
  // y = (2x)(3x) = 6x², dy/dx = 12x; x also feeds both factors directly
  Tensor x = leaf({0.5f, -1.f}, {2});
  Tensor y = ag::sum(ag::mul(ag::mul(x, Tensor::scalar(2.f)), ag::mul(x, Tensor::scalar(3.f))));
  xla::backward(y);
  expect_near_all(xla::grad(x), {6.f, -12.f});
}

TEST(Backward, ChainOfOneHundredThousandNodes) {
  // y = x + Σ_{i<100000} 1e-5 · x  ⇒  dy/dx = 1 + 100000 · 1e-5 = 2, with no recursion
  Tensor x = leaf({1.f}, {});
  Tensor c = Tensor::scalar(1e-5f);
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = ag::add(y, ag::mul(x, c));
  xla::backward(y);
  EXPECT_NEAR(xla::grad(x).item(), 2.f, 1e-3f);
  y = Tensor();  // dropping the head frees the whole chain iteratively
}

TEST(Backward, SecondBackwardNeedsRetainGraph) {
  Tensor x = leaf({2.f}, {});
  Tensor y = ag::mul(x, x);  // dy/dx = 2x = 4
  xla::backward(y, Tensor(), /*retain_graph=*/true);
  xla::backward(y);
  EXPECT_NEAR(xla::grad(x).item(), 8.f, 1e-6f);
  expect_error([&] { xla::backward(y); }, Status::InvalidArg, "retain_graph");
}

TEST(Backward, FreesSavedTensorsAfterwards) {
  // exp saves its output: one extra reference while the graph can still run backward
  Tensor x = leaf({0.f, 1.f}, {2});
  Tensor y = ag::exp(x);
  EXPECT_EQ(y.storage().use_count(), 2);
  xla::backward(ag::sum(y));
  EXPECT_EQ(y.storage().use_count(), 1);
  expect_near_all(xla::grad(x), {1.f, std::exp(1.f)});
}

TEST(Backward, NonScalarRootNeedsASeed) {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor y = ag::mul(x, x);
  expect_error([&] { xla::backward(y); }, Status::InvalidArg, "seed");
  expect_error([&] { xla::backward(y, Tensor::from_vector({1, 1}, {2})); }, Status::Shape, "seed");
  // seed s: d(Σ s ⊙ x²)/dx = 2 s x
  xla::backward(y, Tensor::from_vector({1, 0, -1}, {3}));
  expect_near_all(xla::grad(x), {2, 0, -6});
}

TEST(Backward, RootMustRequireGrad) {
  Tensor a = Tensor::from_vector({1}, {});
  expect_error([&] { xla::backward(ag::mul(a, a)); }, Status::InvalidArg, "does not require grad");
}

TEST(Backward, LeafRootGetsTheSeed) {
  Tensor x = leaf({5.f}, {});
  xla::backward(x);
  EXPECT_EQ(xla::grad(x).item(), 1.f);
}

TEST(Backward, InPlaceChangeOfASavedTensorIsAnError) {
  Tensor x = leaf({1, 2}, {2});
  Tensor y = ag::sum(ag::mul(x, x));  // saves x
  {
    xla::NoGradGuard no_grad;
    x.mul_(2.f);  // an optimizer-style update between forward and backward
  }
  expect_error([&] { xla::backward(y); }, Status::InvalidArg, "modified in place");
}

TEST(Backward, AFailedBackwardLeavesEveryGradAsItWas) {
  // Both operand orders: whichever branch the engine would run first, the healthy x branch
  // must not have delivered its gradient when the stale w branch is refused.
  for (bool x_first : {true, false}) {
    Tensor x = leaf({1, 2, 3}, {3});
    Tensor w = leaf({4, 5}, {2});
    Tensor c = Tensor::from_vector({1, 1, 1}, {3});
    Tensor xs = ag::sum(ag::mul(x, c)), ws = ag::sum(ag::mul(w, w));  // the w branch saves w
    Tensor y = x_first ? ag::add(xs, ws) : ag::add(ws, xs);
    {
      xla::NoGradGuard no_grad;
      w.add_(Tensor::scalar(1.f));
    }
    expect_error([&] { xla::backward(y); }, Status::InvalidArg, "modified in place");
    EXPECT_FALSE(xla::grad(x).defined()) << "x_first " << x_first;  // nothing was accumulated
    EXPECT_FALSE(xla::grad(w).defined());
  }
}

TEST(Backward, InPlaceChangeOfAViewIsSeenThroughTheStorage) {
  Tensor x = leaf({1, 2, 3, 4}, {4});
  Tensor d = xla::detach(x);
  Tensor y = ag::sum(ag::exp(x));  // saves exp(x) only: x itself may change...
  d.slice(0, 0, 2).fill_(0.0);
  xla::backward(y);  // ...and the gradient is still the forward's: e^x at the old x
  expect_near_all(xla::grad(x), {std::exp(1.f), std::exp(2.f), std::exp(3.f), std::exp(4.f)}, 1e-4f);
  Tensor z = ag::sum(ag::mul(x, x));  // saves x (now [0, 0, 3, 4])
  d.slice(0, 3, 4).fill_(7.0);        // through another view of the same storage
  expect_error([&] { xla::backward(z); }, Status::InvalidArg, "modified in place");
}

TEST(GradMode, NoGradRecordsNothingAndIsPerThread) {
  Tensor x = leaf({1}, {});
  {
    xla::NoGradGuard no_grad;
    EXPECT_FALSE(xla::is_grad_enabled());
    EXPECT_FALSE(xla::requires_grad(ag::mul(x, x)));
    bool other_thread = false;
    std::thread t([&] { other_thread = xla::is_grad_enabled(); });
    t.join();
    EXPECT_TRUE(other_thread);
    {
      xla::EnableGradGuard on;
      EXPECT_TRUE(xla::requires_grad(ag::mul(x, x)));
    }
  }
  EXPECT_TRUE(xla::is_grad_enabled());
  EXPECT_TRUE(xla::set_grad_enabled(false));   // returns the previous value
  EXPECT_FALSE(xla::set_grad_enabled(true));
}

TEST(GradMode, DetachStopsTheGradient) {
  // y = x · detach(x): only the first factor carries gradient, dy/dx = detach(x) = x
  Tensor x = leaf({3.f}, {});
  xla::backward(ag::mul(x, xla::detach(x)));
  EXPECT_NEAR(xla::grad(x).item(), 3.f, 1e-6f);
  EXPECT_FALSE(xla::requires_grad(xla::detach(x)));
}

TEST(GradMode, RequiresGradRules) {
  Tensor x = leaf({1}, {});
  Tensor y = ag::mul(x, x);
  expect_error([&] { xla::set_requires_grad(y, false); }, Status::InvalidArg, "only leaves");
  Tensor ids = xla::arange(0, 3, 1, xla::DType::I64);
  expect_error([&] { xla::set_requires_grad(ids, true); }, Status::DType, "floating");
  Tensor plain = Tensor::from_vector({1}, {});
  EXPECT_FALSE(xla::requires_grad(plain));
  EXPECT_FALSE(xla::requires_grad(ag::mul(plain, plain)));
}

TEST(Backward, GradientsFlowThroughViews) {
  // y = Σ_j w_j · x[1, j] over a transposed, sliced view: dy/dx is w placed in row 1
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor row = ag::select(ag::transpose(ag::transpose(x, 0, 1), 0, 1), 0, 1);
  Tensor w = Tensor::from_vector({10, 20, 30}, {3});
  xla::backward(ag::sum(ag::mul(row, w)));
  expect_near_all(xla::grad(x), {0, 0, 0, 10, 20, 30});
}

TEST(Memory, ResidentSizeStaysFlatOverManyIterations) {
  // a two-layer MLP with cross-entropy: forward + backward + a plain SGD update, 1000 times
  xla::Generator gen(7);
  Tensor w1 = xla::randn({16, 32}, gen, 0, 0.3f), w2 = xla::randn({32, 4}, gen, 0, 0.3f);
  xla::set_requires_grad(w1, true);
  xla::set_requires_grad(w2, true);
  Tensor x = xla::randn({8, 16}, gen);
  Tensor target = Tensor::from_data(std::vector<int64_t>{0, 1, 2, 3, 0, 1, 2, 3}.data(), {8}, xla::DType::I64);
  float first = 0, last = 0;
  auto step = [&] {
    Tensor loss = ag::cross_entropy(ag::matmul(ag::gelu_tanh(ag::matmul(x, w1)), w2), target);
    xla::backward(loss);
    {
      xla::NoGradGuard no_grad;
      w1.add_(xla::grad(w1), -0.1f);
      w2.add_(xla::grad(w2), -0.1f);
    }
    xla::zero_grad(w1);
    xla::zero_grad(w2);
    return loss.item();
  };
  for (int i = 0; i < 50; ++i) first = i == 0 ? step() : (step(), first);
  long before = resident_kb();
  for (int i = 0; i < 1000; ++i) last = step();
  long after = resident_kb();
  EXPECT_LT(after - before, 1024) << "resident memory grew from " << before << " KiB to " << after << " KiB";
  EXPECT_LT(last, first);  // and it is really training
}

TEST(EdgeCases, PowAtZeroFollowsPyTorch) {
  // d/da a^b at a = 0, b = 0 is 0 (a^0 = 1 is flat), not 0 · 0^-1 = NaN;
  // d/db a^b at a = 0, b = 2 is 0 (0^b = 0 for b > 0), not 0 · ln 0 = NaN
  Tensor a = leaf({0.f, 0.f}, {2}), b = leaf({0.f, 2.f}, {2});
  xla::backward(ag::sum(ag::pow(a, b)));
  expect_near_all(xla::grad(a), {0.f, 0.f});
  expect_near_all(xla::grad(b), {0.f, 0.f});
}

TEST(EdgeCases, SoftmaxOfAScalarIsConstant) {
  // softmax of one element is 1 whatever x, log_softmax is 0: both gradients vanish
  Tensor x = leaf({3.f}, {});
  xla::backward(ag::add(ag::softmax(x, 0), ag::log_softmax(x, 0)));
  EXPECT_EQ(xla::grad(x).item(), 0.f);
}
