// grpo_trainer.cpp — GRPO in the shared loop: rounds of samples drawn through the serving
// engine (or sessions), scored by the reward functions; micro-batches of whole groups →
// per-token log-probs of the completions → grpo_loss → backward inside the shared optimizer
// step; TRL-named metrics; the round kept in checkpoints so that a resume mid-round goes on
// with the same samples. The loss is grpo_loss.cpp's, the data prompt_data.cpp's.
#include "xla/grpo_trainer.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "fingerprint.hpp"
#include "training_loop.hpp"
#include "xla/autograd.hpp"
#include "xla/loss.hpp"

namespace xla::train {
namespace {

using detail::now_s;
constexpr int32_t kIgnore = -100;

[[noreturn]] void bad(const std::string& m) { fail(Status::InvalidArg, "grpo: " + m); }

// The sampler seed of completion `row` of round `round`: a resumed run draws the same.
uint64_t completion_seed(uint64_t seed, int64_t round, size_t row) {
  detail::Hasher h;
  h.word(seed);
  h.word(uint64_t(round));
  h.word(uint64_t(row));
  return h.h;
}

GrpoTrainerOptions checked(GrpoTrainerOptions o, const Model& policy, const PromptDataset& prompts,
                           const TextCodec& codec) {
  static_cast<LoopOptions&>(o) = detail::checked_loop_options(o, "grpo");
  if (detail::world_size_of(o.collective) > 1)
    bad("data-parallel training is not supported for GRPO (the collective has " +
        std::to_string(o.collective->world_size()) + " ranks): run it in one process");
  validate(o.grpo);
  const int64_t G = o.grpo.group_size;
  if (o.batch_size % G != 0)
    bad("batch_size " + std::to_string(o.batch_size) + " is not a multiple of group_size " + std::to_string(G) +
        ": a micro-batch holds whole groups of completions");
  if (o.num_iterations < 1) bad("num_iterations must be >= 1, got " + std::to_string(o.num_iterations));
  if (o.max_completion_length < 1)
    bad("max_completion_length must be >= 1, got " + std::to_string(o.max_completion_length));
  if (o.grpo.max_completion_length == 0) o.grpo.max_completion_length = o.max_completion_length;
  else if (o.grpo.max_completion_length < o.max_completion_length)
    bad("grpo.max_completion_length " + std::to_string(o.grpo.max_completion_length) +
        " is shorter than the completions sampled (max_completion_length " + std::to_string(o.max_completion_length) + ")");
  validate(o.sampling);
  if (!(o.sampling.temperature > 0))
    bad("sampling.temperature must be > 0: GRPO learns from samples, greedy decoding gives a group one answer");
  const int64_t per_batch = o.batch_size / G;
  if (int64_t(prompts.size()) < per_batch)
    bad("the prompt set has " + std::to_string(prompts.size()) + " prompts, fewer than a micro-batch of " +
        std::to_string(per_batch) + " (batch_size / group_size)");
  const int64_t vocab = policy.vocab_size();
  if (!codec.tokenizer && vocab > TextCodec::kByteVocab)
    bad("the rewards see decoded text, and without a tokenizer only byte ids decode: the policy's vocabulary of " +
        std::to_string(vocab) + " is larger than the " + std::to_string(TextCodec::kByteVocab) + " byte ids (pass the tokenizer)");
  if (o.stop_ids.empty()) o.stop_ids = {policy.special_tokens().eos};
  for (int32_t id : o.stop_ids)
    if (id < 0 || id >= vocab) bad("stop id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab));
  const int64_t context = policy.context_length();
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto& ids = prompts[i].ids;
    for (int32_t id : ids)
      if (id >= vocab)
        bad("prompt " + std::to_string(i) + " has token id " + std::to_string(id) + ", outside the policy's vocabulary of " +
            std::to_string(vocab));
    if (int64_t(ids.size()) + o.max_completion_length > context)
      bad("prompt " + std::to_string(i) + " has " + std::to_string(ids.size()) + " tokens: with max_completion_length " +
          std::to_string(o.max_completion_length) + " it exceeds the model's context of " + std::to_string(context));
  }
  if (o.sampler != GrpoSampler::Engine && o.sampler != GrpoSampler::Sessions)
    bad("unknown sampler " + std::to_string(int32_t(o.sampler)));
  if (o.grpo.beta != 0) {
    switch (o.reference) {
      case ReferenceKind::FrozenCopy: break;
      case ReferenceKind::Model:
        if (!o.reference_model) bad("the Model reference needs reference_model");
        if (o.reference_model == &policy) bad("the reference model is the policy itself (use FrozenCopy or LoraDisabled)");
        if (o.reference_model->vocab_size() != vocab)
          bad("the reference's vocabulary (" + std::to_string(o.reference_model->vocab_size()) +
              ") differs from the policy's (" + std::to_string(vocab) + ")");
        break;
      case ReferenceKind::LoraDisabled:
        if (!policy.has_lora())
          bad("the LoraDisabled reference needs a policy with LoRA adapters (Model::add_lora); this one has none");
        break;
      case ReferenceKind::Precomputed:
        bad("a Precomputed reference cannot be: the completions are new every round");
      default: bad("unknown reference kind " + std::to_string(int32_t(o.reference)));
    }
  }
  std::unordered_set<std::string> names;
  for (const Reward& r : o.rewards) {
    if (!r.fn) bad("reward '" + r.name + "' has no function");
    if (r.name.empty()) bad("a reward function needs a name");
    if (!std::isfinite(r.weight)) bad("reward '" + r.name + "' has a weight that is not finite");
    if (!names.insert(r.name).second) bad("two reward functions are named '" + r.name + "'");
  }
  return o;
}

double mean(std::span<const double> v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / double(v.size());
}

double std_unbiased(std::span<const double> v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / double(v.size() - 1));
}

nlohmann::json floats_of(const Tensor& t) { return t.defined() ? nlohmann::json(t.to_vector()) : nlohmann::json(); }

}  // namespace

