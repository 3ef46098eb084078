// test_custom_node.cpp — the public custom-node API of xla/autograd.hpp, as a user of the
// installed headers writes it: a node with typed fields, saved tensors and their checks,
// inputs that need no gradient, take_saved, and gradcheck of the result.
#include <gtest/gtest.h>

#include <cmath>

#include "xla/autograd.hpp"

using xla::Status;
using xla::Tensor;
namespace ag = xla::ag;
namespace autograd = xla::autograd;

namespace {

// y = a · x + x² · b (elementwise, one shape), with a the op's parameter:
// dy/dx = a + 2x·b, dy/db = x².
struct AxPlusXxbNode final : autograd::Node {
  float a = 0;
  void backward(const Tensor& g, Tensor* gi) override {
    const Tensor& x = saved(0);
    const Tensor& b = saved(1);
    if (needs(0)) gi[0] = xla::mul(g, xla::add(Tensor::scalar(a), xla::mul(xla::mul(x, b), Tensor::scalar(2.f))));
    if (needs(1)) gi[1] = xla::mul(g, xla::mul(x, x));
  }
};

Tensor ax_plus_xxb(const Tensor& x, const Tensor& b, float a) {
  Tensor y = xla::add(xla::mul(x, Tensor::scalar(a)), xla::mul(xla::mul(x, x), b));
  if (auto* n = autograd::record<AxPlusXxbNode>(y, "ax_plus_xxb", {&x, &b})) {
    n->a = a;
    n->save(x);  // save() keeps an alias without history
    n->save(b);
  }
  return y;
}

Tensor leaf(std::vector<float> v) {
  Tensor t = Tensor::from_vector(v, {int64_t(v.size())});
  xla::set_requires_grad(t, true);
  return t;
}

}  // namespace

TEST(CustomNode, GradientsFromTypedFields) {
  // x = [1, 2], b = [3, -1], a = 0.5: dy/dx = 0.5 + 2·x·b = [6.5, -3.5], dy/db = x² = [1, 4]
  Tensor x = leaf({1, 2}), b = leaf({3, -1});
  Tensor y = ax_plus_xxb(x, b, 0.5f);
  EXPECT_EQ(xla::grad_fn_name(y), "ax_plus_xxb");
  xla::backward(y, Tensor::from_vector({1, 1}, {2}));
  EXPECT_EQ(xla::grad(x).to_vector(), (std::vector<float>{6.5f, -3.5f}));
  EXPECT_EQ(xla::grad(b).to_vector(), (std::vector<float>{1.f, 4.f}));
}

TEST(CustomNode, PassesGradcheckInsideAGraph) {
  Tensor x = leaf({0.3f, -1.2f, 2.f}), b = leaf({1.5f, 0.4f, -0.7f});
  auto f = [](const std::vector<Tensor>& in) { return ag::tanh(ax_plus_xxb(ag::mul(in[0], in[0]), in[1], -0.8f)); };
  EXPECT_EQ(xla::gradcheck(f, {x, b}), "");
}

TEST(CustomNode, NothingIsRecordedWhenNoInputNeedsGrad) {
  Tensor x = Tensor::from_vector({1, 2}, {2}), b = leaf({3, 4});
  {
    xla::NoGradGuard no_grad;
    EXPECT_FALSE(xla::requires_grad(ax_plus_xxb(x, b, 1.f)));
  }
  EXPECT_FALSE(xla::requires_grad(ax_plus_xxb(x, x, 1.f)));
  // only b requires grad: x's gradient is not asked for (needs(0) is false), b's is x² = [1, 4]
  Tensor y = ax_plus_xxb(x, b, 1.f);
  xla::backward(y, Tensor::from_vector({1, 1}, {2}));
  EXPECT_EQ(xla::grad(b).to_vector(), (std::vector<float>{1.f, 4.f}));
}

TEST(CustomNode, SavedTensorWrittenInPlaceIsAnError) {
  Tensor x = leaf({1, 2}), b = leaf({3, 4});
  Tensor y = ax_plus_xxb(x, b, 1.f);
  Tensor bd = xla::detach(b);
  bd.add_(Tensor::scalar(1.f));  // b's storage moves on after the node saved it
  try {
    xla::backward(y, Tensor::from_vector({1, 1}, {2}));
    ADD_FAILURE() << "backward used a tensor modified after it was saved";
  } catch (const xla::Error& e) {
    EXPECT_EQ(int(e.status()), int(Status::InvalidArg));
    EXPECT_NE(std::string(e.what()).find("ax_plus_xxb"), std::string::npos) << e.what();
  }
}

namespace {

// Hands over a buffer formed in the forward: y = sum(x · w) with w fixed, dy/dx = w.
struct HandOverNode final : autograd::Node {
  void backward(const Tensor& g, Tensor* gi) override {
    gi[0] = g.item() == 1.f ? take_saved(0) : xla::mul(saved(0), g);
  }
};

}  // namespace

TEST(CustomNode, TakeSavedMovesTheBufferOut) {
  Tensor x = leaf({1, 2, 3});
  Tensor dydx = Tensor::from_vector({4, 5, 6}, {3});
  Tensor y = xla::sum(xla::mul(x, dydx));
  auto* n = autograd::record<HandOverNode>(y, "hand_over", {&x});
  ASSERT_NE(n, nullptr);
  n->save(dydx);
  xla::backward(y, Tensor(), /*retain_graph=*/true);
  EXPECT_EQ(xla::grad(x).to_vector(), (std::vector<float>{4, 5, 6}));
  // the slot is empty now: a second backward (the graph was retained) is an error naming the
  // node, not a gradient from an empty buffer
  try {
    xla::backward(y, Tensor(), true);
    ADD_FAILURE() << "a second backward ran through a node whose buffer was handed over";
  } catch (const xla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("hand_over"), std::string::npos) << e.what();
  }
  EXPECT_EQ(xla::grad(x).to_vector(), (std::vector<float>{4, 5, 6}));  // untouched by the failure
  EXPECT_THROW(n->saved(7), xla::Error);  // out of range: an error, not a crash
}
