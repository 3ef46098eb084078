// test_sampler.cpp — xla::Sampler: greedy ties (also over long vocabularies), repetition
// penalty, temperature, top_k, top_p, min_p, seeding, masked / huge / equal logits, parameter
// validation, and 262,144-token cases (top_k beyond 1,024 and top_p with thousands of
// survivors drawn against a plain sort-and-cut).
// Expected distributions are derived by hand in comments (or by a naive loop here); sampled
// frequencies come from 20,000 draws with a fixed seed and must be within 0.01.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "xla/error.hpp"
#include "xla/sampler.hpp"

using xla::Sampler;
using xla::SamplerParams;
using xla::Status;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int kDraws = 20000;

SamplerParams sampling(float temperature, uint64_t seed = 1234) {
  SamplerParams p;
  p.seed = seed;
  p.temperature = temperature;
  return p;
}

int32_t pick(const SamplerParams& p, const std::vector<float>& logits, const std::vector<int32_t>& history = {}) {
  Sampler s(p);
  return s.sample(logits.data(), int64_t(logits.size()), history.data(), history.size());
}

// Empirical frequency of each token over kDraws draws from one sampler.
std::vector<double> frequencies(const SamplerParams& p, const std::vector<float>& logits,
                                const std::vector<int32_t>& history = {}) {
  Sampler s(p);
  std::vector<double> f(logits.size(), 0.0);
  for (int i = 0; i < kDraws; ++i) {
    int32_t t = s.sample(logits.data(), int64_t(logits.size()), history.data(), history.size());
    EXPECT_GE(t, 0);
    EXPECT_LT(t, int32_t(logits.size()));
    if (t >= 0 && size_t(t) < f.size()) f[size_t(t)] += 1.0;
  }
  for (double& x : f) x /= kDraws;
  return f;
}

void expect_freqs(const std::vector<double>& got, const std::vector<double>& want, double tol = 0.01) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "token " << i;
}

// logits = ln(weights): softmax at temperature 1 gives weights / sum(weights).
std::vector<float> log_of(const std::vector<double>& w) {
  std::vector<float> l;
  for (double x : w) l.push_back(float(std::log(x)));
  return l;
}
const std::vector<float> kL1234 = log_of({1, 2, 3, 4});  // probabilities 0.1 0.2 0.3 0.4

std::vector<float> lcg_logits(size_t n, uint64_t seed, float lo, float hi) {
  std::vector<float> v(n);
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (float& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = float(lo + (hi - lo) * (double(s >> 11) * 0x1.0p-53));
  }
  return v;
}

// Rounds each value to bf16 (truncation): a bf16 model's logits, with many exact ties.
void to_bf16(std::vector<float>& v) {
  for (float& x : v) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    u &= 0xffff0000u;
    std::memcpy(&x, &u, 4);
  }
}

// The tokens sample() may draw, by the plain method of sampler.hpp's steps 3-6 (no penalty):
// sort everything, cut. w = exp((logit - max) / T) in float over the top_k survivors; sorted
// by w descending (ties: lower id first); the nucleus is the shortest prefix whose running sum
// (in double, in that order) reaches top_p times the sum over all survivors (in id order).
std::vector<char> exact_set(const std::vector<float>& logits, const SamplerParams& p) {
  const size_t V = logits.size();
  std::vector<float> desc;
  for (float x : logits)
    if (x > -kInf) desc.push_back(x);
  std::sort(desc.begin(), desc.end(), std::greater<float>());
  const size_t k = size_t(p.top_k);
  const float kth = k > 0 && k <= desc.size() ? desc[k - 1] : -kInf;
  struct Cand {
    float w;
    int32_t id;
  };
  std::vector<Cand> c;
  for (size_t i = 0; i < V; ++i)
    if (logits[i] > -kInf && logits[i] >= kth) c.push_back({logits[i], int32_t(i)});
  double total = 0.0;
  for (Cand& x : c) {
    const float z = (x.w - desc[0]) / p.temperature;
    x.w = z > -104.f ? std::exp(z) : 0.f;
    total += double(x.w);
  }
  std::sort(c.begin(), c.end(), [](const Cand& a, const Cand& b) { return a.w > b.w || (a.w == b.w && a.id < b.id); });
  size_t keep = c.size();
  if (p.top_p < 1.f) {
    double cum = 0.0;
    for (size_t i = 0; i < c.size(); ++i)
      if ((cum += double(c[i].w)) >= double(p.top_p) * total) {
        keep = i + 1;
        break;
      }
  }
  std::vector<char> in(V, 0);
  for (size_t i = 0; i < keep; ++i)
    if (c[i].w > 0.f && c[i].w >= p.min_p) in[size_t(c[i].id)] = 1;
  return in;
}

