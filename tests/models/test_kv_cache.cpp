// test_kv_cache.cpp — the KV cache against the oracle that needs no cache: a forward over the
// whole sequence. Any split of a sequence into chunks fed through one cache (single tokens,
// chunks longer than the sliding window, rings that wrap many times) must give the same
// logits as the full forward; a rolled-back step leaves no trace; buffers are allocated once
// (rings hold exactly their window, a cache made with a capacity never grows); misuse is an
// error that names the problem.
#include <gtest/gtest.h>

#include <cmath>

#include "xla/gemma.hpp"

using xla::GemmaModel;
using xla::KVCache;
using xla::Tensor;

namespace {

// A small Gemma 3: two sliding-window layers (window 5) around a global one, q/k norms, two
// RoPE bases, GQA (4 query heads on 2 kv heads).
xla::GemmaConfig tiny3() {
  xla::GemmaConfig c;
  c.version = 3;
  c.vocab_size = 61;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_layers = 3;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.query_pre_attn_scalar = 8;
  c.sliding_window = 5;
  c.sliding = {1, 0, 1};
  c.rope_local_base = 10000;
  c.rope_theta = 1000000;
  return c;
}

// Norms start at 0 in create(); random norms make the test see them.
GemmaModel tiny_model(uint64_t seed = 3) {
  GemmaModel m = GemmaModel::create(tiny3(), seed);
  xla::Generator gen(seed + 1);
  for (auto& [name, t] : m.named_parameters())
    if (t->ndim() == 1) t->copy_(xla::randn(t->shape(), gen, 0.f, 0.3f));
  return m;
}

std::vector<int32_t> sequence(int64_t n, int32_t vocab, int32_t salt = 0) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 17 + 3 + salt) % vocab);
  return ids;
}

Tensor row(const std::vector<int32_t>& ids, size_t from, size_t to) {
  return Tensor::from_data(ids.data() + from, {1, int64_t(to - from)}, xla::DType::I32);
}

// Feeds ids through one cache in chunks of the given sizes (cycled); returns the logits of
// every position, [n, V].
std::vector<float> chunked_logits(const GemmaModel& m, KVCache& cache, const std::vector<int32_t>& ids,
                                  const std::vector<size_t>& chunks) {
  std::vector<float> out;
  size_t at = 0;
  for (size_t i = 0; at < ids.size(); ++i) {
    const size_t to = std::min(ids.size(), at + chunks[i % chunks.size()]);
    std::vector<float> part = m.forward(row(ids, at, to), &cache).to_vector();
    out.insert(out.end(), part.begin(), part.end());
    at = to;
  }
  return out;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) d = std::max(d, std::fabs(double(a[i]) - double(b[i])));
  return d;
}

TEST(KVCache, AnyChunkingEqualsTheFullForward) {
  xla::NoGradGuard no_grad;
  GemmaModel m = tiny_model();
  const std::vector<int32_t> ids = sequence(23, 61);
  const std::vector<float> full = m.forward(row(ids, 0, ids.size())).to_vector();  // no cache: the oracle
  // single tokens (ring wraps 4 times); chunks shorter, equal to and longer than the window;
  // a long prefill then single tokens
  const std::vector<std::vector<size_t>> splits = {{1}, {2, 3}, {5}, {7, 1}, {4, 9, 1, 1}, {16, 1}};
  for (const auto& chunks : splits) {
    KVCache cache = m.new_cache();
    const std::vector<float> got = chunked_logits(m, cache, ids, chunks);
    // float sums taken in another order: differences at the level of rounding
    EXPECT_LT(max_abs_diff(got, full), 2e-5) << "chunks of " << chunks[0] << "…";
    EXPECT_EQ(cache.length(), int64_t(ids.size()));
  }
}

