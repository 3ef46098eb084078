// grpo_trainer.hpp — Group Relative Policy Optimization as Hugging Face TRL's GRPOTrainer does
// it: for each prompt the policy samples a group of completions, reward functions score
// them, the rewards are normalised within the group into advantages, and grpo.hpp's clipped
// loss takes the steps — no value model; a reference only when beta ≠ 0. Sampling goes
// through the serving engine (one batched run per round) or, for comparison, one Session
// per completion. The loop around it (optimizer, schedule, clipping, accumulation, metrics
// JSONL, progress, checkpoints, exact resume) is the one every trainer here shares.
//
// One round of sampling feeds num_iterations (μ) optimizer steps. A round takes
// grad_accum × (batch_size / group_size) prompts and samples group_size completions of each;
// every step of the round goes over the same grad_accum micro-batches of batch_size
// completions. With μ = 1 the ratio is 1 (on-policy: TRL's detached log-probs); with μ > 1
// the log-probs of the policy that sampled are computed once, when the round is drawn, and
// kept. Log-probs are those of the sampling distribution: logits / temperature, as TRL.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "xla/data.hpp"
#include "xla/dpo_trainer.hpp"
#include "xla/engine.hpp"
#include "xla/grpo.hpp"
#include "xla/optim.hpp"
#include "xla/sampler.hpp"
#include "xla/trainer.hpp"

namespace xla::train {

// ---- prompts ----

struct PromptExample {
  std::vector<int32_t> ids;  // what the model reads: <bos> first (with chat: up to the model's turn opener)
  std::string text;          // the prompt as written ("" when given as ids)
  std::string answer;        // what exact_match_reward compares with ("" = none)
};

// Prompts to sample from. Every prompt needs at least one token.
class PromptDataset {
 public:
  PromptDataset() = default;
  explicit PromptDataset(std::vector<PromptExample> prompts);

  // Texts (and optional answers, the same count or empty): ids = <bos> + codec(prompt), or with
  // chat Gemma's user turn followed by the model's turn opener (add_generation_prompt).
  static PromptDataset from_text(std::span<const std::string> prompts, std::span<const std::string> answers,
                                 const TextCodec& codec, bool chat = false);
  // JSONL, one prompt per line (blank lines skipped):
  //   {"prompt": "...", "answer": "..."}   text, as from_text; "answer" optional (a string or a number)
  //   {"prompt_ids": [...], "answer": "..."}   ids used as given
  // Errors (Status::Format) name the file and line.
  static PromptDataset from_jsonl(const std::string& path, const TextCodec& codec, bool chat = false);

  size_t size() const { return prompts_.size(); }
  const PromptExample& operator[](size_t i) const { return prompts_.at(i); }

 private:
  std::vector<PromptExample> prompts_;
};

// ---- rewards ----

// One sampled completion, as a reward function sees it.
struct Completion {
  const PromptExample& prompt;
  std::span<const int32_t> ids;  // the sampled tokens; the stop token ends them when one was drawn
  std::string_view text;         // ids decoded, special tokens dropped
  bool truncated = false;        // max_completion_length reached before a stop token
};

using RewardFunction = std::function<double(const Completion&)>;

// A reward function with its name (metrics: rewards/<name>/mean and /std) and its weight in
// the total reward Σ weight · reward. A NaN or infinite reward is an error naming the
// function and the prompt, never averaged over.
struct Reward {
  std::string name;
  RewardFunction fn;
  double weight = 1.0;
};

// 1 when the completion's text, whitespace trimmed at both ends, equals the prompt's answer
// (trimmed); 0 otherwise, and 0 for a prompt without an answer.
Reward exact_match_reward(double weight = 1.0, std::string name = "exact_match");
// 1 when the whole completion text matches `pattern` (ECMAScript regex; std::regex_match),
// else 0. A pattern that does not compile is Status::InvalidArg.
Reward format_reward(const std::string& pattern, double weight = 1.0, std::string name = "format");

// ---- the trainer ----

enum class GrpoSampler : int32_t {
  Engine = 0,    // the serving engine: every completion of a round in one batched run
  Sessions = 1,  // one Session per completion, one after another (the baseline)
};

// One optimizer step. The loss and clip ratios are means over the step's micro-batches (kl
// likewise, when beta ≠ 0); the reward and completion figures describe the round's samples
// (the same for the μ steps that reuse them). JSONL names, TRL's: "loss", "kl" (beta ≠ 0),
// "clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean", "reward",
// "reward_std", "rewards/<name>/mean", "rewards/<name>/std", "frac_reward_zero_std",
// "completions/mean_length", "completions/min_length", "completions/max_length",
// "completions/clipped_ratio", "grad_norm", "learning_rate", "step", "epoch"; and libxla's
// "samples_per_s", "sampled_tokens_per_s", "sampling_s", "elapsed_s", "mem_mb".
struct GrpoStepMetrics : GrpoMetrics {
  int64_t step = 0;                   // 1-based index of the optimizer step just done
  double epoch = 0;                   // prompts consumed / prompts in the set
  double lr = 0, grad_norm = 0;       // the learning rate used; the norm before clipping
  double reward = 0, reward_std = 0;  // mean total reward; mean over groups of the group's std
  std::vector<double> reward_means, reward_stds;  // per reward function, in options.rewards order
  double frac_reward_zero_std = 0;    // groups whose rewards are all equal (no signal)
  double completion_mean_length = 0, completion_min_length = 0, completion_max_length = 0;
  double clipped_ratio = 0;           // completions cut at max_completion_length
  bool sampled = false;               // this step drew the round (the first of its μ steps)
  double sampling_s = 0;              // seconds spent sampling and scoring (0 when reused)
  double samples_per_s = 0, sampled_tokens_per_s = 0;  // of the round's sampling
  double elapsed_s = 0, mem_mb = 0;
  bool skipped = false;               // non-finite loss or gradient: no update was applied
};

// LoopOptions' batch_size counts completions per micro-batch: a multiple of grpo.group_size
// (TRL's per-device batch). seed orders the prompts and seeds every completion's sampler.
struct GrpoTrainerOptions : LoopOptions {
  GrpoOptions grpo;                    // group_size (= TRL's num_generations; required), beta, clip, loss type
  int32_t num_iterations = 1;          // μ: optimizer steps per round of samples
  int32_t max_completion_length = 64;  // tokens sampled at most; also dr_grpo's divisor unless
                                       // grpo.max_completion_length is set
  SamplerParams sampling = {0, 1.f};   // temperature (> 0), top_k, top_p, min_p, repetition
                                       // penalty; its seed is not used (see seed)
  std::vector<int32_t> stop_ids;       // end a completion (kept in it); empty = the model's <eos>
  GrpoSampler sampler = GrpoSampler::Engine;
  EngineOptions engine;                // max_seqs and max_batch_tokens are used; the KV
                                       // capacity and context are sized to the round
  ReferenceKind reference = ReferenceKind::FrozenCopy;  // when beta ≠ 0: FrozenCopy, Model or
  const Model* reference_model = nullptr;          // LoraDisabled (Precomputed cannot be:
                                                         // the completions are new each round)
  std::vector<Reward> rewards;         // at least one by the first step (or add_reward)
  std::function<bool(const GrpoStepMetrics&)> on_step;  // return false to stop after this step
};

class GrpoTrainer {
 public:
  // policy, optimizer, the prompts, codec's tokenizer and a Model reference must outlive the
  // trainer. The optimizer must hold the policy's trainable tensors. Throws
  // Status::InvalidArg for bad options (naming them): a group_size that does not divide
  // batch_size, fewer prompts than a micro-batch needs (a round may run into the next epoch),
  // temperature 0, num_iterations < 1, a
  // prompt whose tokens leave no room for max_completion_length in the model's context, an
  // id outside the vocabulary. To resume, construct from the same starting policy and
  // reference, then resume().
  GrpoTrainer(Model& policy, Optimizer& optimizer, const PromptDataset& prompts, const TextCodec& codec,
              GrpoTrainerOptions options);
  ~GrpoTrainer();

