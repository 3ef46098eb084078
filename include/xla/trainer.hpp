// trainer.hpp — the training loop (gradient accumulation, clipping, schedule, periodic
// validation, progress bar, metrics JSONL) and resumable checkpoints.
//
// A checkpoint is a folder under a root:
//   root/step-00000100/  config.json  model.safetensors  optimizer.safetensors  state.json
//                        [adapters.safetensors: the LoRA adapters, when the model has them]
//   root/latest          the name of the newest complete checkpoint folder
// Saving writes a temporary folder, renames it into place, then replaces `latest` by
// rename: a process killed at any moment leaves `latest` naming a complete checkpoint.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "xla/data.hpp"
#include "xla/loss.hpp"
#include "xla/optim.hpp"

namespace xla::train {

namespace detail {  // src/train/progress.hpp
class MetricsFile;
class ProgressPrinter;
}  // namespace detail

// Everything besides weights and optimizer moments that a bit-identical resume needs.
struct TrainState {
  int64_t step = 0;       // optimizer steps done
  Batcher::State data;    // where the batches continue (includes the shuffling seed)
  // Optional fields: left out of state.json when empty, and empty when read from a
  // checkpoint that has none (the format stays libxla-train-1).
  std::string trainer;    // the loop that wrote it: "" the language-model Trainer, "dpo" the DpoTrainer
  std::string reference;  // DpoTrainer: fingerprint of the reference model, checked on resume
};

// Saves model, optimizer and state as root/step-<step>/ and points root/latest at it; keeps
// the newest keep_last checkpoints (>= 1) and removes the others and stale temporaries.
// Returns the checkpoint folder.
std::string save_checkpoint(const std::string& root, const GemmaModel& model, const Optimizer* optimizer,
                            const TrainState& state, int keep_last = 2);
// The folder root/latest names, or "" when root holds no checkpoint.
std::string latest_checkpoint(const std::string& root);
// Loads a checkpoint folder (or a root: its latest) into an existing model and optimizer —
// in place, so handles to their tensors stay valid. Shapes, names and kinds are checked
// (Status::Format naming the mismatch). optimizer may be null (weights only). A model with
// LoRA adapters needs a checkpoint with adapters of the same rank, alpha and names (add_lora
// before loading), and a checkpoint with adapters needs such a model.
TrainState load_checkpoint(const std::string& path, GemmaModel& model, Optimizer* optimizer);

struct StepMetrics {
  int64_t step = 0;            // 1-based index of the optimizer step just done
  double loss = 0;             // mean training loss of the step's micro-batches
  double lr = 0, grad_norm = 0;  // grad_norm before clipping
  double tokens_per_s = 0, elapsed_s = 0;
  int64_t tokens = 0;          // input tokens consumed so far
  double mem_mb = 0;           // resident memory now (MiB)
  double val_loss = NAN, val_ppl = NAN;  // when this step ran a validation
  bool skipped = false;        // non-finite loss or gradient: no update was applied
};

struct TrainerOptions {
  int64_t batch_size = 8, grad_accum = 1, steps = 100;
  Schedule schedule;           // total_steps 0 = steps
  double max_grad_norm = 1.0;  // 0 = no clipping (the norm is still measured)
  LossOptions loss;
  uint64_t seed = 0;           // batch order
  int64_t eval_every = 0, eval_batches = 0;  // 0 = never / every validation row
  std::string metrics_path;    // JSONL, one line per step (and per validation); "" = none
  std::string checkpoint_dir;  // "" = no checkpoints
  int64_t checkpoint_every = 0;  // also saved at the end when checkpoint_dir is set
  int keep_checkpoints = 2;
  int progress = -1;           // -1: a bar on a terminal, plain lines otherwise; 0: silent; 1: bar
  std::function<bool(const StepMetrics&)> on_step;  // return false to stop after this step
};

class Trainer {
 public:
  // model, optimizer and the datasets must outlive the trainer. val may be null.
  Trainer(GemmaModel& model, Optimizer& optimizer, const Dataset& train, const Dataset* val, TrainerOptions options);
  ~Trainer();

  // Continues from options.checkpoint_dir's latest checkpoint if there is one; returns
  // whether it did. Metrics lines after the resumed step are dropped from metrics_path.
  bool resume();
  StepMetrics step();    // one optimizer step (grad_accum micro-batches, weighted by counted targets)
  // Steps until options.steps are done or on_step (or `also`) says stop; returns the steps
  // done by this call.
  int64_t run(const std::function<bool(const StepMetrics&)>& also = nullptr);
  double evaluate();     // mean validation loss (token-weighted), NaN without a validation set
  void save();           // a checkpoint now (needs checkpoint_dir)
  int64_t current_step() const { return state_.step; }
  const TrainState& state() const { return state_; }

 private:
  void log(const StepMetrics& m);
  GemmaModel& model_;
  Optimizer& opt_;
  const Dataset& train_;
  const Dataset* val_;
  TrainerOptions o_;
  Batcher batcher_;
  TrainState state_;
  double base_lr_;
  double started_ = 0, seconds_ = 0;
  int64_t tokens_ = 0;
  std::unique_ptr<detail::MetricsFile> metrics_;
  std::unique_ptr<detail::ProgressPrinter> progress_;
  int64_t run_start_step_ = 0;
};

}  // namespace xla::train