TEST(KVCache, BatchOfTwoSequences) {
  xla::NoGradGuard no_grad;
  GemmaModel m = tiny_model();
  std::vector<int32_t> ids = sequence(9, 61), other = sequence(9, 61, 11);
  ids.insert(ids.end(), other.begin(), other.end());  // [2, 9]
  Tensor all = Tensor::from_data(ids.data(), {2, 9}, xla::DType::I32);
  const std::vector<float> full = m.forward(all).to_vector();
  KVCache cache = m.new_cache();
  std::vector<float> got0 = m.forward(all.slice(1, 0, 6), &cache).to_vector();
  std::vector<float> got1 = m.forward(all.slice(1, 6, 7), &cache).to_vector();
  std::vector<float> got2 = m.forward(all.slice(1, 7, 9), &cache).to_vector();
  const int64_t V = 61;
  std::vector<float> got;  // back to [2, 9, V]
  for (int b = 0; b < 2; ++b) {
    got.insert(got.end(), got0.begin() + b * 6 * V, got0.begin() + (b + 1) * 6 * V);
    got.insert(got.end(), got1.begin() + b * 1 * V, got1.begin() + (b + 1) * 1 * V);
    got.insert(got.end(), got2.begin() + b * 2 * V, got2.begin() + (b + 1) * 2 * V);
  }
  EXPECT_LT(max_abs_diff(got, full), 2e-5);
}

// A step that fails after some layers appended (what a forward that throws half-way leaves)
// is rolled back: the steps after it see exactly what they would have seen without it.
TEST(KVCache, RollbackLeavesNoTrace) {
  xla::NoGradGuard no_grad;
  GemmaModel m = tiny_model();
  const std::vector<int32_t> ids = sequence(17, 61);
  const xla::GemmaConfig& c = m.config;
  for (size_t failed_len : {size_t(1), size_t(3), size_t(8)}) {  // a decode step, a chunk, a chunk > window
    KVCache clean = m.new_cache(), cache = m.new_cache();
    m.forward(row(ids, 0, 9), &clean);
    m.forward(row(ids, 0, 9), &cache);
    // junk keys for every layer but the last, as a forward that died in the last layer
    xla::Generator gen(7);
    for (int64_t l = 0; l + 1 < c.num_layers; ++l) {
      Tensor junk = xla::randn({1, c.num_kv_heads, int64_t(failed_len), c.head_dim}, gen);
      cache.append(l, junk, junk);
    }
    cache.rollback();
    EXPECT_EQ(cache.length(), 9);
    EXPECT_EQ(cache.pending(), 0);
    std::vector<int32_t> rest(ids.begin() + 9, ids.end());  // the rest, from position 9
    const std::vector<float> want = chunked_logits(m, clean, rest, {1});
    const std::vector<float> got = chunked_logits(m, cache, rest, {1});
    EXPECT_EQ(max_abs_diff(got, want), 0.0) << "failed step of " << failed_len;
  }
}

TEST(KVCache, AFailedForwardLeavesTheCacheAsItWas) {
  xla::NoGradGuard no_grad;
  GemmaModel m = tiny_model();
  const std::vector<int32_t> ids = sequence(12, 61);
  KVCache cache = m.new_cache(), clean = m.new_cache();
  m.forward(row(ids, 0, 6), &cache);
  m.forward(row(ids, 0, 6), &clean);
  std::vector<int32_t> bad = {5, 999};  // 999 is outside the vocabulary
  EXPECT_THROW(m.forward(row(bad, 0, 2), &cache), xla::Error);
  EXPECT_EQ(cache.length(), 6);
  std::vector<int32_t> rest(ids.begin() + 6, ids.end());
  EXPECT_EQ(max_abs_diff(chunked_logits(m, cache, rest, {2}), chunked_logits(m, clean, rest, {2})), 0.0);
}