// The message of the xla::Error thrown by validate(p) ("" if none was thrown).
std::string validate_error(const SamplerParams& p) {
  try {
    xla::validate(p);
  } catch (const xla::Error& e) {
    EXPECT_EQ(int(e.status()), int(Status::InvalidArg)) << e.what();
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Sampler, GreedyIsArgmaxFirstOnTies) {
  SamplerParams p;  // temperature 0
  EXPECT_EQ(pick(p, {0.5f, 3.f, -1.f, 2.f}), 1);
  EXPECT_EQ(pick(p, {1.f, 7.f, 7.f, 7.f}), 1);              // ties -> first
  EXPECT_EQ(pick(p, {2.f, 2.f, 2.f}), 0);                   // all equal
  EXPECT_EQ(pick(p, {NAN, 1.f, NAN, 5.f, NAN}), 3);         // NaN never wins
  EXPECT_EQ(pick(p, {-kInf, -kInf, -3.f, -kInf}), 2);       // masked tokens lose
  EXPECT_EQ(pick(p, {-1e38f, -1e37f, -3e38f}), 1);
  // Greedy ignores the warpers (transformers: do_sample=False) and consumes no randomness.
  p.top_k = 1;
  p.min_p = 0.9f;
  EXPECT_EQ(pick(p, {0.f, 1.f, 1.f}), 1);
}

// Greedy over long vocabularies, against the plain scan that keeps the first strictly larger
// value: values drawn from a small set (ties everywhere), with NaN, ±∞ and ±0 among them,
// at lengths on both sides of the stretches the fast path searches in.
TEST(Sampler, GreedyOverLongVocabulariesMatchesAPlainScan) {
  auto scan = [](const std::vector<float>& s) {
    int64_t best = -1;
    for (size_t i = 0; i < s.size(); ++i)
      if (!std::isnan(s[i]) && (best < 0 || s[i] > s[size_t(best)])) best = int64_t(i);
    return int32_t(best);
  };
  const float kinds[] = {NAN, -kInf, -0.f, 0.f, 1.f, 2.5f, -3.f, kInf};
  uint64_t state = 7;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return uint32_t(state >> 33);
  };
  SamplerParams p;
  for (size_t n : {size_t(1), size_t(63), size_t(64), size_t(65), size_t(1000), size_t(262149)})
    for (int trial = 0; trial < 12; ++trial) {
      // trial t draws from the first 2 + t % 6 kinds (NaN and −∞ only, up to all but +∞) and,
      // on odd trials, puts one +∞ late
      std::vector<float> v(n);
      for (float& x : v) x = kinds[next() % uint32_t(2 + trial % 6)];
      if (trial % 2) v[n - 1 - next() % std::min<size_t>(n, 70)] = kInf;
      if (scan(v) < 0) continue;  // all NaN: below
      EXPECT_EQ(pick(p, v), scan(v)) << "n " << n << ", trial " << trial;
    }
  // the largest value first met in the tail beyond the last whole stretch, or on both sides
  // of a stretch's edge
  std::vector<float> v(262149, -1.f);
  v[262148] = 4.f;
  EXPECT_EQ(pick(p, v), 262148);
  v[64] = 4.f;
  v[63] = 4.f;
  EXPECT_EQ(pick(p, v), 63);
  EXPECT_EQ(pick(p, {0.f, -0.f, -1.f}), 0);  // −0 and +0 tie: the first
  EXPECT_EQ(pick(p, {-0.f, 0.f, -1.f}), 0);
  std::vector<float> nans(1000, NAN);
  EXPECT_THROW(pick(p, nans), xla::Error);
  nans[700] = -kInf;
  EXPECT_EQ(pick(p, nans), 700);
}

