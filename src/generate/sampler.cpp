// sampler.cpp — the token sampler of sampler.hpp (transformers' generate() semantics).
// One pass copies and penalises the logits; greedy is an argmax over that copy. Sampling keeps
// the unmasked tokens as candidates, selects top_k with nth_element (no full sort), and for
// top_p sorts only growing chunks of the most likely candidates until the nucleus is covered.
#include "xla/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
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
  if (!logits) fail(Status::InvalidArg, "Sampler::sample: logits is null");
  if (vocab < 1 || vocab > std::numeric_limits<int32_t>::max())
    fail(Status::InvalidArg, "Sampler::sample: vocab must be in [1, 2^31-1], got " + std::to_string(vocab));
  if (!history && n_history > 0) fail(Status::InvalidArg, "Sampler::sample: history is null but n_history > 0");
  const size_t V = size_t(vocab);

  // (1) Copy, then penalise the history ids. Each penalised value is computed from the
  // caller's untouched logit, so a duplicate id rewrites the same value (counts once).
  scratch_.assign(logits, logits + V);
  const float pen = params_.repetition_penalty;
  if (pen != 1.f) {
    for (size_t i = 0; i < n_history; ++i) {
      const int32_t id = history[i];
      if (id < 0 || int64_t(id) >= vocab) continue;
      const float x = logits[id];
      scratch_[size_t(id)] = x > 0.f ? x / pen : x * pen;
    }
  }
  const float* s = scratch_.data();

  // (2) Greedy: first index of the maximum; NaN never compares greater, so it never wins.
  if (params_.temperature == 0.f) {
    int64_t best = -1;
    for (size_t i = 0; i < V; ++i)
      if (!std::isnan(s[i]) && (best < 0 || s[i] > s[best])) best = int64_t(i);
    if (best < 0) fail(Status::InvalidArg, "Sampler::sample: every logit is NaN");
    return int32_t(best);
  }

  // Candidates: every token with a logit that is neither NaN nor -inf.
  std::vector<Cand>& c = cands_;
  c.clear();
  for (size_t i = 0; i < V; ++i)
    if (s[i] > -std::numeric_limits<float>::infinity()) c.push_back({double(s[i]), int32_t(i)});
  if (c.empty()) fail(Status::InvalidArg, "Sampler::sample: every logit is -inf or NaN; nothing to sample");

  // A strict total order: larger w first, then lower id (makes every selection deterministic).
  auto before = [](const Cand& a, const Cand& b) { return a.w > b.w || (a.w == b.w && a.id < b.id); };

  // (4, done before the softmax since it only needs the order, which temperature preserves)
  // top_k: the k largest logits, plus any candidate tied with the k-th.
  const size_t k = size_t(params_.top_k);
  if (k > 0 && k < c.size()) {
    std::nth_element(c.begin(), c.begin() + ptrdiff_t(k - 1), c.end(), before);
    const double kth = c[k - 1].w;
    auto tail_end = std::partition(c.begin() + ptrdiff_t(k), c.end(), [kth](const Cand& x) { return x.w >= kth; });
    c.erase(tail_end, c.end());
  }

  // (3) Temperature softmax, unnormalised: w = exp((logit - max) / T), so the top token has
  // w = 1. Differences are taken in double (cannot overflow). +inf logits take all the mass.
  double mx = c[0].w;
  for (const Cand& x : c) mx = std::max(mx, x.w);
  if (std::isinf(mx)) {
    for (Cand& x : c) x.w = std::isinf(x.w) ? 1.0 : 0.0;
  } else {
    const double T = double(params_.temperature);
    for (Cand& x : c) x.w = std::exp((x.w - mx) / T);
  }

  // (5) top_p. The nucleus is a prefix of the candidates in `before` order. Bring the next
  // chunk of most likely candidates to the front with nth_element, sort only that chunk, and
  // scan it; double the chunk until the cumulative mass reaches top_p of the total.
  if (params_.top_p < 1.f && c.size() > 1) {
    double total = 0.0;
    for (const Cand& x : c) total += x.w;
    const double target = double(params_.top_p) * total;
    double cum = 0.0;
    size_t lo = 0, chunk = 256, keep = c.size();
    while (lo < c.size()) {
      const size_t hi = std::min(c.size(), lo + chunk);
      if (hi < c.size()) std::nth_element(c.begin() + ptrdiff_t(lo), c.begin() + ptrdiff_t(hi), c.end(), before);
      std::sort(c.begin() + ptrdiff_t(lo), c.begin() + ptrdiff_t(hi), before);
      size_t i = lo;
      for (; i < hi; ++i) {
        cum += c[i].w;
        if (cum >= target) break;
      }
      if (i < hi) {
        keep = i + 1;
        break;
      }
      lo = hi;
      chunk *= 2;
    }
    c.resize(keep);  // rounding may leave cum a hair short of target: then everything is kept
  }

  // (6) min_p: p_i >= min_p * p_max  <=>  w_i >= min_p * w_max (the normaliser cancels).
  if (params_.min_p > 0.f) {
    double wmax = 0.0;
    for (const Cand& x : c) wmax = std::max(wmax, x.w);
    const double thr = double(params_.min_p) * wmax;
    c.erase(std::remove_if(c.begin(), c.end(), [thr](const Cand& x) { return x.w < thr; }), c.end());
  }

  // (7) One draw: u uniform in [0, total); the first candidate whose cumulative weight
  // exceeds u. Zero-weight candidates (exp underflow) can never be picked.
  double total = 0.0;
  for (const Cand& x : c) total += x.w;
  const double u = double(rng_() >> 11) * 0x1.0p-53 * total;
  double cum = 0.0;
  int32_t last_positive = c[0].id;
  for (const Cand& x : c) {
    if (x.w <= 0.0) continue;
    last_positive = x.id;
    cum += x.w;
    if (u < cum) return x.id;
  }
  return last_positive;  // u rounded onto the total
}

}  // namespace xla
