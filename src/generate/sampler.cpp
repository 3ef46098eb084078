// sampler.cpp — the token sampler of sampler.hpp (transformers' generate() semantics).
// A repetition penalty works on a copy of the logits; greedy is an argmax. Sampling finds
// the top_k threshold with a k-sized heap (no sort), keeps the unmasked tokens above it as
// candidates, and for top_p sorts only growing chunks of the most likely candidates.
#include "xla/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>

#include "xla/error.hpp"

namespace xla {

namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

[[noreturn]] void bad_param(const char* field, const char* rule, double got) {
  fail(Status::InvalidArg, std::string("SamplerParams: ") + field + " " + rule + ", got " + num(got));
}

// The k-th largest of the unmasked values of s[0, n) (duplicates counted), or -inf if fewer
// than k are unmasked. Small k: one pass with a min-heap of the k best (most values lose a
// single compare against its top). Large k: nth_element over a copy of the unmasked values,
// at index k - 1 (not k: that would keep one token too many). Both are exact, and the caller
// keeps every value >= the result, so ties at the boundary are all kept as the sort would.
float kth_largest(const float* s, size_t n, size_t k, std::vector<float>& buf) {
  constexpr float ninf = -std::numeric_limits<float>::infinity();
  buf.clear();
  if (k <= 1024) {
    for (size_t i = 0; i < n; ++i) {
      const float v = s[i];
      if (!(v > ninf)) continue;
      if (buf.size() < k) {
        buf.push_back(v);
        std::push_heap(buf.begin(), buf.end(), std::greater<float>());
      } else if (v > buf.front()) {
        std::pop_heap(buf.begin(), buf.end(), std::greater<float>());
        buf.back() = v;
        std::push_heap(buf.begin(), buf.end(), std::greater<float>());
      }
    }
    return buf.size() < k ? ninf : buf.front();
  }
  for (size_t i = 0; i < n; ++i)
    if (s[i] > ninf) buf.push_back(s[i]);
  if (buf.size() < k) return ninf;
  std::nth_element(buf.begin(), buf.begin() + ptrdiff_t(k - 1), buf.end(), std::greater<float>());
  return buf[k - 1];
}

// The first index of the largest value of s[0, n), NaN never winning. Two passes that
// vectorise (the maximum, then the first stretch of 64 holding it), where one pass
// comparing each value with the best so far is a chain of dependent branches: 172 → 53 µs
// over a 262,144-token vocabulary (Zen 5, 2026-12-05), a greedy decode step's whole
// sampling. (−0 and +0 tie, and the first of them wins, as there.)
int32_t first_max_index(const float* s, size_t n) {
  constexpr float ninf = -std::numeric_limits<float>::infinity();
  float top = ninf;
#pragma omp simd reduction(max : top)
  for (size_t i = 0; i < n; ++i) {
    const float v = s[i] == s[i] ? s[i] : ninf;  // NaN as −∞: never above anything
    top = v > top ? v : top;
  }
  constexpr size_t kStretch = 64;
  for (size_t i = 0; i < n; i += kStretch) {
    const size_t end = std::min(n, i + kStretch);
    int here = 0;
#pragma omp simd reduction(| : here)
    for (size_t j = i; j < end; ++j) here |= s[j] == top;
    if (here)
      for (size_t j = i; j < end; ++j)
        if (s[j] == top) return int32_t(j);  // (all −∞: the first of them)
  }
  fail(Status::InvalidArg, "Sampler::sample", "every logit is NaN");
}

}  // namespace

void validate(const SamplerParams& p) {
  if (!(p.temperature >= 0.f) || std::isinf(p.temperature))
    bad_param("temperature", "must be finite and >= 0 (0 = greedy)", p.temperature);
  if (p.top_k < 0) bad_param("top_k", "must be >= 0 (0 = off)", p.top_k);
  if (!(p.top_p > 0.f && p.top_p <= 1.f)) bad_param("top_p", "must be in (0, 1] (1 = off)", p.top_p);
  if (!(p.min_p >= 0.f && p.min_p <= 1.f)) bad_param("min_p", "must be in [0, 1] (0 = off)", p.min_p);
  if (!(p.repetition_penalty > 0.f) || std::isinf(p.repetition_penalty))
    bad_param("repetition_penalty", "must be finite and > 0 (1 = off)", p.repetition_penalty);
}

Sampler::Sampler(const SamplerParams& p) : params_(p), rng_(p.seed) { validate(p); }

