// optim.hpp — optimizers with PyTorch's semantics and defaults (SGD with momentum and
// Nesterov, Adam, AdamW), parameter groups, gradient clipping by global norm, and learning-
// rate schedules (constant, linear warm-up, cosine or linear decay to a floor).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "xla/model.hpp"

namespace xla::train {

enum class OptimizerKind { SGD = 0, Adam = 1, AdamW = 2 };

struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::AdamW;
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam, AdamW
  double weight_decay = 1e-2;  // AdamW: decoupled; Adam and SGD: L2 added to the gradient
  double momentum = 0, dampening = 0;               // SGD
  bool nesterov = false;                            // SGD (needs momentum > 0, dampening 0)
  // PyTorch's defaults for a kind: weight_decay 0.01 for AdamW, 0 for Adam and SGD.
  static OptimizerOptions defaults(OptimizerKind kind, double lr = 1e-3);
};

// Parameters that share hyper-parameters. Tensors are handles: the optimizer updates the
// model's own storage in place.
struct ParamGroup {
  std::vector<std::string> names;
  std::vector<Tensor> params;
  double weight_decay = 0;
  double lr_scale = 1;  // this group's lr = optimizer lr × lr_scale
};

// The usual grouping: weight decay on matrices, none on norms (1-D) nor on embeddings
// (names containing "embed"), as most Gemma fine-tuning recipes do. Marks every parameter
// as requiring grad. A model with LoRA adapters (Model::add_lora) trains the adapters
// only: one group of every lora_parameters() tensor with weight_decay, and the base weights
// are marked as not requiring grad (frozen: no gradient is formed for them).
std::vector<ParamGroup> default_param_groups(Model& model, double weight_decay);

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, const OptimizerOptions& options);
  // default_param_groups(model, options.weight_decay)
  Optimizer(Model& model, const OptimizerOptions& options);

  // One update from the accumulated .grad of every parameter (those without one are
  // skipped, as PyTorch does). Non-f32 parameters are an error: train in f32.
  void step();
  void zero_grad();  // forgets every .grad (PyTorch's set_to_none)

  double lr() const { return lr_; }
  void set_lr(double lr);
  int64_t steps() const { return steps_; }
  const OptimizerOptions& options() const { return options_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  std::vector<Tensor> parameters() const;

  // State for checkpoints: "<param name>.exp_avg" / ".exp_avg_sq" / ".momentum_buffer",
  // and the step count. load_state checks every name and shape.
  std::vector<std::pair<std::string, Tensor>> state() const;
  void load_state(const std::map<std::string, Tensor>& tensors, int64_t steps);

 private:
  struct ParamState {
    Tensor m, v;  // Adam moments, or m = SGD momentum buffer
  };
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<ParamState>> state_;
  OptimizerOptions options_;
  double lr_ = 0;
  int64_t steps_ = 0;
};

// Throws Error(Status::InvalidArg), prefixed with `who`, naming the first parameter of the
// optimizer that is not one of the model's tensors (its weights or LoRA adapters): an
// optimizer made for another model would update that one while this one trained nothing.
void check_optimizer_of(const Optimizer& optimizer, const Model& model, const std::string& who);

// Scales every gradient so that their global L2 norm is at most max_norm (when max_norm
// > 0, as torch.nn.utils.clip_grad_norm_); returns the norm before clipping.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

enum class ScheduleKind { Constant = 0, Linear = 1, Cosine = 2 };

// lr(step) = base lr × factor(step), step counted from 0. Warm-up rises linearly to 1 over
// warmup_steps ((step + 1) / warmup_steps); then Linear and Cosine decay to min_ratio at
// total_steps and stay there.
struct Schedule {
  ScheduleKind kind = ScheduleKind::Constant;
  int64_t warmup_steps = 0, total_steps = 0;
  double min_ratio = 0;
  double factor(int64_t step) const;
};

}  // namespace xla::train
