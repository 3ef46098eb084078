// test_fused_property.cpp — random elementwise chains with broadcasting, and a reduction
// over trailing axes at their end, compiled and run eagerly: the same bits every time.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "xla/compile.hpp"
#include "xla/ops.hpp"

using namespace xla;

namespace {

// A random shape that broadcasts to `full`: leading axes dropped, some axes set to 1.
Shape broadcastable(const Shape& full, std::mt19937& rng) {
  int drop = int(rng() % (full.size() + 1));
  Shape s;
  for (int i = drop; i < full.size(); ++i) s.push_back(rng() % 3 == 0 ? 1 : full[i]);
  return s;
}

// One random program: a pool of values grows by random ops; the last value (or a
// reduction of it) is the result, with one intermediate value returned too.
std::vector<Tensor> program(const std::vector<Tensor>& in, uint32_t seed, int length, const Shape& full) {
  std::mt19937 rng(seed);
  std::vector<Tensor> pool = in;
  pool.push_back(Tensor::scalar(0.75f));
  using Unary = Tensor (*)(const Tensor&);
  using Binary = Tensor (*)(const Tensor&, const Tensor&);
  const Unary unary[] = {neg, abs, exp, tanh, sigmoid, relu, silu, gelu, gelu_tanh};
  const Binary binary[] = {add, sub, mul, div, maximum, minimum};
  const Binary compare[] = {lt, le, gt, ge, eq, ne};
  for (int k = 0; k < length; ++k) {
    const Tensor& a = pool[rng() % pool.size()];
    const Tensor& b = pool[rng() % pool.size()];
    switch (rng() % 5) {
      case 0:
        pool.push_back(unary[rng() % 9](a));
        break;
      case 1:
        pool.push_back(sqrt(abs(a)));
        break;
      case 2:
        pool.push_back(where(compare[rng() % 6](a, b), a, b));
        break;
      default:
        pool.push_back(tanh(binary[rng() % 6](a, b)));
        break;  // tanh keeps values bounded
    }
  }
  Tensor last = pool.back().expand(full);
  Tensor keep = pool[pool.size() / 2];
  switch (rng() % 5) {
    case 0:
      return {last, keep};
    case 1:
      return {sum(last, {-1}), keep};
    case 2:
      return {mean(last, {-1}, true), keep};
    case 3:
      return {full.size() >= 2 ? max(last, {-2, -1}) : max(last, {-1}), keep};
    default:
      return {min(last, {-1}, true), keep};
  }
}

}  // namespace

TEST(FusedProperty, RandomChainsEqualEagerBitwise) {
  std::mt19937 rng(2024);
  int loops = 0;
  for (uint32_t trial = 0; trial < 150; ++trial) {
    Shape full;
    const int rank = 1 + int(rng() % 3);
    for (int i = 0; i < rank; ++i) full.push_back(1 + int64_t(rng() % 9));
    if (trial % 10 == 0) full[rank - 1] = 700;  // rows longer than one 512-element block
    if (trial % 10 == 5) full = {9 + int64_t(rng() % 5), 3, 97};  // short rows, several flat blocks, the last short
    // rows of one block each, with operands broadcast along some leading axes: what is the
    // same in every row is computed once per thread
    if (trial % 10 == 3) full = {2 + int64_t(rng() % 3), 3 + int64_t(rng() % 3), 160};
    std::vector<Tensor> in;
    for (int i = 0; i < 3; ++i) {
      Generator g(trial * 7 + uint64_t(i));
      in.push_back(randn(broadcastable(full, rng), g));
    }
    const int length = 2 + int(rng() % 10);
    auto fn = [&](const std::vector<Tensor>& x) { return program(x, trial, length, full); };
    CompiledFunction f = compile(fn, in);
    loops += int(f.stats().fused_loops);
    for (uint64_t s : {1000u, 2000u}) {
      std::vector<Tensor> fresh;
      for (int i = 0; i < 3; ++i) {
        Generator g(s + trial * 7 + uint64_t(i));
        fresh.push_back(randn(in[size_t(i)].shape(), g));
      }
      std::vector<Tensor> got = f.run(fresh), want = fn(fresh);
      ASSERT_EQ(got.size(), want.size());
      for (size_t k = 0; k < got.size(); ++k) {
        ASSERT_EQ(got[k].shape(), want[k].shape()) << "trial " << trial;
        std::vector<float> a = got[k].to_vector(), b = want[k].to_vector();
        for (size_t i = 0; i < a.size(); ++i)
          ASSERT_EQ(std::memcmp(&a[i], &b[i], sizeof(float)), 0)
              << "trial " << trial << " result " << k << " element " << i << ": " << a[i] << " vs " << b[i] << "\n"
              << f.dump(GraphStage::Optimized, GraphFormat::Text);
      }
    }
  }
  EXPECT_GT(loops, 150);  // fusion happened, not only eager replays
}