int32_t Sampler::sample(const float* logits, int64_t vocab, const int32_t* history, size_t n_history) {
  if (!logits) fail(Status::InvalidArg, "Sampler::sample", "logits is null");
  if (vocab < 1 || vocab > std::numeric_limits<int32_t>::max())
    fail(Status::InvalidArg, "Sampler::sample", "vocab must be in [1, 2^31-1], got " + std::to_string(vocab));
  if (!history && n_history > 0) fail(Status::InvalidArg, "Sampler::sample", "history is null but n_history > 0");
  const size_t V = size_t(vocab);

  // (1) Copy, then penalise the history ids. Each penalised value is computed from the
  // caller's untouched logit, so a duplicate id rewrites the same value (counts once).
  // Without a penalty the logits are read where they are.
  const float pen = params_.repetition_penalty;
  const float* s = logits;
  if (pen != 1.f) {
    scratch_.assign(logits, logits + V);
    for (size_t i = 0; i < n_history; ++i) {
      const int32_t id = history[i];
      if (id < 0 || int64_t(id) >= vocab) continue;
      const float x = logits[id];
      scratch_[size_t(id)] = x > 0.f ? x / pen : x * pen;
    }
    s = scratch_.data();
  }

  // (2) Greedy: first index of the maximum; NaN never compares greater, so it never wins.
  if (params_.temperature == 0.f) return first_max_index(s, V);

  // (4, done before the softmax since it needs only the order, which temperature keeps)
  // top_k: the k-th largest logit, counting duplicates; every token >= it is kept (ties too).
  const size_t k = size_t(params_.top_k);
  float kth = -std::numeric_limits<float>::infinity();
  if (k > 0 && k < V) kth = kth_largest(s, V, k, heap_);

  // Candidates: unmasked tokens (not NaN, not -inf) that survive top_k; mx = their maximum.
  std::vector<Cand>& c = cands_;
  c.clear();
  float mx = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < V; ++i) {
    if (s[i] > -std::numeric_limits<float>::infinity() && s[i] >= kth) {
      c.push_back({s[i], int32_t(i)});
      mx = std::max(mx, s[i]);
    }
  }
  if (c.empty()) fail(Status::InvalidArg, "Sampler::sample", "every logit is -inf or NaN; nothing to sample");

  // (3) Temperature softmax, unnormalised, in float32 with the maximum subtracted first (as
  // PyTorch does): w = exp((logit - max) / T), so the top token has w = 1 and nothing can
  // overflow (x - max <= 0; it may round to -inf, giving w = 0). +inf logits take all the mass.
  double total = 0.0;  // sum of w over c, in double
  if (std::isinf(mx)) {
    for (Cand& x : c) total += (x.w = std::isinf(x.w) ? 1.f : 0.f);
  } else {
    const float T = params_.temperature;
    for (Cand& x : c) {
      const float z = (x.w - mx) / T;
      total += (x.w = z > -104.f ? std::exp(z) : 0.f);  // expf underflows to 0 below -103.97
    }
  }
  auto sum_w = [&c] {
    double t = 0.0;
    for (const Cand& x : c) t += double(x.w);
    return t;
  };
  // A strict total order: larger w first, then lower id (makes every selection deterministic).
  auto before = [](const Cand& a, const Cand& b) { return a.w > b.w || (a.w == b.w && a.id < b.id); };

  // (5) top_p. The nucleus is the shortest prefix, in `before` order, holding top_p of the
  // mass. Tokens with w < tau = (1 - top_p) * total / n hold at most (1 - top_p) of it
  // together, so the nucleus lies within {w >= tau}: drop the rest first. Then bring the next
  // chunk of most likely candidates to the front with nth_element, sort only that chunk, scan
  // it, and grow the chunk until the cumulative mass reaches the target. This keeps exactly
  // what sorting everything would: `before` is a strict total order, so each nth_element over
  // the whole remainder [lo, end) puts the same candidates in [lo, hi) as the full sort, and
  // the running sum adds the same values in the same order. (Sorting a chunk without that
  // nth_element, or over [lo, hi) alone, scans the wrong candidates and keeps unlikely ones.)
  if (params_.top_p < 1.f && c.size() > 1) {
    const double target = double(params_.top_p) * total;
    // (max w is 1: the cap only matters when 1 - top_p rounds to 1 over equal weights)
    const double tau = std::min(1.0, (1.0 - double(params_.top_p)) * total / double(c.size()));
    c.erase(std::partition(c.begin(), c.end(), [tau](const Cand& x) { return double(x.w) >= tau; }), c.end());
    double cum = 0.0;
    size_t lo = 0, chunk = 256, keep = c.size();
    while (lo < c.size()) {
      const size_t hi = std::min(c.size(), lo + chunk);
      if (hi < c.size()) std::nth_element(c.begin() + ptrdiff_t(lo), c.begin() + ptrdiff_t(hi), c.end(), before);
      std::sort(c.begin() + ptrdiff_t(lo), c.begin() + ptrdiff_t(hi), before);
      size_t i = lo;
      while (i < hi && (cum += c[i].w) < target) ++i;
      if (i < hi) {
        keep = i + 1;
        break;
      }
      lo = hi;
      chunk *= 4;
    }
    c.resize(keep);  // if rounding leaves cum a hair short of target, all of {w >= tau} stays
    total = sum_w();
  }

  // (6) min_p: p_i >= min_p * p_max  <=>  w_i >= min_p * w_max (the normaliser cancels;
  // w_max is still 1, as the most likely token survives top_k and top_p).
  if (params_.min_p > 0.f) {
    const float thr = params_.min_p;
    c.erase(std::remove_if(c.begin(), c.end(), [thr](const Cand& x) { return x.w < thr; }), c.end());
    total = sum_w();
  }

  // (7) One draw: u uniform in [0, total); the first candidate whose cumulative weight
  // exceeds u. Zero-weight candidates (exp underflow) can never be picked.
  const double u = double(rng_() >> 11) * 0x1.0p-53 * total;
  double cum = 0.0;
  int32_t last_positive = c[0].id;
  for (const Cand& x : c) {
    if (x.w <= 0.f) continue;
    last_positive = x.id;
    cum += double(x.w);
    if (u < cum) return x.id;
  }
  return last_positive;  // u rounded onto the total
}

}  // namespace xla