// One micro-batch of a round: rows of prompt + completion, and where each completion token's
// log-prob sits in the [B, L] result.
struct GrpoTrainer::MicroBatch {
  Tensor inputs, targets;         // i32 [B, L]: the rows without their last token; the next token on completion positions
  Tensor index;                   // i64 [B, T]: column of row b's completion token t (0 past its length)
  std::vector<int32_t> lengths;   // [B] completion tokens
  std::vector<double> rewards;    // [B]
};

GrpoTrainer::GrpoTrainer(Model& policy, Optimizer& optimizer, const PromptDataset& prompts,
                         const TextCodec& codec, GrpoTrainerOptions options)
    : policy_(policy),
      prompts_(prompts),
      codec_(codec),
      o_(checked(std::move(options), policy, prompts, codec)),
      order_(prompts.size(), o_.batch_size / o_.grpo.group_size, o_.seed) {
  if (o_.grpo.beta != 0) {
    switch (o_.reference) {
      case ReferenceKind::FrozenCopy:
        frozen_ = policy.clone_model();
        ref_model_ = frozen_.get();
        reference_id_ = "frozen-copy:" + detail::model_fingerprint(*frozen_, frozen_->lora_enabled);
        break;
      case ReferenceKind::Model:
        ref_model_ = o_.reference_model;
        reference_id_ = "model:" + detail::model_fingerprint(*ref_model_, ref_model_->lora_enabled);
        break;
      default: reference_id_ = "lora-disabled:" + detail::model_fingerprint(policy, false); break;
    }
  }
  loop_ = std::make_unique<detail::TrainingLoop>(policy, optimizer, o_, "grpo", "grpo");
  loop_->state.data = order_.state();
  loop_->state.reference = reference_id_;
}

GrpoTrainer::~GrpoTrainer() = default;

int64_t GrpoTrainer::current_step() const { return loop_->state.step; }
const TrainState& GrpoTrainer::state() const { return loop_->state; }

const GrpoTrainer::Round& GrpoTrainer::round() const {
  if (!round_) bad("no round has been drawn yet (the first step draws one)");
  return *round_;
}

void GrpoTrainer::add_reward(Reward reward) {
  std::vector<Reward> all = o_.rewards;
  all.push_back(std::move(reward));
  GrpoTrainerOptions o = o_;
  o.rewards = all;
  checked(o, policy_, prompts_, codec_);  // the names and weights
  o_.rewards = std::move(all);
}