TEST(Sampler, RepetitionPenaltyGreedyBoundaries) {
  SamplerParams p;
  p.repetition_penalty = 2.f;
  // Positive logit divided: [2.0, 1.5] -> [1.0, 1.5] with 0 in history.
  EXPECT_EQ(pick(p, {2.f, 1.5f}, {0}), 1);
  EXPECT_EQ(pick(p, {2.f, 1.5f}, {}), 0);
  // Negative logit multiplied: [-1.0, -1.5] -> [-2.0, -1.5].
  EXPECT_EQ(pick(p, {-1.f, -1.5f}, {0}), 1);
  // Duplicate ids count once. Penalty 1.2: [2.0, 1.5] -> 2/1.2 = 1.667 > 1.5 keeps token 0
  // (applied twice it would be 2/1.44 = 1.389 < 1.5).
  p.repetition_penalty = 1.2f;
  EXPECT_EQ(pick(p, {2.f, 1.5f}, {0, 0, 0}), 0);
  // [-1.0, -1.3]: -1.0 * 1.2 = -1.2 > -1.3 keeps token 0 (twice: -1.44 < -1.3).
  EXPECT_EQ(pick(p, {-1.f, -1.3f}, {0, 0}), 0);
  EXPECT_EQ(pick(p, {-1.f, -1.3f}, {1, 0, 1}), 0);
  // Ids outside [0, vocab) are ignored.
  EXPECT_EQ(pick(p, {2.f, 1.9f}, {-1, 2, 1000000, std::numeric_limits<int32_t>::min()}), 0);
  // Penalty < 1 rewards: [1.0, 1.5] with 0 in history, penalty 0.5 -> [2.0, 1.5].
  p.repetition_penalty = 0.5f;
  EXPECT_EQ(pick(p, {1.f, 1.5f}, {0}), 0);
}

TEST(Sampler, RepetitionPenaltyValuesThroughTheDistribution) {
  // logits [2, -1, 0, 0.5], penalty 2, history {0, 1, 1, 0, -5, 4, 99} (duplicates, out of range)
  // -> [2/2, -1*2, 0, 0.5] = [1, -2, 0, 0.5]. Token 2's logit is 0 (unchanged either way);
  // token 3 is not in the history. p = exp(l) / sum exp(l), computed here in double.
  std::vector<double> penalised = {1.0, -2.0, 0.0, 0.5};
  double z = 0.0;
  for (double l : penalised) z += std::exp(l);
  std::vector<double> want;
  for (double l : penalised) want.push_back(std::exp(l) / z);
  SamplerParams p = sampling(1.f);
  p.repetition_penalty = 2.f;
  std::vector<float> logits = {2.f, -1.f, 0.f, 0.5f};
  const std::vector<float> before = logits;
  expect_freqs(frequencies(p, logits, {0, 1, 1, 0, -5, 4, 99}), want);
  EXPECT_EQ(logits, before);  // the caller's logits are untouched
}

TEST(Sampler, Temperature1MatchesSoftmax) {
  expect_freqs(frequencies(sampling(1.f), kL1234), {0.1, 0.2, 0.3, 0.4});
}

TEST(Sampler, TemperatureHalfSharpens) {
  // softmax(ln p / 0.5) = p^2 / sum p^2.
  std::vector<double> p = {0.1, 0.2, 0.3, 0.4}, want;
  double z = 0.0;
  for (double x : p) z += x * x;
  for (double x : p) want.push_back(x * x / z);  // [1, 4, 9, 16] / 30
  expect_freqs(frequencies(sampling(0.5f), kL1234), want);
}

TEST(Sampler, TopK2KeepsTheTopPair) {
  SamplerParams p = sampling(1.f);
  p.top_k = 2;
  std::vector<double> f = frequencies(p, kL1234);
  EXPECT_EQ(f[0], 0.0);
  EXPECT_EQ(f[1], 0.0);
  expect_freqs(f, {0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0});  // 0.3 and 0.4 renormalised
  // top_k >= vocab is off.
  p.top_k = 100;
  expect_freqs(frequencies(p, kL1234), {0.1, 0.2, 0.3, 0.4});
}

TEST(Sampler, TopKKeepsTiesAtTheBoundary) {
  // k = 2: the 2nd largest logit is 1, shared by tokens 1, 2 and 3 -> all three kept, equally likely.
  SamplerParams p = sampling(1.f);
  p.top_k = 2;
  std::vector<float> logits = {0.f, 1.f, 1.f, 1.f, -2.f};
  expect_freqs(frequencies(p, logits), {0.0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0.0});
}

