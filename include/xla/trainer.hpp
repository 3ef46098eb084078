// trainer.hpp — the language-model training loop (gradient accumulation, clipping, schedule,
// periodic validation, progress bar, metrics JSONL), the options every loop shares, and
// training-state checkpoints.
//
// "Checkpoint" means three things in libxla; this header is about the third:
//   a Hugging Face model folder    config.json + *.safetensors as the Hub ships them (load_model);
//   a model save                   Model::save: config.json + model.safetensors, weights only;
//   a training state               save_training_state: weights, adapters, optimizer moments, the
//                                  step and the data position — what a bit-identical resume needs.
// A training state is a folder under a root:
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
#include <span>
#include <string>

#include "xla/collective.hpp"
#include "xla/data.hpp"
#include "xla/loss.hpp"
#include "xla/optim.hpp"

namespace xla::train {

namespace detail {  // src/train/training_loop.hpp
class TrainingLoop;
}  // namespace detail

// Everything besides weights and optimizer moments that a bit-identical resume needs.
struct TrainState {
  int64_t step = 0;       // optimizer steps done
  Batcher::State data;    // where the batches continue (includes the shuffling seed)
  // Optional fields: left out of state.json when empty, and empty when read from a
  // checkpoint that has none (the format stays libxla-train-1).
  std::string trainer;    // the loop that wrote it: "" the language-model Trainer, "dpo", "grpo"
  std::string reference;  // DpoTrainer, GrpoTrainer: fingerprint of the reference model, checked on resume
  std::string extra;      // a trainer's own state as JSON text (GrpoTrainer: the round being reused)
  int64_t world_size = 1; // data-parallel ranks that trained it: a resume needs as many
};

// Saves model, optimizer and state as root/step-<step>/ and points root/latest at it; keeps
// the newest keep_last training states (>= 1) and removes the others and stale temporaries.
// Returns the folder.
std::string save_training_state(const std::string& root, const Model& model, const Optimizer* optimizer,
                                const TrainState& state, int keep_last = 2);
// The folder root/latest names, or "" when root holds no training state.
std::string latest_training_state(const std::string& root);
// Loads a training-state folder (or a root: its latest) into an existing model and optimizer —
// in place, so handles to their tensors stay valid. Shapes, names and kinds are checked
// (Status::Format naming the mismatch). optimizer may be null (weights only). A model with
// LoRA adapters needs a checkpoint with adapters of the same rank, alpha and names (add_lora
// before loading), and a checkpoint with adapters needs such a model.
TrainState load_training_state(const std::string& path, Model& model, Optimizer* optimizer);

struct StepMetrics {
  int64_t step = 0;            // 1-based index of the optimizer step just done
  double loss = 0;             // mean training loss of the step's micro-batches
  double lr = 0, grad_norm = 0;  // grad_norm before clipping
  double tokens_per_s = 0, elapsed_s = 0;
  int64_t tokens = 0;          // input tokens consumed so far
  double mem_mb = 0;           // resident memory now (MiB)
  double val_loss = NAN, val_ppl = NAN;  // when this step ran a validation
  bool skipped = false;        // non-finite loss or gradient: no update was applied
  double allreduce_s = 0;      // data parallel: seconds of the step in the gradient all-reduce
};

// What every training loop here shares (Trainer's and DpoTrainer's options embed it): the
// step cadence, the optimizer step, and the reporting and checkpoints around it.
//
// One optimizer step, in order: the learning rate from the schedule; grad_accum micro-batches,
// each one's backward writing into one flat f32 gradient block (every trained parameter's
// .grad is a view into it, in the optimizer's parameter order); on_gradients on that block;
// clipping to max_grad_norm; no update when the loss or the gradient norm is not finite.
struct LoopOptions {
  int64_t batch_size = 8;      // per micro-batch: rows (Trainer) or pairs (DpoTrainer)
  int64_t grad_accum = 1, steps = 100;
  Schedule schedule;           // total_steps 0 = steps
  double max_grad_norm = 1.0;  // 0 = no clipping (the norm is still measured)
  uint64_t seed = 0;           // batch order
  int64_t eval_every = 0;      // evaluate every this many steps (when there is an eval set); 0 = never
  std::string metrics_path;    // JSONL, one line per step; "" = none
  std::string checkpoint_dir;  // training-state checkpoints; "" = none
  int64_t checkpoint_every = 0;  // also saved at the end of run() when checkpoint_dir is set
  int keep_checkpoints = 2;
  int progress = -1;           // -1: a bar on a terminal, plain lines otherwise; 0: silent; 1: bar
  // Called once per step after every micro-batch's backward, before clipping, with the flat
  // gradient block [Σ numel of the optimizer's parameters]; what it writes there is the
  // gradient that is clipped and applied (a data-parallel trainer all-reduces it here).
  // Parameters that no gradient reached have zeros in the block and are not updated. With a
  // collective, it sees the block after the all-reduce.
  std::function<void(std::span<float> gradients)> on_gradients;
  // Data parallel (null or one rank: a single process). Every rank builds the same model,
  // optimizer, data and options; each takes its own batch_size rows (pairs) of every global
  // batch of world_size × batch_size, in the seed's order, and after every micro-batch's
  // backward the gradient block, the loss and the counts that weight the micro-batches are
  // all-reduced: W ranks × batch_size train as one process with batch W × batch_size, and the
  // replicas stay bit-identical. Rank 0 alone writes metrics, progress and checkpoints; every
  // rank resumes from them (a shared folder), on the same number of ranks. Must outlive the
  // trainer.
  Collective* collective = nullptr;
};

struct TrainerOptions : LoopOptions {
  LossOptions loss;
  int64_t eval_batches = 0;    // validation batches per evaluation; 0 = every validation row
  // Replays each micro-batch's forward, loss and backward from a graph captured once per
  // batch shape (xla/compile.hpp): the same gradients (bit for bit with one micro-batch a
  // step; with several, their sum may round differently), less per-op overhead. A model
  // whose layers cannot be captured (Mamba's scan, MoE routing) is Status::Unsupported at
  // the first step.
  bool compile = false;
  std::function<bool(const StepMetrics&)> on_step;  // return false to stop after this step
};

class Trainer {
 public:
  // model, optimizer and the datasets must outlive the trainer. val may be null. The
  // optimizer's parameters get their gradient buffers in the trainer's flat block for the
  // trainer's lifetime (LoopOptions). An optimizer over another model's tensors, and options
  // that could only fail later (keep_checkpoints < 1, a NaN min_ratio), are
  // Status::InvalidArg here, as in every trainer and in save/load_training_state.
  Trainer(Model& model, Optimizer& optimizer, const Dataset& train, const Dataset* val, TrainerOptions options);
  ~Trainer();