GrpoTrainer::Round GrpoTrainer::sample(std::span<const size_t> prompts, int64_t round) {
  const size_t G = size_t(o_.grpo.group_size), R = prompts.size() * G;
  for (size_t p : prompts)
    if (p >= prompts_.size()) bad("prompt index " + std::to_string(p) + " is outside the prompt set");
  Round r;
  r.prompts.assign(prompts.begin(), prompts.end());
  r.completions.resize(R);
  r.truncated.assign(R, 0);
  GenerateOptions gen;
  gen.sampler = o_.sampling;
  gen.max_new_tokens = o_.max_completion_length;
  gen.stop_ids = o_.stop_ids;
  auto prompt_of = [&](size_t row) -> const std::vector<int32_t>& { return prompts_[prompts[row / G]].ids; };
  const double t0 = now_s();
  {
    NoGradGuard no_grad;
    if (o_.sampler == GrpoSampler::Engine) {
      EngineOptions eo = o_.engine;
      int64_t longest = 0;
      for (size_t p : prompts) longest = std::max<int64_t>(longest, int64_t(prompts_[p].ids.size()));
      eo.max_context = longest + o_.max_completion_length;
      eo.kv_tokens = 0;  // enough for max_seqs full contexts
      eo.max_queue = std::max<int32_t>(eo.max_queue, int32_t(R));
      Engine engine(policy_, eo);
      std::unordered_map<uint64_t, size_t> row_of;
      auto submit = [&](size_t i) {
        EngineRequest q;
        q.prompt = prompt_of(i);
        q.generation = gen;
        q.generation.sampler.seed = completion_seed(o_.seed, round, i);
        row_of[engine.submit(q)] = i;
      };
      auto run = [&](const std::function<bool()>& until) {
        while (!engine.idle() && !until())
          for (const EngineEvent& e : engine.step()) {
            const size_t i = row_of.at(e.id);
            if (e.token >= 0) r.completions[i].push_back(e.token);
            if (e.finish == Finish::Length) r.truncated[i] = 1;
          }
      };
      // The first completion of each group goes first: once its prompt is prefilled, the
      // prompt's blocks are in the prefix cache, and the other group_size − 1 requests
      // submitted then reuse them instead of computing the prompt again (requests admitted
      // together cannot share blocks none of them has finished).
      for (size_t i = 0; i < R; i += G) submit(i);
      run([&] {
        for (size_t i = 0; i < R; i += G)
          if (r.completions[i].empty()) return false;
        return true;
      });
      for (size_t i = 0; i < R; ++i)
        if (i % G != 0) submit(i);
      run([] { return false; });
      r.prefix_tokens_reused = engine.stats().prefix_tokens_reused;
    } else {
      for (size_t i = 0; i < R; ++i) {
        GenerateOptions g = gen;
        g.sampler.seed = completion_seed(o_.seed, round, i);
        r.completions[i] = generate(policy_, prompt_of(i), g);
        const auto& c = r.completions[i];
        const bool stopped = !c.empty() && std::find(gen.stop_ids.begin(), gen.stop_ids.end(), c.back()) != gen.stop_ids.end();
        r.truncated[i] = !stopped;
      }
    }
  }
  for (const auto& c : r.completions) r.sampled_tokens += int64_t(c.size());
  // the rewards, each function over every completion
  r.parts.assign(o_.rewards.size(), std::vector<double>(R));
  r.rewards.assign(R, 0.0);
  for (size_t i = 0; i < R; ++i) {
    const std::string text = codec_.decode(r.completions[i]);
    const Completion c{prompts_[prompts[i / G]], r.completions[i], text, r.truncated[i] != 0};
    for (size_t k = 0; k < o_.rewards.size(); ++k) {
      const Reward& fn = o_.rewards[k];
      const double v = fn.fn(c);
      if (!std::isfinite(v))
        bad("reward '" + fn.name + "' gave " + std::to_string(v) + " for completion " + std::to_string(i % G) +
            " of prompt " + std::to_string(prompts[i / G]) + ": rewards must be finite");
      r.parts[k][i] = v;
      r.rewards[i] += fn.weight * v;
    }
  }
  r.sampling_s = now_s() - t0;
  return r;
}

