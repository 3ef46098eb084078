// dpo_trainer.hpp — Direct Preference Optimization as Hugging Face TRL 0.x's DPOTrainer does
// it: preference pairs, a policy trained against a reference, TRL's loss and metric names.
// The loss itself is dpo.hpp's; this is the data, the reference, and the loop around it
// (optimizer, schedule, clipping, accumulation, metrics JSONL, progress, checkpoints and
// resume — the same loop as trainer.hpp's Trainer, LoopOptions). See docs/dpo.md, "The trainer".
//
// One pair is a prompt and two completions. Its log-probs are summed over the completion
// tokens only (the prompt and the padding count nowhere); with the ipo loss they are averaged
// per token instead (sum ÷ completion length), as TRL 0.x does, and the rewards and logps
// metrics are then per token too.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "xla/data.hpp"
#include "xla/dpo.hpp"
#include "xla/optim.hpp"
#include "xla/trainer.hpp"

namespace xla::train {

// ---- preference data ----

// Token ids, used as given: the prompt row is scored from its second token on, so it should
// start with <bos>; the completions should end with <eos> when the model is to learn to stop.
struct PreferenceExample {
  std::vector<int32_t> prompt, chosen, rejected;
};

// Preference pairs. Every pair needs a non-empty prompt and two non-empty completions, and
// with max_len > 0 both prompt + chosen and prompt + rejected at most max_len tokens: a longer
// pair is an error naming it (Status::InvalidArg), never silently truncated as TRL does —
// cut the data yourself if you want TRL's truncation.
class PreferenceDataset {
 public:
  PreferenceDataset() = default;
  explicit PreferenceDataset(std::vector<PreferenceExample> pairs, int64_t max_len = 0);

  // JSONL, one pair per line (blank lines skipped), either
  //   text:   {"prompt": "...", "chosen": "...", "rejected": "..."}
  //           → prompt = <bos> + codec(prompt), completions = codec(text) + <eos>; with chat,
  //             the prompt is rendered as a user turn followed by the model's turn opener
  //             (Gemma's chat template, add_generation_prompt) and each completion gets
  //             "<end_of_turn>" before the <eos> — what TRL's maybe_apply_chat_template makes;
  //   or ids: {"prompt_ids": [...], "chosen_ids": [...], "rejected_ids": [...]} used as given.
  // Errors (Status::Format) name the file and line: not JSON, a missing or mistyped key, an
  // empty completion, a pair over max_len.
  static PreferenceDataset from_jsonl(const std::string& path, const TextCodec& codec, int64_t max_len = 0,
                                      bool chat = false);

  size_t size() const { return pairs_.size(); }
  const PreferenceExample& operator[](size_t i) const { return pairs_.at(i); }
  int64_t max_len() const { return max_len_; }
  // A seeded random val_fraction of the pairs (at least one when both sides can have one) in
  // the second dataset, as Dataset::split.
  std::pair<PreferenceDataset, PreferenceDataset> split(double val_fraction, uint64_t seed) const;
  // A hash of every id of every pair (what caches of reference log-probs are keyed by).
  uint64_t fingerprint() const;