  // Continues from options.checkpoint_dir's latest training state if there is one; returns
  // whether it did. Metrics lines after the resumed step are dropped from metrics_path. A
  // training state that a DpoTrainer wrote is an error (Status::Format), before anything loads.
  bool resume();
  StepMetrics step();    // one optimizer step (grad_accum micro-batches, weighted by counted targets)
  // Steps until options.steps are done or on_step (or `also`) says stop; returns the steps
  // done by this call.
  int64_t run(const std::function<bool(const StepMetrics&)>& also = nullptr);
  // Mean validation loss (token-weighted). Without a validation set (null or empty) an error
  // (Status::InvalidArg) — as DpoTrainer::evaluate: a missing value is a mistake to name, not
  // a NaN to find later.
  double evaluate();
  bool has_eval_set() const { return val_ && val_->size() > 0; }
  void save();           // a training state now (needs checkpoint_dir)
  int64_t current_step() const;
  const TrainState& state() const;

 private:
  struct CompiledSteps;
  void log(const StepMetrics& m);
  // options.compile: one micro-batch replayed from its graph; returns its loss.
  double compiled_micro_batch(const Tensor& in, const Tensor& tg, double w);
  Model& model_;
  const Dataset& train_;
  const Dataset* val_;
  TrainerOptions o_;
  Batcher batcher_;
  int64_t tokens_ = 0;
  std::unique_ptr<detail::TrainingLoop> loop_;
  std::unique_ptr<CompiledSteps> compiled_;  // options.compile: a graph per micro-batch shape
};

}  // namespace xla::train