GrpoTrainer::MicroBatch GrpoTrainer::micro_batch(const Round& r, int64_t m) const {
  const size_t G = size_t(o_.grpo.group_size), B = size_t(o_.batch_size), first = size_t(m) * B;
  MicroBatch mb;
  size_t L = 1, T = 1;
  for (size_t b = 0; b < B; ++b) {
    const size_t i = first + b;
    L = std::max(L, prompts_[r.prompts[i / G]].ids.size() + r.completions[i].size() - 1);
    T = std::max(T, r.completions[i].size());
  }
  const int32_t pad = policy_.special_tokens().pad;
  std::vector<int32_t> in(B * L, pad), tg(B * L, kIgnore);
  std::vector<int64_t> index(B * T, 0);
  for (size_t b = 0; b < B; ++b) {
    const size_t i = first + b;
    const std::vector<int32_t>& p = prompts_[r.prompts[i / G]].ids;
    const std::vector<int32_t>& c = r.completions[i];
    std::vector<int32_t> row = p;
    row.insert(row.end(), c.begin(), c.end());
    for (size_t t = 0; t + 1 < row.size(); ++t) in[b * L + t] = row[t];
    // position t reads row[0..t] and predicts row[t + 1]: completion token j sits at p.size() - 1 + j
    for (size_t j = 0; j < c.size(); ++j) {
      tg[b * L + p.size() - 1 + j] = c[j];
      index[b * T + j] = int64_t(p.size() - 1 + j);
    }
    mb.lengths.push_back(int32_t(c.size()));
    mb.rewards.push_back(r.rewards[i]);
  }
  mb.inputs = Tensor::from_data(in.data(), {int64_t(B), int64_t(L)}, DType::I32);
  mb.targets = Tensor::from_data(tg.data(), {int64_t(B), int64_t(L)}, DType::I32);
  mb.index = Tensor::from_data(index.data(), {int64_t(B), int64_t(T)}, DType::I64);
  return mb;
}

Tensor GrpoTrainer::completion_logprobs(const Model& model, const MicroBatch& mb) const {
  const Tensor lp = token_logprobs(model, mb.inputs, mb.targets, kIgnore, o_.sampling.temperature);  // [B, L]
  return ag::gather(lp, 1, mb.index);                                                                 // [B, T]
}

void GrpoTrainer::draw_round() {
  const int64_t M = o_.grad_accum;
  const BatchOrder::State before = order_.state();
  std::vector<size_t> idx;
  for (int64_t m = 0; m < M; ++m) {
    const std::vector<size_t> b = order_.next();
    idx.insert(idx.end(), b.begin(), b.end());
  }
  Round r;
  try {
    r = sample(idx, loop_->state.step / o_.num_iterations);
  } catch (...) {
    order_.set_state(before);  // a failed round (a reward that threw) takes no prompts
    throw;
  }
  NoGradGuard no_grad;
  for (int64_t m = 0; m < M; ++m) {
    const MicroBatch mb = micro_batch(r, m);
    if (o_.num_iterations > 1) r.old_logps.push_back(completion_logprobs(policy_, mb));
    if (o_.grpo.beta != 0) {
      if (o_.reference == ReferenceKind::LoraDisabled) {
        LoraDisabledGuard base_only(policy_);
        r.ref_logps.push_back(completion_logprobs(policy_, mb));
      } else {
        r.ref_logps.push_back(completion_logprobs(*ref_model_, mb));
      }
    }
  }
  round_ = std::move(r);
}