 private:
  std::vector<PreferenceExample> pairs_;
  int64_t max_len_ = 0;
};

// B pairs as one batch of 2B rows, chosen rows first then rejected (TRL's concatenated
// forward: one pass of the model for both halves).
struct PreferenceBatch {
  Tensor inputs;   // i32 [2B, L]: prompt + completion without its last token, padded with pad_id
  Tensor targets;  // i32 [2B, L]: the next token on completion positions, -100 on prompt and padding
  std::vector<int32_t> tokens;  // [2B] completion tokens of each row (what ipo averages over)
  std::vector<size_t> index;    // [B] the pairs' indices in their dataset
  int64_t pairs() const { return int64_t(index.size()); }
};
// L is the longest row of these pairs. pad_id only fills; it is never scored.
PreferenceBatch make_preference_batch(const PreferenceDataset& data, std::span<const size_t> indices,
                                      int32_t pad_id = 0);

// The completion log-probs of every row of a batch under `model`: f32 [2B], summed over the
// completion tokens, or averaged per token when `average` (ipo). Differentiable in the model's
// weights when grad mode is on. per_token (optional) receives log p of every target [2B, L]
// (0 on prompt and padding). The per-token values are token_logprobs' (loss.hpp): the one
// path that xla_model_logprob also takes, so scoring a pair by hand gives the trainer's numbers.
Tensor completion_logprobs(const Model& model, const PreferenceBatch& batch, bool average,
                           Tensor* per_token = nullptr);

// ---- the reference ----

enum class ReferenceKind : int32_t {
  FrozenCopy = 0,    // a deep copy of the policy made when the trainer is constructed (TRL's default)
  Model = 1,         // another Model, given by the caller (held by pointer, never changed)
  Precomputed = 2,   // log-probs computed once before training, then no reference model at all
  LoraDisabled = 3,  // the policy itself with its LoRA adapters switched off: no second model
};

struct DpoReference {
  ReferenceKind kind = ReferenceKind::FrozenCopy;
  // Model: the reference (required; must outlive the trainer). Precomputed: the model that
  // scores the data, needed only during construction; null = the policy as it is at
  // construction, with its LoRA adapters switched off if it has any.
  const Model* model = nullptr;
  // Precomputed: a folder for the cache files ("" = compute every time, keep nothing on disk).
  // A file is named by a hash of the data's token ids and of the scoring model's config and
  // weights, so another dataset or model never reuses a stale cache; a file that is there is
  // loaded instead of running the model.
  std::string cache_dir;
};

// ---- the trainer ----

// One optimizer step: the DpoMetrics fields (loss, rewards, accuracy, margin, logps) are
// means over the step's micro-batches. Metrics JSONL names: "loss", "rewards/chosen",
// "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
// "logps/rejected", "grad_norm", "learning_rate", "step", "epoch" (and "eval_" + the first
// seven when the step ran an evaluation).
struct DpoStepMetrics : DpoMetrics {
  int64_t step = 0;              // 1-based index of the optimizer step just done
  double epoch = 0;              // pairs consumed / training pairs (fractional, as TRL logs it)
  double lr = 0, grad_norm = 0;  // the learning rate used; the norm before clipping
  double elapsed_s = 0, pairs_per_s = 0, mem_mb = 0;
  bool skipped = false;          // non-finite loss or gradient: no update was applied
  bool evaluated = false;        // eval holds the eval set's metrics
  DpoMetrics eval;
};

// The loop's options are LoopOptions' (trainer.hpp): batch_size counts pairs (2 × batch_size
// rows through the model), seed orders the pairs, metrics_path gets TRL's names.
struct DpoTrainerOptions : LoopOptions {
  DpoOptions dpo;              // beta, loss type, label_smoothing
  DpoReference reference;
  std::function<bool(const DpoStepMetrics&)> on_step;  // return false to stop after this step
};

class DpoTrainer {
 public:
  // policy, optimizer, the datasets and a Model reference must outlive the trainer; eval may
  // be null. The optimizer must hold the policy's trainable tensors (Optimizer(policy, …):
  // the adapters alone when the policy has LoRA). Construction makes the reference: copies
  // the policy (FrozenCopy), or runs the reference over train and eval (Precomputed, or
  // loads its cache). Throws Status::InvalidArg for bad options, a batch larger than the
  // training set, token ids outside the policy's vocabulary (naming the pair), a Model
  // reference that is missing or of another vocabulary, LoraDisabled with a policy without
  // adapters. To resume, construct from the same starting policy and reference, then
  // resume(): the checkpoint restores the policy, and a reference that differs from the
  // one the run began with is an error.
  DpoTrainer(Model& policy, Optimizer& optimizer, const PreferenceDataset& train,
             const PreferenceDataset* eval, DpoTrainerOptions options);
  // Without data, for loops that bring their own batches (step(batch), loss(batch)): the
  // reference cannot be Precomputed (there is nothing to precompute), and step() and run()
  // are errors. Checkpoints then hold no data position worth resuming.
  DpoTrainer(Model& policy, Optimizer& optimizer, DpoTrainerOptions options);
  ~DpoTrainer();

