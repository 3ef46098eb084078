// training_loop.hpp — what Trainer and DpoTrainer share around their loss: the options check,
// the optimizer step, the training state, the metrics file and progress display, training-
// state checkpoints with the check of who wrote them, run(), and the data-parallel checks
// around them (the ranks agree, start identical, and rank 0 alone writes). Internal to src/train.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "optimizer_step.hpp"
#include "progress.hpp"
#include "xla/trainer.hpp"

namespace xla::train::detail {

// Checks the options every loop has (Status::InvalidArg prefixed with `who`) and returns them
// with schedule.total_steps filled in.
LoopOptions checked_loop_options(LoopOptions o, const std::string& who);

// Data parallel (no-ops without a collective or with one rank). A rank whose options or data
// differ from rank 0's would hang the others or train another model: the ranks compare these
// values first and all fail with Status::InvalidArg naming the first one they disagree on.
void check_same_on_all_ranks(Collective* c, const std::vector<std::pair<std::string, int64_t>>& values,
                             const std::string& who);
// Rank 0's weights and adapters into every other rank, before anything is copied or trained:
// replicas start identical however each built its model (as DDP does at construction).
void broadcast_parameters(Model& model, Collective* c);
void sum_over_ranks(Collective* c, std::span<double> values);
int rank_of(const Collective* c);
int world_size_of(const Collective* c);

class TrainingLoop {
 public:
  // options must have passed checked_loop_options. who: "trainer" or
  // "dpo", the prefix of errors; kind: what TrainState::trainer holds for this loop ("" for
  // the language-model Trainer, "dpo").
  TrainingLoop(Model& model, Optimizer& optimizer, const LoopOptions& options, std::string who, std::string kind);

  OptimizerStep step;
  TrainState state;
  MetricsFile metrics;
  ProgressPrinter progress;
  double seconds = 0;      // spent in steps since run() began
  int64_t run_start = 0;   // state.step when run() began

  // Loads checkpoint_dir's latest training state when there is one and returns true. It must
  // have been written by a loop of this kind and, when `reference` is not empty, against
  // this reference: otherwise an error naming both, before anything is loaded.
  bool resume(const std::string& reference = "");
  void save();  // a training state now (needs checkpoint_dir)
  // step_and_report() does one step, logs it and returns whether a callback asked to stop.
  // Runs until options.steps are done or it stops, saving every checkpoint_every steps and
  // at the end; returns the steps this call ran.
  int64_t run(const std::function<bool()>& step_and_report);
  double seconds_per_step() const;  // over this run() so far
  int rank() const { return rank_of(o_.collective); }
  int world_size() const { return world_size_of(o_.collective); }

 private:
  Model& model_;
  Optimizer& opt_;
  const LoopOptions o_;  // a copy: the trainer that owns this loop may be moved
  std::string who_, kind_;
};

}  // namespace xla::train::detail