GrpoStepMetrics GrpoTrainer::step() {
  if (o_.rewards.empty()) bad("no reward function: add one (options.rewards or add_reward) before the first step");
  const double t0 = now_s();
  TrainState& state = loop_->state;
  GrpoStepMetrics m;
  if (!round_ || state.step % o_.num_iterations == 0) {
    draw_round();
    m.sampled = true;
    m.sampling_s = round_->sampling_s;
  }
  const Round& r = *round_;
  const int64_t M = o_.grad_accum;
  const Tensor seed = Tensor::scalar(1.f / float(M));
  GrpoMetrics sum;
  const detail::StepOutcome out = loop_->step.run(state.step, M, [&](int64_t a) {
    const MicroBatch mb = micro_batch(r, a);
    const Tensor lp = completion_logprobs(policy_, mb);
    GrpoMetrics gm;
    const Tensor old = o_.num_iterations > 1 ? r.old_logps[size_t(a)] : Tensor();
    const Tensor ref = o_.grpo.beta != 0 ? r.ref_logps[size_t(a)] : Tensor();
    const Tensor l = grpo_loss(o_.grpo, lp, old, ref, mb.lengths, mb.rewards, &gm);
    backward(l, seed);  // the mean over micro-batches without another node
    sum.loss += gm.loss;
    sum.kl += gm.kl;
    sum.clip_ratio_low += gm.clip_ratio_low;
    sum.clip_ratio_high += gm.clip_ratio_high;
    sum.clip_ratio_region += gm.clip_ratio_region;
    return gm.loss;
  });
  const double k = 1.0 / double(M);
  static_cast<GrpoMetrics&>(m) = {sum.loss * k, sum.kl * k, sum.clip_ratio_low * k, sum.clip_ratio_high * k,
                                  sum.clip_ratio_region * k};
  m.grad_norm = out.grad_norm;
  m.skipped = out.skipped;
  m.lr = out.lr;
  // the round's samples
  const size_t G = size_t(o_.grpo.group_size), R = r.rewards.size();
  m.reward = mean(r.rewards);
  int64_t flat = 0;
  double std_sum = 0;
  for (size_t s = 0; s < R; s += G) {
    const double sd = std_unbiased({r.rewards.data() + s, G});
    std_sum += sd;
    flat += sd == 0;
  }
  m.reward_std = std_sum / double(R / G);
  m.frac_reward_zero_std = double(flat) / double(R / G);
  for (const auto& part : r.parts) {
    m.reward_means.push_back(mean(part));
    m.reward_stds.push_back(std_unbiased(part));
  }
  double lmin = 1e300, lmax = 0, lsum = 0, cut = 0;
  for (size_t i = 0; i < R; ++i) {
    const double n = double(r.completions[i].size());
    lmin = std::min(lmin, n);
    lmax = std::max(lmax, n);
    lsum += n;
    cut += r.truncated[i];
  }
  m.completion_mean_length = lsum / double(R);
  m.completion_min_length = lmin;
  m.completion_max_length = lmax;
  m.clipped_ratio = cut / double(R);
  if (r.sampling_s > 0) {
    m.samples_per_s = double(R) / r.sampling_s;
    m.sampled_tokens_per_s = double(r.sampled_tokens) / r.sampling_s;
  }
  ++state.step;
  state.data = order_.state();
  // mid-round, a checkpoint keeps the round: the steps after a resume reuse the same samples
  state.extra = state.step % o_.num_iterations != 0 ? round_json() : "";
  const double dt = now_s() - t0;
  loop_->seconds += dt;
  m.step = state.step;
  m.epoch = double(state.data.epoch) +
            double(state.data.position) / double(order_.batches_per_epoch() * (o_.batch_size / o_.grpo.group_size));
  m.elapsed_s = loop_->seconds;
  m.mem_mb = detail::resident_mb();
  return m;
}

std::string GrpoTrainer::round_json() const {
  const Round& r = *round_;
  nlohmann::json j = {{"prompts", r.prompts},   {"completions", r.completions}, {"truncated", r.truncated},
                      {"rewards", r.rewards},   {"parts", r.parts},             {"sampled_tokens", r.sampled_tokens},
                      {"sampling_s", r.sampling_s}};
  for (const char* key : {"old_logps", "ref_logps"}) {
    nlohmann::json list = nlohmann::json::array();
    for (const Tensor& t : key[0] == 'o' ? r.old_logps : r.ref_logps) list.push_back(floats_of(t));
    j[key] = list;
  }
  return j.dump();
}