// Memory is allocated once: rings hold exactly their window whatever the length, and a cache
// made with room for the sequence never reallocates.
TEST(KVCache, BuffersAreAllocatedOnce) {
  xla::NoGradGuard no_grad;
  GemmaModel m = tiny_model();
  const std::vector<int32_t> ids = sequence(40, 61);
  KVCache cache = m.new_cache(/*capacity=*/40);
  m.forward(row(ids, 0, 3), &cache);
  const size_t bytes = cache.nbytes();
  const int64_t B = 1, KVH = 2, D = 8;
  // two rings of 5 slots and one global layer of 40, keys and values, f32
  EXPECT_EQ(bytes, size_t((2 * 5 + 40) * 2 * B * KVH * D * 4));
  for (size_t t = 3; t < ids.size(); ++t) m.forward(row(ids, t, t + 1), &cache);
  EXPECT_EQ(cache.nbytes(), bytes);
  EXPECT_EQ(cache.slots(0), 5);
  EXPECT_EQ(cache.slots(1), 40);
  // without a capacity the global layer grows by doubling and stays exact
  KVCache growing = m.new_cache();
  const std::vector<float> full = m.forward(row(ids, 0, ids.size())).to_vector();
  EXPECT_LT(max_abs_diff(chunked_logits(m, growing, ids, {1}), full), 2e-5);
  EXPECT_GE(growing.slots(1), 40);
  EXPECT_LT(growing.slots(1), 80);
}

// Growing a global layer keeps the slots it held and zeroes the new ones, whatever memory its
// buffers come from: here blocks of their size freed full of NaN, which the allocator hands
// out again (a compiled step reads the unused slots, and 0 · NaN would not vanish).
TEST(KVCache, GrowingKeepsTheSlotsAndZeroesTheNewOnes) {
  xla::NoGradGuard no_grad;
  GemmaModel m = tiny_model();
  const std::vector<int32_t> ids = sequence(601, 61);
  KVCache cache = m.new_cache();
  m.forward(row(ids, 0, 600), &cache);
  ASSERT_EQ(cache.slots(1), 600);
  const std::vector<float> k0 = cache.keys(1).to_vector(), v0 = cache.values(1).to_vector();
  { Tensor a = xla::full({1, 2, 1200, 8}, std::nan("")), b = xla::full({1, 2, 1200, 8}, std::nan("")); }
  m.forward(row(ids, 600, 601), &cache);
  ASSERT_EQ(cache.slots(1), 1200);
  const std::vector<float> k = cache.keys(1).to_vector(), v = cache.values(1).to_vector();
  int64_t kept = 0, zeroed = 0;
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t s = 0; s < 1200; ++s)
      for (int64_t d = 0; d < 8; ++d) {
        const size_t at = size_t((h * 1200 + s) * 8 + d), was = size_t((h * 600 + s) * 8 + d);
        if (s < 600) {
          kept += k[at] == k0[was] && v[at] == v0[was];
        } else if (s > 600) {  // slot 600 holds the new token
          zeroed += k[at] == 0.f && v[at] == 0.f;
        }
      }
  EXPECT_EQ(kept, 2 * 600 * 8);
  EXPECT_EQ(zeroed, 2 * 599 * 8);
}

// With adapters that require grad, the cached forward is recorded: gradients reach them
// through the new tokens, as they do without a cache.
TEST(KVCache, DifferentiableThroughTheNewTokens) {
  GemmaModel m = tiny_model();
  m.add_lora(2, 4.f, {"q_proj", "v_proj"});
  for (auto& [name, p] : m.lora_parameters())
    if (name.find("lora_B") != std::string::npos) {
      xla::Generator gen(5);
      p->copy_(xla::randn(p->shape(), gen, 0.f, 0.2f));
    }
  const std::vector<int32_t> ids = sequence(8, 61);
  KVCache cache = m.new_cache();
  {
    xla::NoGradGuard no_grad;
    m.forward(row(ids, 0, 5), &cache);
  }
  Tensor cached = m.forward(row(ids, 5, 8), &cache);        // [1, 3, V], recorded
  Tensor full = xla::ag::slice(m.forward(row(ids, 0, 8)), 1, 5, 8);
  EXPECT_LT(max_abs_diff(cached.to_vector(), full.to_vector()), 2e-5);
  EXPECT_TRUE(xla::requires_grad(cached));
  // d(sum of logits of rows 5..7)/dB of the q adapter of the last layer: both paths reach it
  // through the queries of rows 5..7 alone (the prefix's last-layer queries feed only the
  // prefix's own logits), so the gradients agree.
  Tensor* b = nullptr;
  for (auto& [name, p] : m.lora_parameters())
    if (name == "model.layers.2.self_attn.q_proj.lora_B.weight") b = p;
  ASSERT_NE(b, nullptr);
  xla::backward(xla::ag::sum(cached));
  std::vector<float> g_cached = xla::grad(*b).to_vector();
  xla::zero_grad(*b);
  xla::backward(xla::ag::sum(full));
  std::vector<float> g_full = xla::grad(*b).to_vector();
  double scale = 0;
  for (float g : g_full) scale = std::max(scale, double(std::fabs(g)));
  ASSERT_GT(scale, 0);
  EXPECT_LT(max_abs_diff(g_cached, g_full), 1e-4 * scale);
}

