// grpo_trainer_api.cpp — C entry points for prompt data and the GRPO trainer
// (xla/grpo_trainer.hpp): the params struct over GrpoTrainerOptions, C reward callbacks as
// train::Reward, and the step metrics. The loop fields are loop_params.hpp's.
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "handles.hpp"
#include "loop_params.hpp"
#include "xla/grpo_trainer.hpp"

using namespace xla;
using namespace xla::capi;

struct xla_prompt_dataset {
  train::PromptDataset d;
};
struct xla_grpo_trainer {
  std::unique_ptr<train::GrpoTrainer> t;
};

static_assert(XLA_GRPO_SAMPLER_ENGINE == int32_t(train::GrpoSampler::Engine) &&
              XLA_GRPO_SAMPLER_SESSIONS == int32_t(train::GrpoSampler::Sessions));

namespace {

const Tokenizer* tokenizer_of(const xla_tokenizer* tok) { return tok ? &tok->t : nullptr; }

train::GrpoTrainer& trainer_of(xla_grpo_trainer* t) {
  require_ptr(t, "t");
  return *t->t;
}

// The fields of *out its struct_size covers; the rest of it is zeroed.
void write_step_metrics(const train::GrpoStepMetrics& m, xla_grpo_step_metrics* out) {
  clear_result(out);
  put(out, &xla_grpo_step_metrics::step, m.step);
  put(out, &xla_grpo_step_metrics::loss, m.loss);
  put(out, &xla_grpo_step_metrics::kl, m.kl);
  put(out, &xla_grpo_step_metrics::clip_ratio_low, m.clip_ratio_low);
  put(out, &xla_grpo_step_metrics::clip_ratio_high, m.clip_ratio_high);
  put(out, &xla_grpo_step_metrics::clip_ratio_region, m.clip_ratio_region);
  put(out, &xla_grpo_step_metrics::reward, m.reward);
  put(out, &xla_grpo_step_metrics::reward_std, m.reward_std);
  put(out, &xla_grpo_step_metrics::frac_reward_zero_std, m.frac_reward_zero_std);
  put(out, &xla_grpo_step_metrics::completion_mean_length, m.completion_mean_length);
  put(out, &xla_grpo_step_metrics::clipped_ratio, m.clipped_ratio);
  put(out, &xla_grpo_step_metrics::grad_norm, m.grad_norm);
  put(out, &xla_grpo_step_metrics::learning_rate, m.lr);
  put(out, &xla_grpo_step_metrics::samples_per_s, m.samples_per_s);
  put(out, &xla_grpo_step_metrics::sampled_tokens_per_s, m.sampled_tokens_per_s);
  put(out, &xla_grpo_step_metrics::sampled, int32_t(m.sampled ? 1 : 0));
}

// xla_grpo_trainer_params (read over the defaults) as GrpoTrainerOptions, every C-only value
// checked here (flags, nested struct sizes, stop ids); the options themselves by the trainer.
train::GrpoTrainerOptions options_of(const xla_grpo_trainer_params* user) {
  const xla_grpo_trainer_params p = read_options(user, xla_grpo_trainer_params_init, "xla_grpo_trainer_params");
  // nested structs cannot be shorter than this header's: the outer layout would differ
  if (p.grpo.struct_size != sizeof(xla_grpo_params))
    invalid("grpo.struct_size is " + std::to_string(p.grpo.struct_size) + "; call xla_grpo_trainer_params_init");
  if (p.sampling.struct_size != sizeof(xla_sampler_params))
    invalid("sampling.struct_size is " + std::to_string(p.sampling.struct_size) +
            "; call xla_grpo_trainer_params_init");
  if (p.sampler != XLA_GRPO_SAMPLER_ENGINE && p.sampler != XLA_GRPO_SAMPLER_SESSIONS)
    invalid("sampler " + std::to_string(p.sampler) + " is not an XLA_GRPO_SAMPLER_* value");
  if (p.reference != XLA_DPO_REF_FROZEN_COPY && p.reference != XLA_DPO_REF_MODEL &&
      p.reference != XLA_DPO_REF_LORA_DISABLED)
    invalid("reference " + std::to_string(p.reference) +
            " is not XLA_DPO_REF_FROZEN_COPY, XLA_DPO_REF_MODEL or XLA_DPO_REF_LORA_DISABLED (completions are new "
            "each round: nothing to precompute)");
  if (p.engine_max_seqs < 1) invalid("engine_max_seqs must be >= 1, got " + std::to_string(p.engine_max_seqs));
  if (p.sampling.n_stop_ids < 0) invalid("sampling.n_stop_ids is negative");
  train::GrpoTrainerOptions o;
  read_loop_params(p, o);
  o.grpo = grpo_options_of(&p.grpo);
  o.num_iterations = p.num_iterations;
  o.max_completion_length = p.max_completion_length;
  o.sampling = sampler_params_of(p.sampling);
  if (p.sampling.n_stop_ids > 0) {
    require_ptr(p.sampling.stop_ids, "sampling.stop_ids");
    o.stop_ids.assign(p.sampling.stop_ids, p.sampling.stop_ids + p.sampling.n_stop_ids);
  }
  o.sampler = train::GrpoSampler(p.sampler);
  o.engine.max_seqs = p.engine_max_seqs;
  o.reference = train::ReferenceKind(p.reference);
  o.reference_model = p.reference_model ? p.reference_model->m.get() : nullptr;
  return o;
}

// A C callback as a reward function. The callback's reward starts as NaN, so one that
// returns 0 without writing it is caught as a non-finite reward.
train::RewardFunction reward_of(const std::string& name, xla_reward_fn fn, void* user_data) {
  return [name, fn, user_data](const train::Completion& c) {
    const std::string text(c.text);  // NUL-terminated for C
    double r = std::numeric_limits<double>::quiet_NaN();
    const int32_t rc = fn(c.prompt.ids.data(), c.prompt.ids.size(), c.ids.data(), c.ids.size(), c.prompt.text.c_str(),
                          text.c_str(), c.prompt.answer.c_str(), &r, user_data);
    if (rc != 0)
      fail(Status::Aborted, "reward \"" + name + "\": the callback returned " + std::to_string(rc) +
                                " (nonzero) for a completion of the prompt \"" + c.prompt.text + "\"");
    return r;
  };
}

}  // namespace