void GrpoTrainer::load_round(const std::string& text) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    Round r;
    r.prompts = j.at("prompts").get<std::vector<size_t>>();
    r.completions = j.at("completions").get<std::vector<std::vector<int32_t>>>();
    r.truncated = j.at("truncated").get<std::vector<uint8_t>>();
    r.rewards = j.at("rewards").get<std::vector<double>>();
    r.parts = j.at("parts").get<std::vector<std::vector<double>>>();
    r.sampled_tokens = j.at("sampled_tokens").get<int64_t>();
    r.sampling_s = j.at("sampling_s").get<double>();
    const size_t G = size_t(o_.grpo.group_size), M = size_t(o_.grad_accum);
    if (r.prompts.size() * G != M * size_t(o_.batch_size) || r.completions.size() != r.prompts.size() * G ||
        r.rewards.size() != r.completions.size() || r.parts.size() != o_.rewards.size())
      fail(Status::Format, "grpo: the checkpoint's round does not fit this trainer's batch_size, grad_accum, "
                           "group_size or reward functions");
    for (size_t p : r.prompts)
      if (p >= prompts_.size()) fail(Status::Format, "grpo: the checkpoint's round names a prompt outside the prompt set");
    for (const char* key : {"old_logps", "ref_logps"}) {
      std::vector<Tensor>& dst = key[0] == 'o' ? r.old_logps : r.ref_logps;
      for (size_t m = 0; m < j.at(key).size(); ++m) {
        const std::vector<float> v = j.at(key)[m].get<std::vector<float>>();
        const MicroBatch mb = micro_batch(r, int64_t(m));
        const int64_t B = mb.index.shape()[0], T = mb.index.shape()[1];
        if (int64_t(v.size()) != B * T) fail(Status::Format, std::string("grpo: the checkpoint's ") + key + " has the wrong size");
        dst.push_back(Tensor::from_vector(v, {B, T}));
      }
    }
    round_ = std::move(r);
  } catch (const nlohmann::json::exception& e) {
    fail(Status::Format, std::string("grpo: the checkpoint's round cannot be read: ") + e.what());
  }
}

void GrpoTrainer::log(const GrpoStepMetrics& m) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  if (loop_->metrics.open()) {
    nlohmann::json j = {{"step", m.step}, {"epoch", m.epoch}, {"loss", num(m.loss)}};
    if (o_.grpo.beta != 0) j["kl"] = num(m.kl);
    j["clip_ratio/low_mean"] = m.clip_ratio_low;
    j["clip_ratio/high_mean"] = m.clip_ratio_high;
    j["clip_ratio/region_mean"] = m.clip_ratio_region;
    j["reward"] = m.reward;
    j["reward_std"] = m.reward_std;
    for (size_t k = 0; k < o_.rewards.size(); ++k) {
      j["rewards/" + o_.rewards[k].name + "/mean"] = m.reward_means[k];
      j["rewards/" + o_.rewards[k].name + "/std"] = m.reward_stds[k];
    }
    j["frac_reward_zero_std"] = m.frac_reward_zero_std;
    j["completions/mean_length"] = m.completion_mean_length;
    j["completions/min_length"] = m.completion_min_length;
    j["completions/max_length"] = m.completion_max_length;
    j["completions/clipped_ratio"] = m.clipped_ratio;
    j["grad_norm"] = num(m.grad_norm);
    j["learning_rate"] = m.lr;
    if (m.sampled) {
      j["sampling_s"] = m.sampling_s;
      j["samples_per_s"] = m.samples_per_s;
      j["sampled_tokens_per_s"] = m.sampled_tokens_per_s;
    }
    j["elapsed_s"] = m.elapsed_s;
    j["mem_mb"] = m.mem_mb;
    if (m.skipped) j["skipped"] = true;
    loop_->metrics.write(j.dump());
  }
  char bar[160], line[224];
  std::snprintf(bar, sizeof bar, "loss %+.4f  reward %.3f  len %.1f  lr %.2e", m.loss, m.reward,
                m.completion_mean_length, m.lr);
  std::snprintf(line, sizeof line, "loss %+.4f reward %.3f ± %.3f kl %.4f clip %.3f len %.1f lr %.2e grad_norm %.3f",
                m.loss, m.reward, m.reward_std, m.kl, m.clip_ratio_region, m.completion_mean_length, m.lr, m.grad_norm);
  loop_->progress.print(m.step, o_.steps, loop_->seconds_per_step(), bar, line, "", false);
}

int64_t GrpoTrainer::run(const std::function<bool(const GrpoStepMetrics&)>& also) {
  return loop_->run([&] {
    const GrpoStepMetrics m = step();
    log(m);
    return (o_.on_step && !o_.on_step(m)) || (also && !also(m));
  });
}

void GrpoTrainer::save() { loop_->save(); }

bool GrpoTrainer::resume() {
  if (!loop_->resume(reference_id_)) return false;
  order_.set_state(loop_->state.data);
  round_.reset();
  if (!loop_->state.extra.empty()) load_round(loop_->state.extra);
  return true;
}

}  // namespace xla::train
