// logprob.cpp — log-probs of given tokens under a Gemma, all through one fused path
// (linear_token_logprobs with the model's head and final soft-cap): per position, summed per
// row, and one sequence summed in double. Losses are loss.cpp's; DPO's batches call these.
#include <string>

#include "xla/autograd.hpp"
#include "xla/loss.hpp"

namespace xla::train {

Tensor token_logprobs(const Model& model, const Tensor& inputs, const Tensor& targets, int64_t ignore_index,
                      float temperature) {
  return linear_token_logprobs(model.final_hidden(inputs), model.head_weight(), targets, model.final_softcap(),
                               ignore_index, 256 << 20, temperature);  // [B, T]
}

Tensor sequence_logprobs(const Model& model, const Tensor& inputs, const Tensor& targets, int64_t ignore_index) {
  return ag::sum(token_logprobs(model, inputs, targets, ignore_index), {1});  // [B]
}

double sequence_logprob(const Model& model, const std::vector<int32_t>& tokens, int64_t start) {
  const int64_t n = int64_t(tokens.size());
  if (start < 1 || start > n)
    fail(Status::InvalidArg, "logprob: start " + std::to_string(start) + " must be in [1, " + std::to_string(n) + "]");
  if (start == n) return 0;
  constexpr int32_t kIgnore = -100;
  // position t reads tokens[0..t] and predicts tokens[t + 1]: counted from tokens[start] on
  std::vector<int32_t> in(tokens.begin(), tokens.end() - 1), tg(tokens.begin() + 1, tokens.end());
  for (int64_t t = 0; t + 1 < start; ++t) tg[size_t(t)] = kIgnore;
  NoGradGuard no_grad;
  const Tensor lp = token_logprobs(model, Tensor::from_data(in.data(), {1, n - 1}, DType::I32),
                                   Tensor::from_data(tg.data(), {1, n - 1}, DType::I32), kIgnore);  // [1, n - 1]
  double total = 0;
  for (float v : lp.to_vector()) total += double(v);
  return total;
}

}  // namespace xla::train
