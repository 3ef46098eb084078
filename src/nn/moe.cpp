// moe.cpp — the Mixture-of-Experts layer: top-k routing on plain router logits, each expert
// run on the batch of tokens routed to it, the results scattered back to (token, slot) order
// with a differentiable permutation, weighted and summed; plus the load-balancing loss.
#include "xla/moe.hpp"
#include "op_trace.hpp"  // src/tensor/kernels

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace xla::nn {

namespace {

Tensor i64_tensor(const std::vector<int64_t>& v, const Shape& shape) {
  static const int64_t dummy = 0;
  return Tensor::from_data(v.empty() ? &dummy : v.data(), shape, DType::I64);
}

void check_shapes(const Tensor& x, const Tensor& router, const std::vector<MoeExpert>& experts, int top_k) {
  if (!x.defined() || x.ndim() != 2) fail(Status::Shape, "moe: x must be [N, C], got " + x.shape().str());
  const int64_t c = x.shape()[1];
  if (!router.defined() || router.ndim() != 2 || router.shape()[1] != c)
    fail(Status::Shape, "moe: router must be [E, " + std::to_string(c) + "], got " + router.shape().str());
  const int64_t e = router.shape()[0];
  if (e == 0) fail(Status::InvalidArg, "moe: no experts");
  if (int64_t(experts.size()) != e)
    fail(Status::Shape, "moe: router has " + std::to_string(e) + " rows but there are " +
                            std::to_string(experts.size()) + " experts");
  if (top_k < 1 || top_k > e)
    fail(Status::InvalidArg, "moe: top_k must be in [1, " + std::to_string(e) + "], got " + std::to_string(top_k));
  for (size_t i = 0; i < experts.size(); ++i) {
    const MoeExpert& ex = experts[i];
    const std::string name = "moe: expert " + std::to_string(i) + ": ";
    if (!ex.gate.defined() || !ex.up.defined() || !ex.down.defined()) fail(Status::InvalidArg, name + "undefined weight");
    if (ex.gate.ndim() != 2 || ex.gate.shape()[1] != c)
      fail(Status::Shape, name + "gate must be [I, " + std::to_string(c) + "], got " + ex.gate.shape().str());
    const int64_t inter = ex.gate.shape()[0];
    if (!(ex.up.shape() == ex.gate.shape()))
      fail(Status::Shape, name + "up " + ex.up.shape().str() + " differs from gate " + ex.gate.shape().str());
    if (ex.down.ndim() != 2 || ex.down.shape()[0] != c || ex.down.shape()[1] != inter)
      fail(Status::Shape, name + "down must be [" + std::to_string(c) + ", " + std::to_string(inter) + "], got " +
                              ex.down.shape().str());
  }
}

}  // namespace

MoeOutput moe(const Tensor& x, const Tensor& router, const std::vector<MoeExpert>& experts, int top_k) {
  detail::UntracedScope untraced;  // raw kernels: a capture must not freeze their results
  check_shapes(x, router, experts, top_k);
  const int64_t n = x.shape()[0], c = x.shape()[1], e = router.shape()[0], k = top_k;
  if (n == 0) return {Tensor::zeros({0, c}), Tensor::scalar(0.f), Tensor::zeros({0, k}, DType::I64)};

  Tensor logits = linear(x, router);  // [N, E], f32

  // ---- routing: a discrete choice on the plain values (NaN ranks below everything) ----
  const std::vector<float> lv = logits.to_vector();
  auto logit = [&](int64_t t, int64_t ex) {
    float v = lv[size_t(t * e + ex)];
    return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v;
  };
  std::vector<int64_t> index(size_t(n * k));  // [N, k]: slot s = t·k + j
  std::vector<int64_t> order(static_cast<size_t>(e));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t ex = 0; ex < e; ++ex) order[size_t(ex)] = ex;
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
      float la = logit(t, a), lb = logit(t, b);
      return la > lb || (la == lb && a < b);
    });
    for (int64_t j = 0; j < k; ++j) index[size_t(t * k + j)] = order[size_t(j)];
  }
  Tensor expert_index = i64_tensor(index, {n, k});

  // weights: softmax over the chosen logits, [N, k]
  Tensor weights = ag::softmax(ag::gather(logits, 1, expert_index), 1);

  // ---- experts on their own tokens ----
  // Rows of `outs` are ordered by expert, then by slot; pos[s] is where slot s's row landed,
  // so index_select(concat(outs), pos) puts them back in slot order. That is index_add for a
  // destination that every (token, slot) hits exactly once, and it is differentiable.
  std::vector<std::vector<int64_t>> slots(static_cast<size_t>(e));
  for (int64_t s = 0; s < n * k; ++s) slots[size_t(index[size_t(s)])].push_back(s);
  std::vector<int64_t> pos(size_t(n * k));
  std::vector<Tensor> outs;
  int64_t row = 0;
  for (int64_t ex = 0; ex < e; ++ex) {
    const std::vector<int64_t>& ss = slots[size_t(ex)];
    if (ss.empty()) continue;  // an expert with no tokens never runs (and gets no gradient)
    std::vector<int64_t> tokens(ss.size());
    for (size_t i = 0; i < ss.size(); ++i) {
      tokens[i] = ss[i] / k;
      pos[size_t(ss[i])] = row++;
    }
    Tensor xe = ag::index_select(x, 0, i64_tensor(tokens, {int64_t(tokens.size())}));  // [n_e, C]
    const MoeExpert& w = experts[size_t(ex)];
    outs.push_back(geglu_mlp(xe, w.gate, w.up, w.down));  // [n_e, C]
  }
  Tensor by_expert = outs.size() == 1 ? outs[0] : ag::concat(outs, 0);                  // [N·k, C]
  Tensor by_slot = ag::index_select(by_expert, 0, i64_tensor(pos, {n * k}));            // [N·k, C]
  Tensor weighted = ag::mul(ag::reshape(by_slot, {n, k, c}), ag::unsqueeze(weights, 2));  // [N, k, C]
  Tensor y = ag::sum(weighted, {1});                                                      // [N, C]

  // ---- load balancing: E · Σ_e f_e · P_e ----
  std::vector<float> frac(static_cast<size_t>(e));
  for (int64_t ex = 0; ex < e; ++ex) frac[size_t(ex)] = float(double(slots[size_t(ex)].size()) / double(n * k));
  Tensor f = Tensor::from_vector(frac, {e});                   // [E], constant
  Tensor p = ag::mean(ag::softmax(logits, 1), {0});             // [E]
  Tensor aux = ag::mul(ag::sum(ag::mul(p, f)), Tensor::scalar(float(e)));  // 0-d

  return {y, aux, expert_index};
}

}  // namespace xla::nn