extern "C" {

// ---- prompts ----

xla_status xla_prompt_dataset_from_text(const char* const* prompts, const char* const* answers, size_t n,
                                        const xla_tokenizer* tok, int32_t chat, xla_prompt_dataset** out) {
  return guard("xla_prompt_dataset_from_text", [&] {
    require_ptr(out, "out");
    if (n == 0) invalid("n is 0");
    require_ptr(prompts, "prompts");
    std::vector<std::string> ps(n), as(answers ? n : 0);
    for (size_t i = 0; i < n; ++i) {
      if (!prompts[i]) invalid("prompts[" + std::to_string(i) + "] is NULL");
      ps[i] = prompts[i];
      if (answers && answers[i]) as[i] = answers[i];  // NULL entry = no answer
    }
    auto h = std::make_unique<xla_prompt_dataset>();
    h->d = train::PromptDataset::from_text(ps, as, train::TextCodec{tokenizer_of(tok)}, chat != 0);
    *out = h.release();
  });
}

xla_status xla_prompt_dataset_load_jsonl(const char* path, const xla_tokenizer* tok, int32_t chat,
                                         xla_prompt_dataset** out) {
  return guard("xla_prompt_dataset_load_jsonl", [&] {
    require_ptr(path, "path");
    require_ptr(out, "out");
    auto h = std::make_unique<xla_prompt_dataset>();
    h->d = train::PromptDataset::from_jsonl(path, train::TextCodec{tokenizer_of(tok)}, chat != 0);
    *out = h.release();
  });
}

int64_t xla_prompt_dataset_size(const xla_prompt_dataset* d) { return d ? int64_t(d->d.size()) : -1; }

void xla_prompt_dataset_free(xla_prompt_dataset* d) { delete d; }

// ---- the trainer ----

void xla_grpo_trainer_params_init(xla_grpo_trainer_params* p) {
  if (!p) return;
  clear_struct(p);
  const train::GrpoTrainerOptions d;
  xla_grpo_params_init(&p->grpo);
  p->grpo.group_size = 4;
  p->num_iterations = d.num_iterations;
  p->max_completion_length = d.max_completion_length;
  xla_sampler_params_init(&p->sampling);
  p->sampling.temperature = d.sampling.temperature;
  p->sampler = XLA_GRPO_SAMPLER_ENGINE;
  p->engine_max_seqs = d.engine.max_seqs;
  p->reference = XLA_DPO_REF_FROZEN_COPY;
  init_loop_params(p);
}

xla_status xla_grpo_trainer_create(xla_model* policy, xla_optimizer* o, const xla_prompt_dataset* prompts,
                                   const xla_tokenizer* tok, const xla_grpo_trainer_params* p,
                                   xla_grpo_trainer** out) {
  return guard("xla_grpo_trainer_create", [&] {
    require_ptr(out, "out");
    require_ptr(policy, "policy");
    require_ptr(o, "o");
    require_ptr(prompts, "prompts");
    train::GrpoTrainerOptions opts = options_of(p);
    auto h = std::make_unique<xla_grpo_trainer>();
    h->t = std::make_unique<train::GrpoTrainer>(*policy->m, *o->o, prompts->d, train::TextCodec{tokenizer_of(tok)},
                                                std::move(opts));
    *out = h.release();
  });
}

void xla_grpo_trainer_free(xla_grpo_trainer* t) { delete t; }

xla_status xla_grpo_trainer_add_reward(xla_grpo_trainer* t, const char* name, xla_reward_fn fn, void* user_data,
                                       double weight) {
  return guard("xla_grpo_trainer_add_reward", [&] {
    train::GrpoTrainer& tr = trainer_of(t);
    require_ptr(name, "name");
    if (!fn) invalid("fn is NULL");
    if (!*name) invalid("name is empty");
    tr.add_reward(train::Reward{name, reward_of(name, fn, user_data), weight});
  });
}

xla_status xla_grpo_trainer_add_exact_match_reward(xla_grpo_trainer* t, double weight) {
  return guard("xla_grpo_trainer_add_exact_match_reward",
               [&] { trainer_of(t).add_reward(train::exact_match_reward(weight)); });
}

xla_status xla_grpo_trainer_add_format_reward(xla_grpo_trainer* t, const char* pattern, double weight) {
  return guard("xla_grpo_trainer_add_format_reward", [&] {
    train::GrpoTrainer& tr = trainer_of(t);
    require_ptr(pattern, "pattern");
    tr.add_reward(train::format_reward(pattern, weight));
  });
}

xla_status xla_grpo_trainer_step(xla_grpo_trainer* t, xla_grpo_step_metrics* out) {
  return guard("xla_grpo_trainer_step", [&] {
    train::GrpoTrainer& tr = trainer_of(t);
    if (out) check_result_size(out, &xla_grpo_step_metrics::step, "xla_grpo_step_metrics");
    const train::GrpoStepMetrics m = tr.step();
    if (out) write_step_metrics(m, out);
  });
}

xla_status xla_grpo_trainer_run(xla_grpo_trainer* t, xla_grpo_fn on_step, void* user_data, int64_t* steps_out) {
  return run_loop(
      "xla_grpo_trainer_run", t,
      [&](const train::GrpoStepMetrics& m) {
        if (!on_step) return false;
        xla_grpo_step_metrics cm;
        clear_struct(&cm);
        write_step_metrics(m, &cm);
        return on_step(m.step, &cm, user_data) != 0;
      },
      steps_out);
}

xla_status xla_grpo_trainer_resume(xla_grpo_trainer* t, int32_t* resumed_out) {
  return guard("xla_grpo_trainer_resume", [&] {
    const bool r = trainer_of(t).resume();
    if (resumed_out) *resumed_out = r ? 1 : 0;
  });
}

xla_status xla_grpo_trainer_save(xla_grpo_trainer* t) {
  return guard("xla_grpo_trainer_save", [&] { trainer_of(t).save(); });
}

}  // extern "C"
