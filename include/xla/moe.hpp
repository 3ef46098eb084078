// moe.hpp — a Mixture-of-Experts layer with top-k token routing and the Switch-Transformer
// load-balancing loss, as a function of tensors (no module object). Differentiable in x, the
// router and every expert weight: it is built from xla::ag ops; the routing choice itself
// (which experts a token goes to) is a discrete decision and carries no gradient.
#pragma once
#include <cstdint>
#include <vector>

#include "xla/nn.hpp"

namespace xla::nn {

// One expert: Gemma's gated MLP, run as geglu_mlp(x, gate, up, down).
struct MoeExpert {
  Tensor gate;  // [I, C]
  Tensor up;    // [I, C]
  Tensor down;  // [C, I]
};

struct MoeOutput {
  Tensor y;             // [N, C]: Σ_j weight[n, j] · expert_{index[n, j]}(x[n])
  Tensor aux_loss;      // 0-d f32: E · Σ_e f_e · P_e (see moe below)
  Tensor expert_index;  // i64 [N, top_k]: the chosen experts, highest router logit first
};

// x [N, C]; router [E, C]; experts: E of them.
// - logits = linear(x, router) [N, E]; each token takes the top_k experts by logit (ties go
//   to the lower expert index); its weights are softmax over those k logits, so they sum to 1.
// - Each expert runs only on the tokens routed to it (index_select, geglu_mlp); the results
//   go back to their tokens and slots through a differentiable permutation and are summed
//   with the weights, so a token's output never sees an expert it was not routed to.
// - aux_loss = E · Σ_e f_e · P_e with f_e = (assignments to e) / (N · top_k), a constant, and
//   P_e = mean over tokens of softmax(logits)[:, e] over all E experts (differentiable). It is
//   1 when routing is balanced (f_e = 1/E) or the router is uniform (P_e = 1/E), larger when
//   the assignments pile up on the experts the router favours.
// - N = 0 gives y [0, C], aux_loss 0 and expert_index [0, top_k].
// Throws Status::InvalidArg for top_k outside [1, E] or no experts, Status::Shape for shapes
// that do not fit together.
MoeOutput moe(const Tensor& x, const Tensor& router, const std::vector<MoeExpert>& experts, int top_k);

}  // namespace xla::nn
