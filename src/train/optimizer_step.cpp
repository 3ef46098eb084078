// optimizer_step.cpp — the optimizer step over the flat gradient block (optimizer_step.hpp).
#include "optimizer_step.hpp"

#include <chrono>
#include <cmath>

#include "xla/autograd.hpp"

namespace xla::train::detail {

OptimizerStep::OptimizerStep(Optimizer& optimizer, const LoopOptions& o)
    : opt_(optimizer),
      schedule_(o.schedule),
      max_grad_norm_(o.max_grad_norm),
      on_gradients_(o.on_gradients),
      collective_(o.collective && o.collective->world_size() > 1 ? o.collective : nullptr),
      base_lr_(optimizer.lr()),
      params_(optimizer.parameters()) {
  int64_t total = 0;
  for (const Tensor& p : params_) total += p.numel();
  flat_ = Tensor::zeros({total});
  int64_t offset = 0;
  for (const Tensor& p : params_) {
    views_.push_back(flat_.slice(0, offset, offset + p.numel()).view(p.shape()));
    offset += p.numel();
  }
}

OptimizerStep::~OptimizerStep() {
  for (Tensor& p : params_) set_grad_buffer(p, Tensor());
}

// A parameter frozen since the optimizer was made gets no gradient, and no buffer.
void OptimizerStep::attach_buffers() {
  for (size_t i = 0; i < params_.size(); ++i)
    set_grad_buffer(params_[i], requires_grad(params_[i]) ? views_[i] : Tensor());
}

void OptimizerStep::detach_buffers() {
  for (Tensor& p : params_) set_grad_buffer(p, Tensor());
}

std::span<float> OptimizerStep::gradients() { return {flat_.data<float>(), size_t(flat_.numel())}; }

StepOutcome OptimizerStep::run(int64_t step, int64_t micro_batches, const std::function<double(int64_t)>& micro_batch) {
  StepOutcome out;
  out.lr = base_lr_ * schedule_.factor(step);
  opt_.set_lr(out.lr);
  // attached every step: another loop over the same optimizer may have attached its own since
  attach_buffers();
  flat_.zero_();  // parameters that no gradient reaches read zeros in the block, not stale values
  for (int64_t a = 0; a < micro_batches; ++a) out.loss += micro_batch(a);
  if (collective_) {  // one array: every rank's weighted shares sum to the global mean gradient
    const auto t0 = std::chrono::steady_clock::now();
    collective_->all_reduce(gradients(), ReduceOp::Sum);
    collective_->all_reduce(std::span<double>(&out.loss, 1), ReduceOp::Sum);
    out.allreduce_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  if (on_gradients_) on_gradients_(gradients());
  out.grad_norm = clip_grad_norm(params_, max_grad_norm_);
  out.skipped = !std::isfinite(out.loss) || !std::isfinite(out.grad_norm);
  if (!out.skipped) opt_.step();
  opt_.zero_grad();
  return out;
}

}  // namespace xla::train::detail
