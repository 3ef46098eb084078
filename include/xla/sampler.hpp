// sampler.hpp — picks the next token from one row of logits, with the semantics of Hugging Face
// transformers' generate(): repetition penalty, then greedy argmax (temperature 0) or
// temperature -> top_k -> top_p -> min_p -> a draw from a seeded RNG. Standard library only;
// no tensor dependency.
#pragma once
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace xla {

struct SamplerParams {
  uint64_t seed = 0;
  float temperature = 0.f;         // 0 = greedy (argmax, first index on ties)
  int32_t top_k = 0;               // 0 = off; larger than the vocabulary = off
  float top_p = 1.f;               // 1 = off
  float min_p = 0.f;               // 0 = off
  float repetition_penalty = 1.f;  // 1 = off
};

// Throws Error(Status::InvalidArg) naming the field when: temperature is negative, NaN or
// infinite; top_k < 0; top_p not in (0, 1]; min_p not in [0, 1]; repetition_penalty is <= 0,
// NaN or infinite.
void validate(const SamplerParams& p);

// One sampler per generation stream (not thread-safe: it owns an RNG and scratch buffers).
//
// sample() steps, in transformers' order:
//  1. repetition penalty: for each distinct id of `history` inside [0, vocab):
//     logit = logit > 0 ? logit / penalty : logit * penalty (duplicates count once);
//  2. temperature == 0: return the first index of the maximum (NaN never wins; all -inf -> 0);
//     top_k / top_p / min_p are ignored, as with do_sample=False. No RNG draw is consumed.
//  3. temperature: probabilities are softmax(logit / T), computed in float32 as
//     exp((logit - max) / T) (max subtracted first, so huge logits and tiny temperatures do not
//     overflow; as PyTorch), with all sums in double. NaN and -inf logits are masked (never
//     sampled); if any logit is +inf, the +inf tokens share all the mass equally.
//  4. top_k: keeps every token whose logit >= the k-th largest logit (ties at the boundary are
//     all kept, like transformers' `scores < topk(...)[-1]` removal rule).
//  5. top_p: in order of probability descending (ties: lower index first), keeps the smallest
//     prefix whose cumulative probability >= top_p; always at least one token.
//  6. min_p: keeps tokens with p >= min_p * max p (p recomputed over the survivors; the most
//     likely token always survives).
//  7. draws from the renormalised survivors. RNG: std::mt19937_64 seeded with `seed`; each
//     sampled (non-greedy) call consumes exactly one 64-bit output x, turned into
//     u = (x >> 11) * 2^-53 in [0, 1) (portable: no std::uniform_real_distribution).
// Throws Error(Status::InvalidArg) if logits is null, vocab is not in [1, INT32_MAX], history is
// null with n_history > 0, or no token can be chosen (all NaN; all masked when sampling).
class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);  // validates

  // Picks the next token from one row of logits [vocab]. `history` = the prompt and the tokens
  // generated so far (for the repetition penalty). Does not modify `logits`: it works on its
  // own scratch buffers, reused across calls.
  int32_t sample(const float* logits, int64_t vocab, const int32_t* history, size_t n_history);

  const SamplerParams& params() const { return params_; }

 private:
  struct Cand {
    float w;  // the logit, then the unnormalised probability exp((logit - max) / T)
    int32_t id;
  };
  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<float> scratch_;
  std::vector<Cand> cands_;
  std::vector<float> heap_;  // top_k selection
};

}  // namespace xla