  // Continues from options.checkpoint_dir's latest training state when there is one and
  // returns whether it did: weights, optimizer, prompt order, the round number (every
  // completion's sampler seed derives from it) and, mid-round, the round's samples — the
  // run goes on as if never stopped.
  bool resume();
  // Adds a reward function (a name not yet used, a finite weight).
  void add_reward(Reward reward);
  // One optimizer step, drawing a round first when one is due. No reward function is an error.
  GrpoStepMetrics step();
  // Steps until options.steps are done or on_step (or `also`) says stop; returns the steps
  // done by this call.
  int64_t run(const std::function<bool(const GrpoStepMetrics&)>& also = nullptr);
  void save();  // a training state now (needs checkpoint_dir)

  int64_t current_step() const;
  const TrainState& state() const;
  const GrpoTrainerOptions& options() const { return o_; }

  // The samples of one round, for inspection and tests.
  struct Round {
    std::vector<size_t> prompts;                 // [P] indices into the prompt set
    std::vector<std::vector<int32_t>> completions;  // [P · group_size], grouped by prompt
    std::vector<uint8_t> truncated;              // [P · group_size]
    std::vector<double> rewards;                 // [P · group_size] the weighted totals
    std::vector<std::vector<double>> parts;      // [rewards][P · group_size] each function's
    std::vector<Tensor> old_logps;               // per micro-batch f32 [B, T] (μ > 1 only)
    std::vector<Tensor> ref_logps;               // per micro-batch f32 [B, T] (beta ≠ 0 only)
    double sampling_s = 0;
    int64_t sampled_tokens = 0;
    int64_t prefix_tokens_reused = 0;            // engine: prompt tokens a group shared from its first
  };
  // Samples `prompts` (group_size completions each) with round number `round`'s seeds and
  // scores them; no old or reference log-probs. Does not move the trainer's state.
  Round sample(std::span<const size_t> prompts, int64_t round);
  // The round the current steps use (after the first step; Status::InvalidArg before).
  const Round& round() const;

 private:
  struct MicroBatch;
  MicroBatch micro_batch(const Round& r, int64_t m) const;
  Tensor completion_logprobs(const Model& model, const MicroBatch& mb) const;
  void draw_round();
  void log(const GrpoStepMetrics& m);
  std::string round_json() const;
  void load_round(const std::string& json);

  Model& policy_;
  const PromptDataset& prompts_;
  TextCodec codec_;
  GrpoTrainerOptions o_;
  BatchOrder order_;
  std::unique_ptr<Model> frozen_;     // FrozenCopy
  const Model* ref_model_ = nullptr;  // FrozenCopy, Model
  std::string reference_id_;
  std::optional<Round> round_;             // the samples the current round's steps reuse
  std::unique_ptr<detail::TrainingLoop> loop_;
};

}  // namespace xla::train