TEST(Sampler, TopPNucleus) {
  // Sorted 0.4, 0.3: cumulative 0.4 < 0.5, then 0.7 >= 0.5 -> keep {3, 2}: 4/7, 3/7.
  SamplerParams p = sampling(1.f);
  p.top_p = 0.5f;
  std::vector<double> f = frequencies(p, kL1234);
  EXPECT_EQ(f[0], 0.0);
  EXPECT_EQ(f[1], 0.0);
  expect_freqs(f, {0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0});
  // 0.75: 0.4, 0.7, 0.9 -> keep {3, 2, 1}: 4/9, 3/9, 2/9.
  p.top_p = 0.75f;
  expect_freqs(frequencies(p, kL1234), {0.0, 2.0 / 9, 3.0 / 9, 4.0 / 9});
  // Exact boundary, equal logits: sorted (ties: lower index first) 0.25, 0.5 >= 0.5 -> keep {0, 1}.
  p.top_p = 0.5f;
  expect_freqs(frequencies(p, {3.f, 3.f, 3.f, 3.f}), {0.5, 0.5, 0.0, 0.0});
  // Tiny top_p still keeps the most likely token.
  p.top_p = 1e-6f;
  expect_freqs(frequencies(p, kL1234), {0.0, 0.0, 0.0, 1.0}, 0.0);
}

TEST(Sampler, TopPAfterTopK) {
  // top_k = 3 -> {0.2, 0.3, 0.4} / 0.9 = [2/9, 3/9, 4/9]; top_p = 0.5: 4/9 = 0.444 < 0.5,
  // then 7/9 >= 0.5 -> keep {3, 2}: 4/7, 3/7.
  SamplerParams p = sampling(1.f);
  p.top_k = 3;
  p.top_p = 0.5f;
  expect_freqs(frequencies(p, kL1234), {0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0});
  // top_k = 3 and top_p = 0.4: 4/9 = 0.444 >= 0.4 -> token 3 only.
  p.top_p = 0.4f;
  expect_freqs(frequencies(p, kL1234), {0.0, 0.0, 0.0, 1.0}, 0.0);
}

TEST(Sampler, MinP) {
  // min_p = 0.6: keep p >= 0.6 * 0.4 = 0.24 -> {0.3, 0.4}: 3/7, 4/7.
  SamplerParams p = sampling(1.f);
  p.min_p = 0.6f;
  expect_freqs(frequencies(p, kL1234), {0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0});
  // min_p = 1: only the maximum.
  p.min_p = 1.f;
  expect_freqs(frequencies(p, kL1234), {0.0, 0.0, 0.0, 1.0}, 0.0);
  // After top_k = 2 the survivors are [3/7, 4/7]; min_p 0.8: 0.8 * 4/7 = 0.457 > 3/7 -> token 3
  // only.
  p.top_k = 2;
  p.min_p = 0.8f;
  expect_freqs(frequencies(p, kL1234), {0.0, 0.0, 0.0, 1.0}, 0.0);
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedDifferent) {
  std::vector<float> logits(16, 0.f);  // uniform over 16 tokens
  auto run = [&](uint64_t seed) {
    Sampler s(sampling(1.f, seed));
    std::vector<int32_t> out;
    for (int i = 0; i < 200; ++i) out.push_back(s.sample(logits.data(), 16, nullptr, 0));
    return out;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
  // Greedy calls consume no randomness: interleaving them leaves the sampled sequence unchanged.
  SamplerParams g;
  Sampler greedy(g);
  Sampler s(sampling(1.f, 7));
  std::vector<int32_t> mixed;
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(greedy.sample(logits.data(), 16, nullptr, 0), 0);
    mixed.push_back(s.sample(logits.data(), 16, nullptr, 0));
  }
  EXPECT_EQ(mixed, run(7));
}

TEST(Sampler, MaskedLogitsNeverSampled) {
  std::vector<float> logits = {-kInf, 0.f, -kInf, 0.f, NAN, -kInf};
  expect_freqs(frequencies(sampling(1.f), logits), {0.0, 0.5, 0.0, 0.5, 0.0, 0.0});
  // Masked tokens stay masked under a penalty (-inf * p = -inf) and every warper.
  SamplerParams p = sampling(2.f);
  p.repetition_penalty = 1.5f;
  p.top_k = 5;
  p.top_p = 0.99f;
  p.min_p = 0.01f;
  std::vector<double> f = frequencies(p, logits, {0, 1, 2});
  EXPECT_EQ(f[0] + f[2] + f[4] + f[5], 0.0);
  // Everything masked: nothing to sample.
  std::vector<float> none = {-kInf, NAN, -kInf};
  Sampler s(sampling(1.f));
  EXPECT_THROW(s.sample(none.data(), 3, nullptr, 0), xla::Error);
}