  // Continues from options.checkpoint_dir's latest training state if there is one; returns
  // whether it did. Metrics lines after the resumed step are dropped from metrics_path. A
  // training state of the language-model Trainer, or of a run against another reference, is
  // an error before anything loads.
  bool resume();
  // One optimizer step (grad_accum micro-batches of the training set), with an evaluation
  // every eval_every steps. Like Trainer::step it neither logs nor saves: run() does both.
  DpoStepMetrics step();
  // One optimizer step on a batch the caller made (make_preference_batch; from the training
  // set when the reference is Precomputed, whose log-probs are looked up by pair index): the
  // batch is the one micro-batch (grad_accum does not apply) and the data position stays.
  DpoStepMetrics step(const PreferenceBatch& batch);
  // Steps until options.steps are done or on_step (or `also`) says stop; returns the steps
  // done by this call.
  int64_t run(const std::function<bool(const DpoStepMetrics&)>& also = nullptr);
  // The loss and metrics over every eval pair (no gradient). Without an eval set (null or
  // empty) an error (Status::InvalidArg), as Trainer::evaluate.
  DpoMetrics evaluate();
  bool has_eval_set() const { return eval_ && eval_->size() > 0; }
  void save();  // a training state now (needs checkpoint_dir)

  // The differentiable loss of one batch of the training set (or, with from_eval, the eval
  // set) — what step() calls backward on: policy log-probs with grad, reference log-probs
  // without. For custom loops and tests.
  Tensor loss(const PreferenceBatch& batch, DpoMetrics* metrics = nullptr, bool from_eval = false);
  // The reference's completion log-probs of a batch, f32 [2B] (averaged for ipo), no history.
  Tensor reference_logprobs(const PreferenceBatch& batch, bool from_eval = false);

  int64_t current_step() const;
  const TrainState& state() const;
  const DpoTrainerOptions& options() const { return o_; }
  // Precomputed: the cache file of the training set ("" without cache_dir), and whether the
  // construction loaded it rather than running the reference model.
  const std::string& reference_cache_path() const { return cache_path_; }
  bool reference_cache_loaded() const { return cache_loaded_; }

 private:
  struct Precomputed {
    std::vector<float> chosen, rejected;  // [N] summed reference log-probs per pair
  };
  DpoTrainer(Model& policy, Optimizer& optimizer, const PreferenceDataset* train, const PreferenceDataset* eval,
             DpoTrainerOptions options, int);
  Precomputed precompute(const Model& ref, bool lora_off, const PreferenceDataset& data, std::string* path,
                         bool* loaded);
  DpoStepMetrics do_step(int64_t micro_batches, const std::function<PreferenceBatch()>& next_batch);
  void log(const DpoStepMetrics& m);

  Model& policy_;
  const PreferenceDataset* train_;  // null: the caller brings the batches
  const PreferenceDataset* eval_;
  DpoTrainerOptions o_;
  std::optional<BatchOrder> order_;  // over train_'s pairs
  std::unique_ptr<Model> frozen_;  // FrozenCopy
  const Model* ref_model_ = nullptr;  // FrozenCopy, Model
  Precomputed ref_train_, ref_eval_;    // Precomputed
  std::string cache_path_;
  bool cache_loaded_ = false;
  std::string reference_id_;            // fingerprint of the reference, kept in checkpoints
  std::unique_ptr<detail::TrainingLoop> loop_;
};

}  // namespace xla::train