// Layers of one kind see the same key positions in a step: they share one mask, built once;
// a layer of another window gets its own, and the next step builds afresh.
TEST(KVCache, LayersOfOneKindShareTheStepsMask) {
  xla::NoGradGuard no_grad;
  KVCache cache({0, 3, 0, 3});
  xla::Generator gen(3);
  auto append_all = [&](int64_t T) {
    std::vector<Tensor> masks;
    for (int64_t l = 0; l < 4; ++l) {
      const Tensor k = xla::randn({1, 1, T, 2}, gen), v = xla::randn({1, 1, T, 2}, gen);
      masks.push_back(cache.append(l, k, v).allowed);
    }
    cache.commit();
    return masks;
  };
  auto expect_mask = [](const Tensor& m, int64_t start, int64_t window) {  // keys in position order
    const int64_t T = m.shape()[0], S = m.shape()[1];
    const std::vector<float> got = m.to(xla::DType::F32).to_vector();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t q = start + t;
        EXPECT_EQ(got[size_t(t * S + s)], float(s <= q && (window == 0 || q - s < window))) << t << ", " << s;
      }
  };
  std::vector<Tensor> first = append_all(5);
  EXPECT_EQ(first[0].raw_data(), first[2].raw_data());
  EXPECT_EQ(first[1].raw_data(), first[3].raw_data());
  EXPECT_NE(first[0].raw_data(), first[1].raw_data());
  expect_mask(first[0], 0, 0);
  expect_mask(first[1], 0, 3);
  std::vector<Tensor> next = append_all(1);  // global: keys 0..5; ring: three slots
  EXPECT_EQ(next[0].shape(), (xla::Shape{1, 6}));
  expect_mask(next[0], 5, 0);
  EXPECT_EQ(next[1].shape(), (xla::Shape{1, 3}));
  EXPECT_EQ(next[1].to(xla::DType::F32).to_vector(), (std::vector<float>{1, 1, 1}));
}

TEST(KVCache, MisuseIsAnError) {
  GemmaModel m = tiny_model();
  KVCache cache = m.new_cache();
  Tensor k = Tensor::zeros({1, 2, 3, 8});
  EXPECT_THROW(cache.append(5, k, k), xla::Error);                           // no such layer
  EXPECT_THROW(cache.append(0, k, Tensor::zeros({1, 2, 2, 8})), xla::Error);  // k, v differ
  cache.append(0, k, k);
  EXPECT_THROW(cache.append(0, k, k), xla::Error);                           // twice in one step
  EXPECT_THROW(cache.append(1, Tensor::zeros({1, 2, 2, 8}), Tensor::zeros({1, 2, 2, 8})), xla::Error);  // other T
  EXPECT_THROW(cache.append(1, Tensor::zeros({1, 1, 3, 8}), Tensor::zeros({1, 1, 3, 8})), xla::Error);  // other heads
  EXPECT_THROW(cache.commit(), xla::Error);                                  // layers 1, 2 missing
  cache.rollback();
  EXPECT_EQ(cache.length(), 0);
  KVCache other(std::vector<int64_t>{0, 0});
  EXPECT_THROW(m.forward(Tensor::zeros({1, 2}, xla::DType::I32), &other), xla::Error);  // another model's
  EXPECT_THROW(KVCache(std::vector<int64_t>{-1}), xla::Error);
}

}  // namespace