TEST(Sampler, EqualHugeAndInfiniteLogits) {
  // All equal -> uniform.
  expect_freqs(frequencies(sampling(1.f), {5.f, 5.f, 5.f, 5.f}), {0.25, 0.25, 0.25, 0.25});
  // Huge logits do not overflow: 3e38 - (-3e38) is taken in double; exp(-6e38) = 0.
  expect_freqs(frequencies(sampling(1.f), {3e38f, -3e38f, 3e38f}), {0.5, 0.0, 0.5});
  // A tiny temperature on ordinary logits is effectively greedy and stays finite.
  expect_freqs(frequencies(sampling(1e-30f), {1.f, 2.f, 1.5f}), {0.0, 1.0, 0.0}, 0.0);
  // +inf logits share all the mass.
  expect_freqs(frequencies(sampling(1.f), {1e30f, kInf, 0.f, kInf}), {0.0, 0.5, 0.0, 0.5});
}

TEST(Sampler, DoesNotModifyLogitsAndReusesScratch) {
  SamplerParams p = sampling(0.7f);
  p.repetition_penalty = 1.3f;
  p.top_k = 3;
  Sampler s(p);
  std::vector<float> a = {1.f, 2.f, 3.f, -1.f, 0.5f}, a0 = a;
  std::vector<float> b = {0.f, 9.f};  // a smaller vocab on the same sampler
  std::vector<int32_t> h = {2, 2, 4};
  for (int i = 0; i < 50; ++i) {
    int32_t t = s.sample(a.data(), 5, h.data(), h.size());
    EXPECT_TRUE(t == 0 || t == 1 || t == 2) << t;  // top 3 of [1, 2, 3/1.3 = 2.31, -1, 0.5/1.3 = 0.38]
    int32_t u = s.sample(b.data(), 2, h.data(), h.size());
    EXPECT_TRUE(u == 0 || u == 1);
  }
  EXPECT_EQ(a, a0);
}

TEST(Sampler, ValidateNamesTheField) {
  auto with = [](auto set) {
    SamplerParams p;
    set(p);
    return validate_error(p);
  };
  EXPECT_EQ(with([](SamplerParams&) {}), "");
  EXPECT_EQ(with([](SamplerParams& p) { p.temperature = 0.8f; p.top_k = 50; p.top_p = 0.95f;
                                        p.min_p = 0.05f; p.repetition_penalty = 1.1f; }), "");
  EXPECT_EQ(with([](SamplerParams& p) { p.top_p = 1.f; p.min_p = 1.f; }), "");
  struct Case {
    void (*set)(SamplerParams&);
    const char* field;
  };
  const Case cases[] = {
      {[](SamplerParams& p) { p.temperature = -0.1f; }, "temperature"},
      {[](SamplerParams& p) { p.temperature = NAN; }, "temperature"},
      {[](SamplerParams& p) { p.temperature = kInf; }, "temperature"},
      {[](SamplerParams& p) { p.top_k = -1; }, "top_k"},
      {[](SamplerParams& p) { p.top_p = 0.f; }, "top_p"},
      {[](SamplerParams& p) { p.top_p = 1.01f; }, "top_p"},
      {[](SamplerParams& p) { p.top_p = NAN; }, "top_p"},
      {[](SamplerParams& p) { p.min_p = -0.01f; }, "min_p"},
      {[](SamplerParams& p) { p.min_p = 1.5f; }, "min_p"},
      {[](SamplerParams& p) { p.min_p = NAN; }, "min_p"},
      {[](SamplerParams& p) { p.repetition_penalty = 0.f; }, "repetition_penalty"},
      {[](SamplerParams& p) { p.repetition_penalty = -1.f; }, "repetition_penalty"},
      {[](SamplerParams& p) { p.repetition_penalty = NAN; }, "repetition_penalty"},
  };
  for (const Case& c : cases) {
    SamplerParams p;
    c.set(p);
    std::string msg = validate_error(p);
    EXPECT_NE(msg.find(c.field), std::string::npos) << "expected '" << c.field << "' in: '" << msg << "'";
    EXPECT_THROW(Sampler{p}, xla::Error) << c.field;  // the constructor validates too
  }
}

TEST(Sampler, BadSampleArguments) {
  Sampler s(sampling(1.f));
  std::vector<float> l = {0.f, 1.f};
  EXPECT_THROW(s.sample(nullptr, 2, nullptr, 0), xla::Error);
  EXPECT_THROW(s.sample(l.data(), 0, nullptr, 0), xla::Error);
  EXPECT_THROW(s.sample(l.data(), 2, nullptr, 3), xla::Error);
  std::vector<float> nans = {NAN, NAN};
  Sampler g{SamplerParams{}};
  EXPECT_THROW(g.sample(nans.data(), 2, nullptr, 0), xla::Error);
}

