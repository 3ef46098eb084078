// optimizer_step.hpp — one optimizer step as every training loop takes it: the learning rate
// from the schedule, the micro-batches' backward into one flat f32 gradient block, the
// all-reduce of that block over the data-parallel ranks, the gradient hook on it, clipping, the non-finite check, the update. The loss and the
// batches are the caller's. Internal to src/train; not an installed header.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "xla/autograd.hpp"
#include "xla/optim.hpp"
#include "xla/trainer.hpp"

namespace xla::train::detail {

struct StepOutcome {
  double loss = 0;       // the sum of what the micro-batches returned
  double lr = 0;         // the learning rate this step used
  double grad_norm = 0;  // before clipping
  bool skipped = false;  // non-finite loss or gradient norm: no update was applied
  double allreduce_s = 0;  // data parallel: seconds in the gradient all-reduce
};

// The flat block follows llm.c's layout: one allocation for all gradients, parameter after
// parameter in the optimizer's order, each parameter's .grad a view of its slice
// (set_grad_buffer, attached at the start of every step). All-reduce and clipping then see
// one contiguous array.
class OptimizerStep {
 public:
  // options: schedule (total_steps filled in), max_grad_norm and on_gradients are used. The
  // learning rates are optimizer.lr() now (the base) times the schedule's factor.
  OptimizerStep(Optimizer& optimizer, const LoopOptions& options);
  ~OptimizerStep();  // takes the gradient buffers back off the parameters
  OptimizerStep(const OptimizerStep&) = delete;
  OptimizerStep& operator=(const OptimizerStep&) = delete;

  // The step of 0-based index `step`: micro_batch(a) for a in [0, micro_batches) runs
  // micro-batch a's forward and backward (seeded with its weight in the step, so that the
  // block ends up holding the step's mean gradient) and returns its share of the loss. With a
  // collective, the weights are shares of the global step: the block and the loss are summed
  // over the ranks.
  StepOutcome run(int64_t step, int64_t micro_batches, const std::function<double(int64_t)>& micro_batch);
  std::span<float> gradients();  // f32 [Σ numel of the optimizer's parameters]

  // For micro-batches replayed from a compiled graph (xla/compile.hpp), whose gradients are
  // the graph's results: the parameters in block order, and adding one gradient into its
  // slice of the block as a backward would. A capture runs with the buffers off (detach_buffers), so that the
  // gradients it records are values and not writes into the block.
  const std::vector<Tensor>& parameters() const { return params_; }
  void add_gradient(size_t i, const Tensor& g) { accumulate_grad(params_[i], g); }
  void attach_buffers();
  void detach_buffers();

 private:
  Optimizer& opt_;
  Schedule schedule_;
  double max_grad_norm_;
  std::function<void(std::span<float>)> on_gradients_;
  Collective* collective_;  // null: one process
  double base_lr_;
  std::vector<Tensor> params_;  // the optimizer's, in order
  Tensor flat_;                 // f32 [Σ numel]
  std::vector<Tensor> views_;   // [i]: params_[i]'s slice of flat_, in its shape
};

}  // namespace xla::train::detail