TEST(Sampler, LargeVocabTopKTopP) {
  // 262,144 random logits in [-10, 10); every draw must be among the 40 largest after the
  // repetition penalty (applied here by hand, once per distinct id).
  const size_t V = 262144;
  std::vector<float> logits = lcg_logits(V, 42, -10.f, 10.f);
  std::vector<int32_t> history = {1, 2, 3, 100000, 262143, 3};
  std::vector<float> penalised = logits;
  for (int32_t id : {1, 2, 3, 100000, 262143}) {
    float x = logits[size_t(id)];
    penalised[size_t(id)] = x > 0.f ? x / 1.1f : x * 1.1f;
  }
  std::vector<float> sorted = penalised;
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  const float kth = sorted[39];
  SamplerParams p = sampling(1.f, 99);
  p.top_k = 40;
  p.top_p = 0.9f;
  p.repetition_penalty = 1.1f;
  Sampler s(p);
  for (int i = 0; i < 200; ++i) {
    int32_t t = s.sample(logits.data(), int64_t(V), history.data(), history.size());
    ASSERT_GE(t, 0);
    ASSERT_LT(size_t(t), V);
    EXPECT_GE(penalised[size_t(t)], kth) << "token " << t;
  }
  // top_p alone over the whole vocabulary (nearly flat: the nucleus holds most tokens) and
  // greedy agree with a naive scan.
  p.top_k = 0;
  p.repetition_penalty = 1.f;
  Sampler all(p);
  for (int i = 0; i < 5; ++i) {
    int32_t t = all.sample(logits.data(), int64_t(V), nullptr, 0);
    ASSERT_GE(t, 0);
    ASSERT_LT(size_t(t), V);
  }
  SamplerParams g;
  size_t argmax = size_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  EXPECT_EQ(pick(g, logits), int32_t(argmax));
}

// The fast paths of a 262,144-word vocabulary: top_k beyond the heap's 1,024 (nth_element) and
// top_p with far more than the first 256-candidate chunk in the nucleus. Every draw must lie
// in the set a plain sort-and-cut keeps. Logits are dense (neighbours of the boundary are
// nearly as likely as the last kept token, so a token kept by mistake is soon drawn), once as
// floats and once rounded to bf16 (long runs of exact ties across the boundary).
TEST(Sampler, LargeVocabFastPathsDrawOnlyFromTheExactSet) {
  const size_t V = 262144;
  struct Case {
    const char* name;
    float temperature;
    int32_t top_k;
    float top_p;
    bool bf16;
    int draws;
  };
  // (one token kept by mistake next to k = 1,025 dense ones is drawn about once in 1,000)
  const Case cases[] = {
      {"top_p 0.9 (about 30,000 survivors)", 1.f, 0, 0.9f, false, 100},
      {"top_p 0.5 at T 3, bf16 ties", 3.f, 0, 0.5f, true, 100},
      {"top_p 0.999, almost everything", 0.7f, 0, 0.999f, false, 50},
      {"top_k 1025", 1.f, 1025, 1.f, false, 2500},
      {"top_k 1100, bf16 ties", 1.f, 1100, 1.f, true, 500},
      {"top_k 5000 then top_p 0.9", 1.f, 5000, 0.9f, false, 200},
      {"top_k 100000 then top_p 0.95 at T 2, bf16 ties", 2.f, 100000, 0.95f, true, 100},
  };
  uint64_t seed = 0;
  for (const Case& c : cases) {
    std::vector<float> logits = lcg_logits(V, 1000 + seed, -10.f, 10.f);
    if (c.bf16) to_bf16(logits);
    SamplerParams p = sampling(c.temperature, 77 + seed++);
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    const std::vector<char> in = exact_set(logits, p);
    const size_t n_in = size_t(std::count(in.begin(), in.end(), 1));
    EXPECT_GT(n_in, size_t(1024)) << c.name;  // the fast paths, not the small ones
    Sampler s(p);
    int outside = 0;
    for (int i = 0; i < c.draws; ++i) {
      const int32_t t = s.sample(logits.data(), int64_t(V), nullptr, 0);
      ASSERT_GE(t, 0);
      ASSERT_LT(size_t(t), V);
      outside += in[size_t(t)] ? 0 : 1;
    }
    EXPECT_EQ(outside, 0) << c.name << ": " << outside << " of " << c.draws << " draws outside the " << n_in
                          << " tokens a sort-and-cut keeps";
  }
}
